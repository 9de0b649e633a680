"""Pathwise estimator: unbiased for every reparameterizable family and cost.

Explicit (Normal, MultivariateNormal, Exponential, Laplace) and implicit (Gamma,
Beta, Dirichlet) reparameterization, each with a constant, a linear, a quadratic
and a non-polynomial cost; z-tests at false-failure rate 1e-4 per check.
"""

from __future__ import annotations

import pytest
import torch

from reparam import expectation
from tests.estimators import cases
from tests.estimators.checks import assert_unbiased, batched, exact_gradient, gradient_trials

COVERS_ESTIMATORS = ("pathwise",)

TRIALS = 4000


@pytest.mark.parametrize("cost", cases.COST_NAMES)
@pytest.mark.parametrize("family", cases.CONTINUOUS, ids=lambda f: f.name)
def test_pathwise_is_unbiased(family: cases.Family, cost: str) -> None:
    torch.manual_seed(11)
    estimates = gradient_trials("pathwise", family, cost, TRIALS)
    assert_unbiased(estimates, exact_gradient(family, cost))


@pytest.mark.parametrize("family", cases.CONTINUOUS, ids=lambda f: f.name)
def test_pathwise_gets_the_parameters_of_f(family: cases.Family) -> None:
    """``f``'s own parameters get ``E[grad_phi f]``: ``f = phi * g`` gives ``E[g]`` per trial."""
    torch.manual_seed(12)
    phi = torch.ones(TRIALS, dtype=cases.DTYPE, requires_grad=True)
    dist = family.make(**batched(family, TRIALS))
    g = family.costs["quadratic"]
    expectation(lambda z: phi * g(z), dist, "pathwise").sum().backward()
    assert phi.grad is not None
    exact = family.exact_mean("quadratic", family.params()).detach()
    assert_unbiased(phi.grad.unsqueeze(1), exact.reshape(1))
