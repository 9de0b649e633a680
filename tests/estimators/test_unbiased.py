"""Every registered unbiased estimator is unbiased on every family of the suite it supports.

The cases follow from the registry and the estimators' ``supports``
(:mod:`tests.estimators.suite`): continuous families (explicit and implicit
reparameterization), Bernoulli and Categorical with constant, linear, quadratic
and non-polynomial costs, and enumerable discrete problems. Trials are batched
by the lab's harness (:func:`reparam.lab.gradient_estimates`); each check is a
z-test of every parameter's mean gradient at false-failure rate 1e-4
(Bonferroni over the parameters, ``tests/stats.py``), float64, fixed seed.
Deliberately wrong estimators fail the same check in
``test_wrong_estimators.py`` and ``tests/estimators/discrete/test_unbiased.py``.
"""

from __future__ import annotations

import pytest
import torch

from reparam.estimators import resolve_estimator
from reparam.lab import gradient_estimates
from tests.estimators.suite import NUM_SAMPLES, Case, in_float64, unbiased_cases
from tests.stats import assert_unbiased

CASES = unbiased_cases()


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_registered_estimator_is_unbiased(case: Case) -> None:
    torch.manual_seed(11)
    estimator = in_float64(resolve_estimator(case.estimator))
    problem = case.entry.problem
    estimates = gradient_estimates(problem, estimator, NUM_SAMPLES, case.entry.trials)
    exact = problem.flat_gradient()
    assert exact is not None
    assert_unbiased(estimates, exact)
