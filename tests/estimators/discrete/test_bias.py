"""The biased estimators have exactly the bias theory says.

The theory (straight-through by enumeration, Gumbel-softmax and its
straight-through variant by quadrature over the noise) is in
:mod:`tests.estimators.discrete.theory`, one list of cases per biased entry of
the registry. Each case is a z-test at false-failure rate 1e-4 that passes
against the theory and *fails* against the exact gradient (the bias is real).
"""

from __future__ import annotations

import pytest
import torch
from torch import Tensor

import reparam
from reparam.estimators import Estimator
from tests.estimators.discrete.problems import Enumerable, categorical_pair, multi_bernoulli
from tests.estimators.discrete.theory import (
    BIAS_THEORY,
    TOY,
    Theory,
    relaxed_objective_gradient,
    straight_through_mean,
)
from tests.stats import assert_mean, mean_z_scores, z_threshold

CASES = [theory for theories in BIAS_THEORY.values() for theory in theories]


def assert_biased(grads: Tensor, exact: Tensor) -> None:
    z = mean_z_scores(grads, exact)
    assert bool((z.abs() > z_threshold(count=z.numel())).any()), "no detectable bias"


@pytest.mark.parametrize("theory", CASES, ids=[theory.id for theory in CASES])
def test_bias_is_the_theoretical_one(theory: Theory) -> None:
    assert not theory.estimator.unbiased
    grads = theory.problem.estimates(theory.estimator)
    assert_mean(grads, theory.expected())
    assert_biased(grads, theory.problem.exact_gradient())


def test_straight_through_toy_closed_form() -> None:
    """For ``f = (z - t)^2``: mean ``2 (p - t) p (1 - p)`` against exact ``(1 - 2t) p (1 - p)``."""
    p = torch.sigmoid(TOY.logits)
    assert torch.allclose(straight_through_mean(TOY), 2 * (p - 0.49) * p * (1 - p))


def test_the_theory_check_tells_temperatures_apart() -> None:
    """The check can fail: Gumbel-softmax at tau = 0.3 does not average to the tau = 1 theory."""
    grads = TOY.estimates(reparam.GumbelSoftmax(0.3))
    with pytest.raises(AssertionError, match="standard errors"):
        assert_mean(grads, relaxed_objective_gradient(TOY, 1.0))


def test_relaxed_gradient_approaches_the_exact_one_as_the_temperature_falls() -> None:
    exact = TOY.exact_gradient()
    gaps = [
        (relaxed_objective_gradient(TOY, tau) - exact).abs().max().item()
        for tau in (1.0, 0.3, 0.1, 0.03)
    ]
    assert gaps == sorted(gaps, reverse=True), gaps
    assert gaps[-1] < 0.1 * gaps[0]


@pytest.mark.parametrize(
    "estimator",
    [reparam.GumbelSoftmax(0.5), reparam.StraightThroughGumbelSoftmax(0.5)],
    ids=["gumbel-softmax", "st-gumbel-softmax"],
)
@pytest.mark.parametrize("problem", [multi_bernoulli(), categorical_pair()], ids=lambda p: p.name)
def test_relaxed_estimators_are_biased_on_every_problem(
    estimator: Estimator, problem: Enumerable
) -> None:
    assert not estimator.unbiased
    assert_biased(problem.estimates(estimator), problem.exact_gradient())
