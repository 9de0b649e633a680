"""``lab.gradient_estimates``: the raw trials behind ``compare``, for the statistical tests.

The same harness serves ``reparam lab`` and the estimator tests: the estimates
a comparison summarises are exactly those ``gradient_estimates`` gives from the
same seed. Several toys side by side (the Bernoulli toy with a vector
``theta``) have the exact answers of the toys one at a time.
"""

from __future__ import annotations

import zlib
from collections.abc import Mapping

import pytest
import torch
from torch import Tensor
from torch.distributions import Distribution, Normal

from reparam.estimators import Cost, MovingAverage, ScoreFunction
from reparam.lab import PROBLEMS, NotApplicableError, Problem, compare_problem, gradient_estimates
from tests.estimators.discrete.problems import bernoulli_toy, enumerated_mean


def test_compare_summarises_exactly_these_estimates() -> None:
    problem = PROBLEMS["quadratic"]()
    result = compare_problem(problem, ["score"], num_samples=2, trials=300, seed=5)
    torch.manual_seed(zlib.crc32(b"5/score/2"))  # the seed compare uses for (score, S = 2)
    raw = gradient_estimates(problem, "score", 2, 300)
    assert raw.shape == (300, 2) and raw.dtype == torch.float64
    assert torch.equal(raw, result.estimates[("score", 2)])


def counting_problem(calls: list[int]) -> Problem:
    """``z ~ N(mu, 1)``, ``f = z^2``; every call of ``f`` is recorded."""
    values = {"mu": torch.tensor(0.5, dtype=torch.float64)}

    def f(z: Tensor) -> Tensor:
        calls.append(z.shape[0])
        return z**2

    def build(p: Mapping[str, Tensor]) -> tuple[Cost, Distribution]:
        return f, Normal(p["mu"], 1.0)

    return Problem("counting", "z ~ N(mu, 1), f = z^2", values, build)


def test_calls_run_the_estimator_again_on_one_distribution() -> None:
    calls: list[int] = []
    baseline = MovingAverage(decay=0.5)
    torch.manual_seed(0)
    gradient_estimates(counting_problem(calls), ScoreFunction(baseline=baseline), 3, 10, calls=4)
    assert calls == [3] * 4
    assert baseline.average is not None and baseline.average.shape == (10,)


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"estimator": "pathwise"}, NotApplicableError, "does not apply to problem"),
        ({"estimator": "score", "calls": 0}, ValueError, "calls must be an integer >= 1"),
        ({"estimator": "score", "trials": 0}, ValueError, "trials must be an integer >= 1"),
    ],
)
def test_bad_arguments(kwargs: dict[str, object], error: type, message: str) -> None:
    with pytest.raises(error, match=message):
        gradient_estimates(PROBLEMS["bernoulli-toy"](), **kwargs)  # type: ignore[arg-type]


def test_toys_side_by_side_have_the_answers_of_the_toys_one_at_a_time() -> None:
    thetas = (-1.0, 0.3, 2.0)
    several = PROBLEMS["bernoulli-toy"](t=0.45, theta=thetas)
    alone = [PROBLEMS["bernoulli-toy"](t=0.45, theta=theta) for theta in thetas]
    assert several.labels() == ["theta[0]", "theta[1]", "theta[2]"]
    gradient = several.flat_gradient()
    assert gradient is not None
    torch.testing.assert_close(gradient, torch.cat([flat(a.flat_gradient()) for a in alone]))
    for name in several.per_sample_variances:
        one_at_a_time = torch.cat([flat(a.exact_variance(name)) for a in alone])
        torch.testing.assert_close(
            flat(several.exact_variance(name)), one_at_a_time, rtol=1e-12, atol=0
        )


def flat(values: Tensor | None) -> Tensor:
    assert values is not None
    return values


def test_the_toys_closed_form_gradient_is_the_enumerated_one() -> None:
    """``sigmoid'(theta) (1 - 2 t)`` (the lab's) against ``sum_z q(z) f(z)`` by enumeration."""
    toy = bernoulli_toy(0.49)
    logits = toy.logits.clone().requires_grad_()
    (enumerated,) = torch.autograd.grad(enumerated_mean(toy, logits), logits)
    closed = toy.problem.flat_gradient()
    assert closed is not None
    torch.testing.assert_close(closed, enumerated, rtol=1e-12, atol=0)
    p = torch.sigmoid(toy.logits)
    torch.testing.assert_close(closed, p * (1 - p) * (1 - 2 * 0.49), rtol=1e-12, atol=0)
