"""Score-function estimator: unbiased with a moving-average baseline and with control variates.

Every family it supports (the continuous ones and Bernoulli, Categorical),
constant, linear, quadratic and non-polynomial costs; z-tests at false-failure
rate 1e-4 per check. Without a baseline and with the leave-one-out one (the
registry's ``score`` and ``score-loo``) it is checked by the registry's suite,
``test_unbiased.py``. The score function must never differentiate ``f`` with
respect to the samples, yet give ``f``'s own parameters their gradient.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch
from torch import Tensor
from torch.distributions import Normal

from reparam import (
    ControlVariate,
    Estimator,
    LeaveOneOut,
    MeasureValued,
    MovingAverage,
    ScoreFunction,
    expectation,
)
from reparam.lab import gradient_estimates
from tests.estimators import cases
from tests.stats import assert_unbiased

TRIALS = 4000
FAMILIES = [f for f in cases.ALL if ScoreFunction().supports(f.trial_distribution(1)[1])]


def _moving_average(family: cases.Family) -> ScoreFunction:
    return ScoreFunction(baseline=MovingAverage(decay=0.5))


def _control_variate(family: cases.Family) -> ScoreFunction:
    """A first-moment control variate with a leave-one-out estimated coefficient."""
    return ScoreFunction(control_variates=[ControlVariate(family.cv_fn, family.cv_mean)])


def _control_variate_and_baseline(family: cases.Family) -> ScoreFunction:
    cv = ControlVariate(family.cv_fn, family.cv_mean, coefficient=0.5)
    return ScoreFunction(baseline=LeaveOneOut(), control_variates=[cv])


# (estimator for a family, num_samples, calls): the moving average is tested on
# its second call, when its baseline is the first call's average.
VARIANTS = [
    pytest.param(_moving_average, 2, 2, id="moving-average"),
    pytest.param(_control_variate, 4, 1, id="control-variate"),
    pytest.param(_control_variate_and_baseline, 2, 1, id="control-variate+leave-one-out"),
]


@pytest.mark.parametrize("cost", cases.COST_NAMES)
@pytest.mark.parametrize("family", FAMILIES, ids=lambda f: f.name)
@pytest.mark.parametrize(("make", "num_samples", "calls"), VARIANTS)
def test_score_function_is_unbiased(
    family: cases.Family,
    cost: str,
    make: Callable[[cases.Family], Estimator],
    num_samples: int,
    calls: int,
) -> None:
    torch.manual_seed(21)
    problem = family.problem(cost)
    estimates = gradient_estimates(problem, make(family), num_samples, TRIALS, calls=calls)
    exact = problem.flat_gradient()
    assert exact is not None
    assert_unbiased(estimates, exact)


def test_every_family_with_log_prob_is_a_score_family() -> None:
    """``supports`` finds them all: the continuous ones, Bernoulli and Categorical."""
    assert [f.name for f in FAMILIES] == [f.name for f in cases.ALL]


class _NoInputDerivative(torch.autograd.Function):
    """``x^2``, whose derivative with respect to ``x`` raises if anything asks for it."""

    @staticmethod
    def forward(ctx: torch.autograd.function.FunctionCtx, x: Tensor) -> Tensor:
        return x**2

    @staticmethod
    def backward(ctx: torch.autograd.function.FunctionCtx, grad: Tensor) -> Tensor:
        raise AssertionError("f was differentiated with respect to its input")


@pytest.mark.parametrize("estimator", ["score", "score-loo", MeasureValued()], ids=repr)
def test_f_is_never_differentiated_in_the_samples(estimator: str | Estimator) -> None:
    """Gradients reach the distribution and ``f``'s parameter, not ``f``'s input.

    With ``f = phi * z^2``, ``z ~ N(mu, 1)``: ``d/dmu = 2 phi mu``, ``d/dphi = mu^2 + 1``.
    """
    torch.manual_seed(22)
    mu = torch.full((TRIALS,), 0.8, dtype=cases.DTYPE, requires_grad=True)
    phi = torch.full((TRIALS,), 1.5, dtype=cases.DTYPE, requires_grad=True)
    dist = Normal(mu, torch.ones((), dtype=cases.DTYPE))

    def f(z: Tensor) -> Tensor:
        return phi * _NoInputDerivative.apply(z)

    expectation(f, dist, estimator, num_samples=2).sum().backward()
    assert mu.grad is not None and phi.grad is not None
    estimates = torch.stack([mu.grad, phi.grad], dim=1)
    assert_unbiased(estimates, torch.tensor([2 * 1.5 * 0.8, 0.8**2 + 1], dtype=cases.DTYPE))


def test_the_raising_f_does_raise_when_differentiated() -> None:
    """The check above can fail: the pathwise estimator does differentiate ``f``'s input."""
    mu = torch.zeros(3, dtype=cases.DTYPE, requires_grad=True)
    loss = expectation(_NoInputDerivative.apply, Normal(mu, 1.0), "pathwise").sum()
    with pytest.raises(AssertionError, match="differentiated with respect to its input"):
        loss.backward()


def test_moving_average_state_is_explicit() -> None:
    """The running average is a public attribute: the caller can read and reset it."""
    baseline = MovingAverage(decay=0.5)
    estimator = ScoreFunction(baseline=baseline)
    family = cases.NORMAL
    _, dist = family.trial_distribution(3)
    assert baseline.average is None
    expectation(family.costs["linear"], dist, estimator, num_samples=2)
    assert baseline.average is not None and baseline.average.shape == (3,)
    baseline.reset()
    assert baseline.average is None


@pytest.mark.parametrize(
    "to_cost", [lambda z: z.to(torch.float64), lambda z: z], ids=["f64", "int"]
)
def test_costs_may_have_another_dtype_than_the_log_prob(
    to_cost: Callable[[Tensor], Tensor],
) -> None:
    """float32 logits with float64 or integer costs: the gradient keeps the logits' dtype."""
    logits = torch.zeros(2, 3, requires_grad=True)
    dist = torch.distributions.Categorical(logits=logits)
    expectation(to_cost, dist, "score", 3).sum().backward()
    assert logits.grad is not None and logits.grad.dtype == torch.float32
