"""The unbiased discrete estimators pass z-tests against gradients by enumeration.

Each check draws ``TRIALS`` independent estimates as independent batch elements
(float64, fixed seed) and runs a two-sided z-test at false-failure rate 1e-4
(Bonferroni over the parameters, ``tests/stats.py``). A deliberately wrong
estimator fails the same check.
"""

from __future__ import annotations

import pytest
import torch
from torch import Tensor

import reparam
from reparam.estimators import DisARM, Estimator, ScoreFunction
from tests.estimators_discrete.problems import (
    Problem,
    bernoulli_toy,
    categorical_pair,
    multi_bernoulli,
)
from tests.stats import assert_mean, mean_z_scores, z_threshold

COVERS_ESTIMATORS = ("score-loo", "arm", "disarm", "relax")

TRIALS = 40_000

BERNOULLI_PROBLEMS = [bernoulli_toy(0.49), bernoulli_toy(0.499), bernoulli_toy(0.501)]
BERNOULLI_PROBLEMS.append(multi_bernoulli())
ALL_PROBLEMS = [*BERNOULLI_PROBLEMS, categorical_pair()]


def relax_float64() -> Estimator:
    estimator = reparam.RELAX()
    estimator.control_variate.to(torch.float64)
    return estimator


UNBIASED: dict[str, tuple[type[Estimator] | object, list[Problem]]] = {
    "score-loo": (lambda: ScoreFunction(baseline=reparam.LeaveOneOut()), ALL_PROBLEMS),
    "arm": (reparam.ARM, BERNOULLI_PROBLEMS),
    "disarm": (reparam.DisARM, BERNOULLI_PROBLEMS),
    "relax": (relax_float64, ALL_PROBLEMS),
}
CASES = [
    pytest.param(name, problem, id=f"{name}-{problem.name}")
    for name, (_, problems) in UNBIASED.items()
    for problem in problems
]


def estimates(
    problem: Problem, estimator: Estimator, num_samples: int = 2, seed: int = 0
) -> Tensor:
    """``TRIALS`` independent gradient estimates, ``[TRIALS, *logits.shape]``."""
    torch.manual_seed(seed)
    leaf, dist = problem.trials(TRIALS)
    value = reparam.expectation(problem.f, dist, estimator, num_samples)
    (grad,) = torch.autograd.grad(value.sum(), leaf)
    return grad


@pytest.mark.parametrize(("name", "problem"), CASES)
def test_unbiased_against_enumeration(name: str, problem: Problem) -> None:
    factory = UNBIASED[name][0]
    estimator = factory()  # type: ignore[operator]
    assert estimator.unbiased
    assert_mean(estimates(problem, estimator), problem.exact_gradient())


def test_every_unbiased_discrete_estimator_is_checked() -> None:
    for name in ("score-loo", "arm", "disarm", "relax"):
        assert reparam.ESTIMATORS[name]().unbiased, name
    assert set(UNBIASED) == {"score-loo", "arm", "disarm", "relax"}


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
def test_a_wrong_estimator_fails_the_same_check(wrong: Estimator, problem: Problem) -> None:
    grads = estimates(problem, wrong)
    z = mean_z_scores(grads, problem.exact_gradient())
    assert bool((z.abs() > z_threshold(count=z.numel())).any())
    with pytest.raises(AssertionError):
        assert_mean(grads, problem.exact_gradient())


def test_relax_stays_unbiased_after_training_its_control_variate() -> None:
    """Unbiased for every ``psi``: train the control variate, then test again."""
    problem = multi_bernoulli()
    estimator = relax_float64()
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
    assert_mean(estimates(problem, estimator, seed=2), problem.exact_gradient())
