"""Nested expectations: a cost that calls ``expectation`` on a choice built from its sample.

The model has two random choices and a cost after each,

    z ~ N(mu, sigma),   b | z ~ Bernoulli(sigmoid(a z + c)),
    E = E_z[ h(z) + E_{b|z}[k(z, b)] ],

with ``h(z) = z^2 / 2`` and ``k(z, b) = (b + z - 1/2)^2 + 2 b z``. Summing over
``b`` leaves a smooth integrand in ``z``, so ``E`` and its gradient in
``(mu, sigma, a, c)`` are exact to rounding by Gauss-Hermite quadrature
(``z = mu + sigma x``, 120 nodes; a test shows 80 nodes agree to 1e-12).

Each check draws ``TRIALS`` independent estimates as batch elements (float64,
fixed seed) and runs a two-sided z-test at false-failure rate 1e-4, Bonferroni
over the four parameters (``tests/stats.py``), for the outer estimators
``pathwise`` and ``score-loo`` times the inner ``score-loo`` and ``disarm``.

Wrong nestings. A score term must multiply every cost downstream of its sample:
computing the second choice beside the first, at its samples taken as data (the
inner estimate outside the outer cost), drops the outer score's (or path's) share
of ``k`` and fails the same z-tests. Applying the inner score to the *whole* cost
(``h`` moved inside the inner call) is not a bias: ``E[grad log p(b|z) | z] = 0``,
so the extra term has mean zero. With a leave-one-out baseline or DisARM the
term cancels exactly (same numbers); with the plain score it only adds variance.
Both facts are tested here.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import pytest
import torch
from torch import Tensor
from torch.distributions import Bernoulli, Normal

import reparam
from reparam._numerics import gauss_rule
from reparam.estimators import CostError, magic_box
from tests.stats import mean_z_scores, variance_z_scores, z_threshold

DTYPE = torch.float64
TRIALS = 20_000
PARAMETERS = (0.3, 0.8, 1.2, -0.4)  # mu, sigma, a, c
NAMES = ("mu", "sigma", "a", "c")
OUTER = ("pathwise", "score-loo")
INNER = ("score-loo", "disarm")
COMBINATIONS = [(outer, inner) for outer in OUTER for inner in INNER]


def h(z: Tensor) -> Tensor:
    """The cost upstream of ``b``."""
    return 0.5 * z**2


def k(z: Tensor, b: Tensor) -> Tensor:
    """The cost downstream of ``b`` (and of ``z``)."""
    return (b + z - 0.5) ** 2 + 2.0 * b * z


def exact_gradient(nodes: int = 120) -> Tensor:
    """``grad E`` in ``(mu, sigma, a, c)`` by Gauss-Hermite quadrature over ``z``.

    ``E = int N(x; 0, 1) [h(z) + p(z) k(z, 1) + (1 - p(z)) k(z, 0)] dx`` with
    ``z = mu + sigma x`` and ``p(z) = sigmoid(a z + c)``; the weights do not
    depend on the parameters, so autograd through the sum is exact.
    """
    x, w = gauss_rule("hermite_e", nodes)
    params = [torch.tensor(v, dtype=DTYPE, requires_grad=True) for v in PARAMETERS]
    mu, sigma, a, c = params
    z = mu + sigma * x
    p = torch.sigmoid(a * z + c)
    inner = p * k(z, torch.tensor(1.0, dtype=DTYPE)) + (1 - p) * k(z, torch.tensor(0.0))
    value = (w / math.sqrt(2 * math.pi) * (h(z) + inner)).sum()
    return torch.stack(torch.autograd.grad(value, params))


Model = Callable[[list[Tensor], str, str], Tensor]
"""Builds the objective from the trial parameters, the outer and the inner estimator."""


def nested(params: list[Tensor], outer: str, inner: str) -> Tensor:
    """The right nesting: ``k``'s expectation inside the outer cost, ``h`` outside the inner."""
    mu, sigma, a, c = params

    def cost(z: Tensor) -> Tensor:  # z: [2, TRIALS]; the inner batch is [2, TRIALS]
        choice = Bernoulli(logits=a * z + c)
        return h(z) + reparam.expectation(lambda b: k(z, b), choice, inner, 2)

    return reparam.expectation(cost, Normal(mu, sigma), outer, 2)


