"""Pathwise estimator: ``f``'s own parameters get their gradient.

Its unbiasedness on every reparameterizable family (explicit: Normal,
MultivariateNormal, Exponential, Laplace; implicit: Gamma, Beta, Dirichlet) and
cost is checked by the registry's suite, ``test_unbiased.py``; z-tests at
false-failure rate 1e-4 per check.
"""

from __future__ import annotations

import pytest
import torch

from reparam import Pathwise, expectation
from tests.estimators import cases
from tests.stats import assert_unbiased

TRIALS = 4000
FAMILIES = [f for f in cases.ALL if Pathwise().supports(f.trial_distribution(1)[1])]


def test_the_pathwise_families_are_the_continuous_ones() -> None:
    """``supports`` finds every family with ``rsample`` and no other."""
    assert [f.name for f in FAMILIES] == [f.name for f in cases.CONTINUOUS]


@pytest.mark.parametrize("family", FAMILIES, ids=lambda f: f.name)
def test_pathwise_gets_the_parameters_of_f(family: cases.Family) -> None:
    """``f``'s own parameters get ``E[grad_phi f]``: ``f = phi * g`` gives ``E[g]`` per trial."""
    torch.manual_seed(12)
    phi = torch.ones(TRIALS, dtype=cases.DTYPE, requires_grad=True)
    _, dist = family.trial_distribution(TRIALS)
    g = family.costs["quadratic"]
    expectation(lambda z: phi * g(z), dist, "pathwise").sum().backward()
    assert phi.grad is not None
    exact = family.exact_mean("quadratic", family.params()).detach()
    assert_unbiased(phi.grad.unsqueeze(1), exact.reshape(1))
