"""The unbiased discrete estimators' check can fail, and RELAX stays unbiased as it learns.

The registry's unbiased estimators meet the enumerable problems in the
registry's suite (``tests/estimators/test_unbiased.py``): ``TRIALS``
independent estimates per check, batched by the lab's harness (float64, fixed
seed), a two-sided z-test at false-failure rate 1e-4 (Bonferroni over the
parameters, ``tests/stats.py``). Here deliberately wrong estimators fail the
same check, and RELAX passes it again after training its control variate.
"""

from __future__ import annotations

import pytest
import torch
from torch import Tensor

import reparam
from reparam.estimators import DisARM, Estimator, ScoreFunction
from tests.estimators.discrete.problems import Enumerable, bernoulli_toy, multi_bernoulli
from tests.estimators.suite import in_float64
from tests.stats import assert_mean, mean_z_scores, z_threshold


class _MeanBaseline:
    """A classic bug: the baseline is the mean of *all* samples, its own included."""

    min_samples = 2

    def __call__(self, costs: Tensor) -> Tensor:
        return costs.mean(0, keepdim=True)


class _DisARMWithoutWeight(DisARM):
    """DisARM with the ``sigmoid(|phi|)`` factor replaced by 1/2: biased."""

    def coefficient(
        self, diff: Tensor, u: Tensor, b: Tensor, b_anti: Tensor, phi: Tensor
    ) -> Tensor:
        return super().coefficient(diff, u, b, b_anti, phi) * 0.5 / torch.sigmoid(phi.abs())


@pytest.mark.parametrize(
    "wrong",
    [ScoreFunction(baseline=_MeanBaseline()), _DisARMWithoutWeight()],
    ids=["score-mean-baseline", "disarm-unweighted"],
)
@pytest.mark.parametrize("problem", [bernoulli_toy(0.49), multi_bernoulli()], ids=lambda p: p.name)
def test_a_wrong_estimator_fails_the_same_check(wrong: Estimator, problem: Enumerable) -> None:
    grads = problem.estimates(wrong)
    z = mean_z_scores(grads, problem.exact_gradient())
    assert bool((z.abs() > z_threshold(count=z.numel())).any())
    with pytest.raises(AssertionError):
        assert_mean(grads, problem.exact_gradient())


def test_relax_stays_unbiased_after_training_its_control_variate() -> None:
    """Unbiased for every ``psi``: train the control variate, then test again."""
    problem = multi_bernoulli()
    estimator = in_float64(reparam.RELAX())
    optimizer = torch.optim.Adam(estimator.control_variate.parameters(), lr=0.05)
    torch.manual_seed(1)
    for _ in range(30):
        leaf, dist = problem.trials(64)
        objective = reparam.expectation(problem.f, dist, estimator, 1).sum()
        _, variance_loss = estimator.gradients(objective, [leaf])
        optimizer.zero_grad()
        variance_loss.backward(inputs=list(estimator.control_variate.parameters()))
        optimizer.step()
    moved = estimator.control_variate.log_temperature.detach().exp().item()
    assert moved != pytest.approx(0.5, abs=1e-6)
    assert_mean(problem.estimates(estimator, seed=2), problem.exact_gradient())