def whole_cost(params: list[Tensor], outer: str, inner: str) -> Tensor:
    """The inner score applied to the whole cost: ``h`` moved inside the inner call."""
    mu, sigma, a, c = params

    def cost(z: Tensor) -> Tensor:
        choice = Bernoulli(logits=a * z + c)
        return reparam.expectation(lambda b: h(z) + k(z, b), choice, inner, 2)

    return reparam.expectation(cost, Normal(mu, sigma), outer, 2)


def beside(params: list[Tensor], outer: str, inner: str) -> Tensor:
    """Wrong: the inner estimate beside the outer one, at the outer samples taken as data."""
    mu, sigma, a, c = params
    drawn: list[Tensor] = []

    def cost(z: Tensor) -> Tensor:
        drawn.append(z.detach())
        return h(z)

    first = reparam.expectation(cost, Normal(mu, sigma), outer, 2)
    (z,) = drawn
    choice = Bernoulli(logits=a * z + c)
    return first + reparam.expectation(lambda b: k(z, b), choice, inner, 2).mean(0)


def gradients(model: Model, outer: str, inner: str, seed: int = 0) -> Tensor:
    """``TRIALS`` independent estimates of ``grad E``, ``[TRIALS, 4]``."""
    torch.manual_seed(seed)
    params = [torch.full((TRIALS,), v, dtype=DTYPE, requires_grad=True) for v in PARAMETERS]
    value = model(params, outer, inner)
    assert value.shape == (TRIALS,)
    return torch.stack(torch.autograd.grad(value.sum(), params), -1)


def _named(z: Tensor) -> str:
    return "z-scores " + ", ".join(f"{n}: {v:.2f}" for n, v in zip(NAMES, z.tolist(), strict=True))


def test_quadrature_has_converged() -> None:
    assert torch.allclose(exact_gradient(80), exact_gradient(120), rtol=0.0, atol=1e-12)


@pytest.mark.parametrize(("outer", "inner"), COMBINATIONS)
def test_nested_expectation_is_unbiased(outer: str, inner: str) -> None:
    z = mean_z_scores(gradients(nested, outer, inner), exact_gradient())
    limit = z_threshold(count=len(NAMES))
    assert bool((z.abs() <= limit).all()), _named(z)


@pytest.mark.parametrize(("outer", "inner"), COMBINATIONS)
def test_inner_estimate_beside_the_outer_fails(outer: str, inner: str) -> None:
    """The same z-test rejects it: ``mu`` and ``sigma`` miss ``k``'s dependence on ``z``."""
    z = mean_z_scores(gradients(beside, outer, inner), exact_gradient())
    limit = z_threshold(count=len(NAMES))
    assert bool((z[:2].abs() > limit).all()), _named(z)


@pytest.mark.parametrize(("outer", "inner"), COMBINATIONS)
def test_whole_cost_in_the_inner_call_changes_nothing(outer: str, inner: str) -> None:
    """Leave-one-out and DisARM's pair difference cancel ``h(z)`` exactly (same draws)."""
    right = gradients(nested, outer, inner)
    assert torch.allclose(gradients(whole_cost, outer, inner), right, rtol=1e-9, atol=1e-9)


def test_whole_cost_with_plain_score_adds_variance_not_bias() -> None:
    """With no baseline the inner score multiplies ``h(z)`` too: mean zero, more variance.

    Independent seeds; the variances' difference is z-tested one-sided against
    the asymptotic standard errors of both (``variance_z_scores``).
    """
    right = gradients(nested, "pathwise", "score", seed=1)
    whole = gradients(whole_cost, "pathwise", "score", seed=2)
    exact = exact_gradient()
    limit = z_threshold(count=2 * len(NAMES))
    for grads in (right, whole):
        assert bool((mean_z_scores(grads, exact).abs() <= limit).all())
    var_right, var_whole = right.var(0), whole.var(0)
    se_right = var_right / variance_z_scores(right, 0.0)  # z = var / se against zero
    se_whole = var_whole / variance_z_scores(whole, 0.0)
    z = (var_whole - var_right) / (se_right.square() + se_whole.square()).sqrt()
    assert bool((z[2:] > z_threshold(count=2)).all()), f"z for a, c: {z[2:].tolist()}"


