"""The registry's unbiasedness suite: every registered estimator on every problem it supports.

The problems are the families of :mod:`tests.estimators.cases` with each of
their costs (:data:`FAMILY_TRIALS` trials) and the enumerable discrete problems
of :mod:`tests.estimators.discrete.problems` (their ``TRIALS``), all as the
lab's :class:`~reparam.lab.Problem`. A case pairs an unbiased entry of
``reparam.ESTIMATORS`` with a problem whose distribution it ``supports``; so a
new estimator is tested on every family it claims without anyone listing it,
and one that claims none of them shows up in :func:`uncovered` (the registry
test fails on it). Biased entries have their bias checked against theory in
:mod:`tests.estimators.discrete.theory` instead.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TypeVar

import torch

from reparam.estimators import ESTIMATORS, Estimator
from reparam.lab import Problem
from tests.estimators import cases
from tests.estimators.discrete.problems import PROBLEMS_IN_SUITE
from tests.estimators.discrete.problems import TRIALS as DISCRETE_TRIALS

FAMILY_TRIALS = 4000
NUM_SAMPLES = 2
"""Samples per estimate (antithetic pairs for ARM and DisARM); every entry's ``min_samples``
is at most 2."""

Registry = Mapping[str, Callable[[], Estimator]]
AnEstimator = TypeVar("AnEstimator", bound=Estimator)


@dataclass(frozen=True)
class Entry:
    """A problem of the suite, its test id and how many trials it gets."""

    id: str
    problem: Problem
    trials: int

    def supported_by(self, estimator: Estimator) -> bool:
        _, dist = self.problem.build(self.problem.trial_parameters(1))
        return estimator.supports(dist)


@dataclass(frozen=True)
class Case:
    """One registered estimator on one problem."""

    estimator: str
    entry: Entry

    @property
    def id(self) -> str:
        return f"{self.estimator}-{self.entry.id}"


ENTRIES = (
    *(
        Entry(f"{family.name}-{cost}", family.problem(cost), FAMILY_TRIALS)
        for family in cases.ALL
        for cost in cases.COST_NAMES
    ),
    *(Entry(p.name, p.problem, DISCRETE_TRIALS) for p in PROBLEMS_IN_SUITE),
)


def unbiased_cases(registry: Registry = ESTIMATORS) -> list[Case]:
    """Every unbiased entry of ``registry`` on every problem of the suite it supports."""
    found = []
    for name, factory in registry.items():
        estimator = factory()
        if estimator.unbiased:
            found += [Case(name, e) for e in ENTRIES if e.supported_by(estimator)]
    return found


def uncovered(registry: Registry = ESTIMATORS) -> list[str]:
    """The unbiased entries of ``registry`` that support no problem of the suite."""
    tested = {case.estimator for case in unbiased_cases(registry)}
    return [name for name, factory in registry.items() if factory().unbiased and name not in tested]


def in_float64(estimator: AnEstimator) -> AnEstimator:
    """The estimator with its learned part (RELAX's control variate), if any, in float64."""
    learned = estimator.trainable()
    if learned is not None:
        learned.to(torch.float64)
    return estimator
