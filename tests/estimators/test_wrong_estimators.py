"""The statistical suite can fail: deliberately wrong estimators are rejected.

Each wrong estimator goes through the same trials and the same z-test (same
number of trials, the lab's harness, false-failure rate 1e-4) as the real ones
in the registry's suite ``test_unbiased.py`` and in ``test_score.py``, and the
test asserts that the check *fails*.
"""

from __future__ import annotations

import math

import pytest
import torch
from torch import Tensor
from torch.distributions import Distribution, Normal

from reparam import Estimator, MeasureValued, ScoreFunction
from reparam.estimators import Cost, evaluate_cost, magic_box
from reparam.lab import gradient_estimates
from reparam.safety import deliberately_cut
from tests.estimators import cases
from tests.estimators.suite import FAMILY_TRIALS as TRIALS
from tests.estimators.suite import NUM_SAMPLES
from tests.stats import assert_unbiased


class DoubledScore(Estimator):
    """Score function with the score counted twice: ``box(2 log q) f``."""

    name = "doubled-score"
    unbiased = False

    def surrogate(self, f: Cost, dist: Distribution, num_samples: int) -> Tensor:
        with deliberately_cut():
            z = dist.sample(torch.Size([num_samples]))
        return magic_box(2.0 * dist.log_prob(z)) * evaluate_cost(f, z, dist)


class SelfBaseline:
    """A baseline that depends on the sample it multiplies: ``b_s = f(z_s) / 2``."""

    min_samples = 1

    def __call__(self, costs: Tensor) -> Tensor:
        return costs / 2


class ScaleCutPathwise(Estimator):
    """Pathwise with the scale's path dropped: ``f(loc + stop(scale) * eps)``."""

    name = "scale-cut-pathwise"
    unbiased = False

    def surrogate(self, f: Cost, dist: Distribution, num_samples: int) -> Tensor:
        assert isinstance(dist, Normal)
        eps = torch.randn((num_samples, *dist.batch_shape), dtype=dist.loc.dtype)
        z = dist.loc + dist.scale.detach() * eps
        return evaluate_cost(f, z, dist)


class MissingFactorMeasureValued(MeasureValued):
    """The measure-valued estimator with the mean's ``1 / sqrt(2 pi)`` dropped."""

    def surrogate(self, f: Cost, dist: Distribution, num_samples: int) -> Tensor:
        assert isinstance(dist, Normal)
        h = super().surrogate(f, dist, num_samples)
        loc = dist.loc
        # h's gradient in loc is c * diff; add (sqrt(2 pi) - 1) times it again.
        grad = torch.autograd.grad(h.sum(), loc, retain_graph=True)[0]
        return h + (math.sqrt(2 * math.pi) - 1) * (loc - loc.detach()) * grad.detach() / num_samples


WRONG = [
    pytest.param(DoubledScore(), cases.NORMAL, id="doubled-score-Normal"),
    pytest.param(DoubledScore(), cases.CATEGORICAL, id="doubled-score-Categorical"),
    pytest.param(ScoreFunction(baseline=SelfBaseline()), cases.GAMMA, id="self-baseline"),
    pytest.param(ScaleCutPathwise(), cases.NORMAL, id="scale-cut-pathwise"),
    pytest.param(MissingFactorMeasureValued(), cases.NORMAL, id="mvd-missing-factor"),
]


@pytest.mark.parametrize(("estimator", "family"), WRONG)
def test_wrong_estimator_fails_the_z_test(estimator: Estimator, family: cases.Family) -> None:
    """The registry suite's check: same trials, samples and rate."""
    torch.manual_seed(61)
    problem = family.problem("quadratic")
    estimates = gradient_estimates(problem, estimator, NUM_SAMPLES, TRIALS)
    exact = problem.flat_gradient()
    assert exact is not None
    with pytest.raises(AssertionError, match=r"standard errors|!= exact"):
        assert_unbiased(estimates, exact)


def test_a_slightly_wrong_exact_value_is_rejected() -> None:
    """Power: a 10% error in the expected gradient fails the pathwise check."""
    torch.manual_seed(61)
    problem = cases.GAMMA.problem("quadratic")
    estimates = gradient_estimates(problem, "pathwise", 1, TRIALS)
    exact = problem.flat_gradient()
    assert exact is not None
    with pytest.raises(AssertionError, match="standard errors"):
        assert_unbiased(estimates, 1.1 * exact)