def test_nested_score_is_dice_of_the_joint_to_second_order() -> None:
    """Nested score functions are DiCE on the joint: ``box(log q(z) + log p(b|z)) k``.

    Same draws in the same order, so values, first and second derivatives in
    ``(mu, a)`` agree to rounding; ``h`` gets the outer box only.
    """
    mu = torch.tensor(0.3, dtype=DTYPE, requires_grad=True)
    a = torch.tensor(1.2, dtype=DTYPE, requires_grad=True)

    def cost(z: Tensor) -> Tensor:
        choice = Bernoulli(logits=a * z)
        return h(z) + reparam.expectation(lambda b: k(z, b), choice, "score", 3)

    torch.manual_seed(3)
    value = reparam.expectation(cost, Normal(mu, 0.8), "score", 4)
    torch.manual_seed(3)
    z = Normal(mu, 0.8).sample(torch.Size([4]))
    choice = Bernoulli(logits=a * z)
    b = choice.sample(torch.Size([3]))
    log_q = Normal(mu, 0.8).log_prob(z)
    joint = magic_box(log_q + choice.log_prob(b)) * k(z, b)
    flat = (magic_box(log_q) * h(z) + joint.mean(0)).mean(0)
    for got, want in zip(_derivatives(value, [mu, a]), _derivatives(flat, [mu, a]), strict=True):
        assert torch.allclose(got, want, rtol=1e-12, atol=1e-12)


def _derivatives(value: Tensor, params: list[Tensor]) -> list[Tensor]:
    """The value, the gradient and the Hessian of a scalar in ``params``."""
    grad = torch.stack(torch.autograd.grad(value, params, create_graph=True))
    rows = [torch.stack(torch.autograd.grad(g, params, retain_graph=True)) for g in grad]
    return [value.detach(), grad.detach(), torch.stack(rows)]


def _small(outer: str, inner: str, inner_cost: Callable[[Tensor, Tensor], Tensor]) -> Tensor:
    """A three-element nested objective with the inner cost given."""
    mu = torch.zeros(3, dtype=DTYPE, requires_grad=True)

    def cost(z: Tensor) -> Tensor:
        choice = Bernoulli(logits=1.5 * z + 0.2)
        return reparam.expectation(lambda b: inner_cost(z, b), choice, inner, 2)

    return reparam.expectation(cost, Normal(mu, 1.0), outer, 2)


@pytest.mark.parametrize(("outer", "inner"), COMBINATIONS)
def test_inner_cost_errors_name_the_inner_shapes(outer: str, inner: str) -> None:
    """The inner check sees ``[inner samples, outer samples, *batch]``; nan is caught there."""
    rows = 4 if inner == "disarm" else 2  # DisARM evaluates both halves of each pair at once
    with pytest.raises(CostError, match=rf"\[{rows}, 2, 3\].*got \[2, 3\]"):
        _small(outer, inner, lambda z, b: (b - z).sum(0))
    with pytest.raises(CostError, match="non-finite"):
        _small(outer, inner, lambda z, b: b * z * math.nan)


@pytest.mark.parametrize(("outer", "inner"), COMBINATIONS)
def test_strict_passes_nesting_and_catches_a_detached_inner_choice(outer: str, inner: str) -> None:
    """No false alarm from the inner sampling; a pathwise outer cost cut from ``z`` raises."""
    with reparam.strict():
        _small(outer, inner, k).sum().backward()
    if outer != "pathwise":
        return
    mu = torch.zeros(3, dtype=DTYPE, requires_grad=True)

    def cut(z: Tensor) -> Tensor:
        data = z.detach()
        choice = Bernoulli(logits=1.5 * data)
        return reparam.expectation(lambda b: k(data, b), choice, inner, 2)

    with reparam.strict(), pytest.raises(reparam.GradientCutError):
        reparam.expectation(cut, Normal(mu, 1.0), outer, 2)
