"""Measuring an estimator: ``trials`` independent gradient estimates in one call.

Trials are independent batch elements of the problem's distribution, each with
its own leaf copy of the parameters, so one ``expectation(...)`` call and one
backward pass give ``trials`` independent ``S``-sample estimates: no Python loop
over trials.

How many trials: the relative standard error of a sample variance from ``n``
estimates is ``sqrt((kappa - 1) / n)`` to first order, with ``kappa`` the
estimates' kurtosis (``E[(g - mean)^4] / var^2``; 3 for a normal). A target
relative error ``r`` thus needs ``n = (kappa - 1) / r^2`` trials: 800 for normal
estimates at 5%, more for heavy tails. With ``trials=None`` the lab runs a pilot
of 800, estimates ``kappa`` from it and tops the trials up (at most
:data:`MAX_TRIALS`).
"""

from __future__ import annotations

import dataclasses
import math
import time

import torch
from torch import Tensor

from reparam.estimators import (
    Estimator,
    EstimatorName,
    UnsupportedDistributionError,
    expectation,
    resolve_estimator,
)
from reparam.lab._problem import Problem
from reparam.lab._threads import one_thread as one_thread

TARGET_RELATIVE_ERROR = 0.05
"""Default target relative standard error of the measured variance."""
PILOT_TRIALS = 800
MAX_TRIALS = 100_000
TOP_UPS = 3
TIMING_BATCH = 1024
TIMING_REPEATS = 3


class NotApplicableError(ValueError):
    """An estimator does not apply to a problem's distribution."""


@dataclasses.dataclass(frozen=True)
class Measurement:
    """One estimator at one sample count: ``estimates [trials, P]`` and the time taken."""

    estimates: Tensor
    seconds: float

    @property
    def trials(self) -> int:
        return self.estimates.shape[0]

    def __add__(self, other: Measurement) -> Measurement:
        return Measurement(
            torch.cat([self.estimates, other.estimates]), self.seconds + other.seconds
        )


def gradient_estimates(
    problem: Problem,
    estimator: EstimatorName | Estimator,
    num_samples: int = 1,
    trials: int = PILOT_TRIALS,
    *,
    calls: int = 1,
) -> Tensor:
    """``trials`` independent ``num_samples``-sample estimates of ``grad E[f]``, ``[trials, P]``.

    The raw estimates behind :func:`compare`, for tests of one's own: row ``i``
    is trial ``i``'s gradient with respect to every scalar parameter, in the
    order of :meth:`Problem.labels` (float64). With ``calls > 1`` the estimator
    runs that many times on the same distribution and the last call's gradient
    is returned, so an estimator with state (a moving-average baseline) is
    measured after it has warmed up. Randomness comes from the global generator:
    seed it for reproducible numbers.

    Raises :class:`NotApplicableError` if the estimator does not support the
    problem's distribution.

    >>> from reparam.lab import get_problem
    >>> _ = torch.manual_seed(0)
    >>> g = gradient_estimates(get_problem("channel"), "pathwise", trials=5000)
    >>> g.shape, abs(g.mean().item() - 2.0) < 5 * g.std().item() / 5000**0.5
    (torch.Size([5000, 1]), True)
    """
    if isinstance(calls, bool) or not isinstance(calls, int) or calls < 1:
        raise ValueError(f"calls must be an integer >= 1, got {calls!r}")
    if isinstance(trials, bool) or not isinstance(trials, int) or trials < 1:
        raise ValueError(f"trials must be an integer >= 1, got {trials!r}")
    resolved = resolve_estimator(estimator)
    label = estimator if isinstance(estimator, str) else resolved.name
    return _run(problem, resolved, label, num_samples, trials, calls).estimates


def estimate(
    problem: Problem, estimator: Estimator, label: str, num_samples: int, trials: int
) -> Measurement:
    """``trials`` independent ``num_samples``-sample gradient estimates, ``[trials, P]``.

    The time covers sampling, the cost and the backward pass, not building the
    distribution.
    """
    return _run(problem, estimator, label, num_samples, trials, calls=1)


def _run(
    problem: Problem, estimator: Estimator, label: str, num_samples: int, trials: int, calls: int
) -> Measurement:
    """The last of ``calls`` estimates on one distribution; the time is the last call's."""
    leaves = problem.trial_parameters(trials)
    f, dist = problem.build(leaves)
    try:
        estimator.check_supports(dist)
    except UnsupportedDistributionError as error:
        raise NotApplicableError(
            f"estimator {label!r} does not apply to problem {problem.name!r}'s distribution "
            f"({type(dist).__name__}): {error}"
        ) from None
    with torch.enable_grad():
        for _ in range(calls - 1):
            expectation(f, dist, estimator, num_samples)
        start = time.perf_counter()
        total = expectation(f, dist, estimator, num_samples).sum()
        grads = torch.autograd.grad(total, list(leaves.values()), allow_unused=True)
    seconds = time.perf_counter() - start
    flat = [
        (torch.zeros_like(leaf) if grad is None else grad).reshape(trials, -1)
        for leaf, grad in zip(leaves.values(), grads, strict=True)
    ]
    return Measurement(torch.cat(flat, dim=1).detach().to(torch.float64), seconds)


def measure(
    problem: Problem,
    estimator: Estimator,
    label: str,
    num_samples: int,
    trials: int | None,
    relative_error: float = TARGET_RELATIVE_ERROR,
) -> Measurement:
    """Estimates for ``trials`` trials, or enough for ``relative_error`` if ``None``."""
    if trials is not None:
        return estimate(problem, estimator, label, num_samples, trials)
    result = estimate(problem, estimator, label, num_samples, PILOT_TRIALS)
    for _ in range(TOP_UPS):
        needed = trials_needed(result.estimates, relative_error)
        if needed <= result.trials:
            break
        result = result + estimate(problem, estimator, label, num_samples, needed - result.trials)
    return result


def time_per_estimate(
    problem: Problem, estimator: Estimator, label: str, num_samples: int
) -> float:
    """Seconds per estimate in a batch of :data:`TIMING_BATCH` trials, best of a few runs."""
    with one_thread():
        estimate(problem, estimator, label, num_samples, 2)  # warm-up: first calls are slow
        runs = [
            estimate(problem, estimator, label, num_samples, TIMING_BATCH).seconds
            for _ in range(TIMING_REPEATS)
        ]
    return min(runs) / TIMING_BATCH


def trials_needed(estimates: Tensor, relative_error: float) -> int:
    """``(kappa - 1) / r^2`` for the heaviest-tailed column, within ``[2, MAX_TRIALS]``.

    >>> normal = torch.randn(10_000, 1, generator=torch.Generator().manual_seed(0))
    >>> 700 < trials_needed(normal, 0.05) < 900  # kurtosis 3: (3 - 1) / 0.05^2 = 800
    True
    """
    kappa = float(kurtosis(estimates).nan_to_num(3.0).max())
    return max(2, min(MAX_TRIALS, math.ceil((kappa - 1) / relative_error**2)))


def kurtosis(estimates: Tensor) -> Tensor:
    """``m4 / m2^2`` per column (nan for a constant column)."""
    centred = estimates - estimates.mean(0)
    m2 = centred.square().mean(0)
    return centred.pow(4).mean(0) / m2.square()
