"""The biased estimators have exactly the bias theory says.

* Straight-through's mean is ``E_q[J^T grad_z f(z)]`` with ``J`` the Jacobian of
  ``E[z]`` in the logits; computed here by enumeration for every problem.
* Gumbel-softmax is the pathwise gradient of the relaxed objective
  ``E_u[f(y(u))]``, and straight-through Gumbel-softmax has mean
  ``E_u[grad f(H(y)) dy/dphi]``; both computed here by quadrature over ``u``
  for the Bernoulli toy.

Each is a z-test at false-failure rate 1e-4 that passes against the theory and
*fails* against the exact gradient (the bias is real).
"""

from __future__ import annotations

import pytest
import torch
from torch import Tensor

import reparam
from reparam.estimators import Estimator
from tests.estimators_discrete.problems import (
    DTYPE,
    Problem,
    bernoulli_toy,
    categorical_pair,
    multi_bernoulli,
)
from tests.estimators_discrete.test_unbiased import estimates
from tests.stats import assert_mean, mean_z_scores, z_threshold

COVERS_ESTIMATORS = ("gumbel-softmax", "st-gumbel-softmax", "straight-through")

PROBLEMS = [bernoulli_toy(0.49), multi_bernoulli(), categorical_pair()]


def assert_biased(grads: Tensor, exact: Tensor) -> None:
    z = mean_z_scores(grads, exact)
    assert bool((z.abs() > z_threshold(count=z.numel())).any()), "no detectable bias"


def straight_through_mean(problem: Problem) -> Tensor:
    """``sum_z q(z) J^T grad f(z)`` by enumeration: the straight-through estimator's mean."""
    logits = problem.logits.clone().requires_grad_()
    dist = problem.make(logits.unsqueeze(0))
    states = problem.states.unsqueeze(1)
    probs = dist.log_prob(states).exp().squeeze(1).detach()
    mean = torch.softmax(logits, -1) if problem.categorical else torch.sigmoid(logits)
    values = problem.f(states + (mean - mean.detach())).squeeze(1)
    (grad,) = torch.autograd.grad((probs * values).sum(), logits)
    return grad


@pytest.mark.parametrize("problem", PROBLEMS, ids=lambda p: p.name)
def test_straight_through_bias_is_the_theoretical_one(problem: Problem) -> None:
    grads = estimates(problem, reparam.StraightThrough())
    assert_mean(grads, straight_through_mean(problem))
    assert_biased(grads, problem.exact_gradient())


def test_straight_through_toy_closed_form() -> None:
    """For ``f = (z - t)^2``: mean ``2 (p - t) p (1 - p)`` against exact ``(1 - 2t) p (1 - p)``."""
    problem = bernoulli_toy(0.49)
    p = torch.sigmoid(problem.logits)
    assert torch.allclose(straight_through_mean(problem), 2 * (p - 0.49) * p * (1 - p))


def _uniform_grid(points: int = 400_000) -> Tensor:
    return (torch.arange(points, dtype=DTYPE) + 0.5) / points


def relaxed_objective_gradient(problem: Problem, tau: float) -> Tensor:
    """``d/dphi E_u[f(sigmoid((phi + logit u) / tau))]`` by the midpoint rule over ``u``."""
    logits = problem.logits.clone().requires_grad_()
    noise = torch.logit(_uniform_grid()).unsqueeze(-1)
    y = torch.sigmoid((logits + noise) / tau)
    (grad,) = torch.autograd.grad(problem.f(y).mean(0).sum(), logits)
    return grad


def straight_through_gumbel_mean(problem: Problem, tau: float) -> Tensor:
    """``E_u[f'(H) dy/dphi]`` with ``H = 1[phi + logit u > 0]``, by the midpoint rule."""
    logits = problem.logits.clone().requires_grad_()
    perturbed = logits + torch.logit(_uniform_grid()).unsqueeze(-1)
    y = torch.sigmoid(perturbed / tau)
    hard = (perturbed > 0).to(DTYPE) + (y - y.detach())
    (grad,) = torch.autograd.grad(problem.f(hard).mean(0).sum(), logits)
    return grad


@pytest.mark.parametrize("tau", [1.0, 0.3])
def test_gumbel_softmax_is_unbiased_for_the_relaxed_objective(tau: float) -> None:
    problem = bernoulli_toy(0.49)
    grads = estimates(problem, reparam.GumbelSoftmax(tau))
    assert_mean(grads, relaxed_objective_gradient(problem, tau))
    assert_biased(grads, problem.exact_gradient())


@pytest.mark.parametrize("tau", [1.0, 0.3])
def test_straight_through_gumbel_bias_is_the_theoretical_one(tau: float) -> None:
    problem = bernoulli_toy(0.49)
    grads = estimates(problem, reparam.StraightThroughGumbelSoftmax(tau))
    assert_mean(grads, straight_through_gumbel_mean(problem, tau))
    assert_biased(grads, problem.exact_gradient())


def test_relaxed_gradient_approaches_the_exact_one_as_the_temperature_falls() -> None:
    problem = bernoulli_toy(0.49)
    exact = problem.exact_gradient()
    gaps = [
        (relaxed_objective_gradient(problem, tau) - exact).abs().max().item()
        for tau in (1.0, 0.3, 0.1, 0.03)
    ]
    assert gaps == sorted(gaps, reverse=True), gaps
    assert gaps[-1] < 0.1 * gaps[0]


@pytest.mark.parametrize(
    "estimator",
    [reparam.GumbelSoftmax(0.5), reparam.StraightThroughGumbelSoftmax(0.5)],
    ids=["gumbel-softmax", "st-gumbel-softmax"],
)
@pytest.mark.parametrize("problem", [multi_bernoulli(), categorical_pair()], ids=lambda p: p.name)
def test_relaxed_estimators_are_biased_on_every_problem(
    estimator: Estimator, problem: Problem
) -> None:
    assert not estimator.unbiased
    assert_biased(estimates(problem, estimator), problem.exact_gradient())
