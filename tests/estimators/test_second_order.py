"""Second derivatives of the surrogate against the closed form.

The DiCE "magic box" makes the surrogate's second derivative an unbiased
estimate of ``d^2 E[f]``, with or without a baseline; the pathwise surrogate's
is the derivative of the path. Checked per parameter pair with a z-test at
false-failure rate 1e-4, and shown to reject a score-function surrogate that
is right to first order only.
"""

from __future__ import annotations

import dataclasses

import pytest
import torch
from torch import Tensor
from torch.distributions import Distribution

from reparam import Estimator, expectation
from reparam.estimators import Cost, evaluate_cost, magic_box_times
from reparam.safety import deliberately_cut
from tests.estimators import cases
from tests.stats import assert_unbiased

TRIALS = 4000

CUBIC = dataclasses.replace(
    cases.NORMAL,
    name="Normal, cubic",
    costs={**cases.NORMAL.costs, "cubic": lambda z: z**3},
    means={**cases.NORMAL.means, "cubic": lambda loc, scale: loc**3 + 3 * loc * scale**2},
)


def hessian_trials(
    estimator: str | Estimator, family: cases.Family, cost: str, num_samples: int
) -> Tensor:
    """``[trials, P * P]``: per-trial second derivatives in the (scalar) parameters."""
    leaves, dist = family.trial_distribution(TRIALS)
    params = list(leaves.values())
    estimate = expectation(family.costs[cost], dist, estimator, num_samples).sum()
    grads = torch.autograd.grad(estimate, params, create_graph=True)
    rows = []
    for grad in grads:
        second = torch.autograd.grad(grad.sum(), params, retain_graph=True, allow_unused=True)
        zero = torch.zeros(TRIALS, dtype=cases.DTYPE)
        rows += [zero if s is None else s.detach() for s in second]
    return torch.stack(rows, dim=1)


def exact_hessian(family: cases.Family, cost: str) -> Tensor:
    names = list(family.values)

    def mean(*values: Tensor) -> Tensor:
        return family.exact_mean(cost, dict(zip(names, values, strict=True)))

    hessian = torch.autograd.functional.hessian(mean, tuple(family.params().values()))
    return torch.stack([h for row in hessian for h in row]).reshape(-1)


CASES = [
    pytest.param("pathwise", CUBIC, "cubic", 1, id="pathwise-Normal-cubic"),
    pytest.param("pathwise", cases.NORMAL, "nonpolynomial", 1, id="pathwise-Normal-exp"),
    pytest.param("score", CUBIC, "cubic", 1, id="score-Normal-cubic"),
    pytest.param("score", cases.NORMAL, "nonpolynomial", 1, id="score-Normal-exp"),
    pytest.param("score-loo", CUBIC, "cubic", 4, id="score-loo-Normal-cubic"),
    pytest.param("score", cases.BERNOULLI, "nonpolynomial", 1, id="score-Bernoulli-exp"),
    pytest.param("score-loo", cases.BERNOULLI, "nonpolynomial", 4, id="score-loo-Bernoulli-exp"),
]


@pytest.mark.parametrize(("estimator", "family", "cost", "num_samples"), CASES)
def test_second_derivative_is_unbiased(
    estimator: str, family: cases.Family, cost: str, num_samples: int
) -> None:
    torch.manual_seed(51)
    estimates = hessian_trials(estimator, family, cost, num_samples)
    assert_unbiased(estimates, exact_hessian(family, cost))


class _FirstOrderScore(Estimator):
    """REINFORCE written as ``log q * stop(f) + f``: right gradient, wrong second derivative."""

    name = "first-order-score"
    unbiased = True

    def surrogate(self, f: Cost, dist: Distribution, num_samples: int) -> Tensor:
        with deliberately_cut():
            z = dist.sample(torch.Size([num_samples]))
        costs = evaluate_cost(f, z, dist)
        log_q = dist.log_prob(z)
        return costs + (log_q - log_q.detach()) * costs.detach()


def test_a_first_order_only_surrogate_fails_the_second_derivative_check() -> None:
    torch.manual_seed(51)
    estimates = hessian_trials(_FirstOrderScore(), CUBIC, "cubic", 1)
    with pytest.raises(AssertionError, match="standard errors"):
        assert_unbiased(estimates, exact_hessian(CUBIC, "cubic"))


@pytest.mark.parametrize("size", [10, 5000], ids=["composed", "fused"])
def test_magic_box_times_has_dice_derivatives_in_both_forms(size: int) -> None:
    """``h = box(l) c`` with ``l = a x^2``, ``c = b x``, per element: ``dh/dx = l' c + c'``
    and ``d2h/dx2 = l'^2 c + 2 l' c' + l'' c + c''``, exactly."""
    x = torch.linspace(0.1, 1.0, size, dtype=cases.DTYPE, requires_grad=True)
    a, b = 1.5, -2.0
    h = magic_box_times(a * x**2, b * x)
    torch.testing.assert_close(h, b * x)
    (first,) = torch.autograd.grad(h.sum(), x, create_graph=True)
    (second,) = torch.autograd.grad(first.sum(), x)
    exact_first = 2 * a * x * b * x + b
    exact_second = (2 * a * x) ** 2 * b * x + 2 * (2 * a * x) * b + 2 * a * b * x
    torch.testing.assert_close(first, exact_first)
    torch.testing.assert_close(second, exact_second.detach())
