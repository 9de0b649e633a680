"""What the biased estimators' gradients average to, by enumeration and quadrature.

* Straight-through's mean is ``E_q[J^T grad_z f(z)]`` with ``J`` the Jacobian of
  ``E[z]`` in the logits; by enumeration, for every enumerable problem.
* Gumbel-softmax is the pathwise gradient of the relaxed objective
  ``E_u[f(y(u))]``, and straight-through Gumbel-softmax has mean
  ``E_u[grad f(H(y)) dy/dphi]``; both by the midpoint rule over ``u``, for the
  Bernoulli toy.

:data:`BIAS_THEORY` pairs every biased estimator of the registry with the
problems where its mean is known; the registry test fails for a biased entry
that has none.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor

import reparam
from reparam.estimators import Estimator
from tests.estimators.discrete.problems import (
    DTYPE,
    Enumerable,
    bernoulli_toy,
    categorical_pair,
    multi_bernoulli,
)


def straight_through_mean(problem: Enumerable, tau: float | None = None) -> Tensor:
    """``sum_z q(z) J^T grad f(z)`` by enumeration: the straight-through estimator's mean."""
    logits = problem.logits.clone().requires_grad_()
    probs = problem.probabilities(logits).detach()
    mean = torch.softmax(logits, -1) if problem.categorical else torch.sigmoid(logits)
    values = problem.f(problem.states.unsqueeze(1) + (mean - mean.detach())).squeeze(1)
    (grad,) = torch.autograd.grad((probs * values).sum(), logits)
    return grad


def _uniform_grid(points: int = 400_000) -> Tensor:
    return (torch.arange(points, dtype=DTYPE) + 0.5) / points


def relaxed_objective_gradient(problem: Enumerable, tau: float | None) -> Tensor:
    """``d/dphi E_u[f(sigmoid((phi + logit u) / tau))]`` by the midpoint rule over ``u``."""
    assert tau is not None
    logits = problem.logits.clone().requires_grad_()
    noise = torch.logit(_uniform_grid()).unsqueeze(-1)
    y = torch.sigmoid((logits + noise) / tau)
    (grad,) = torch.autograd.grad(problem.f(y).mean(0).sum(), logits)
    return grad


def straight_through_gumbel_mean(problem: Enumerable, tau: float | None) -> Tensor:
    """``E_u[f'(H) dy/dphi]`` with ``H = 1[phi + logit u > 0]``, by the midpoint rule."""
    assert tau is not None
    logits = problem.logits.clone().requires_grad_()
    perturbed = logits + torch.logit(_uniform_grid()).unsqueeze(-1)
    y = torch.sigmoid(perturbed / tau)
    hard = (perturbed > 0).to(DTYPE) + (y - y.detach())
    (grad,) = torch.autograd.grad(problem.f(hard).mean(0).sum(), logits)
    return grad


@dataclass(frozen=True)
class Theory:
    """A biased estimator, where its mean is known, and the function giving it."""

    estimator: Estimator
    problem: Enumerable
    mean: Callable[[Enumerable, float | None], Tensor]

    @property
    def id(self) -> str:
        tau = self.estimator.temperature
        return f"{self.estimator.name}-{self.problem.name}" + ("" if tau is None else f"-tau{tau}")

    def expected(self) -> Tensor:
        tau = self.estimator.temperature
        assert tau is None or isinstance(tau, float)
        return self.mean(self.problem, tau)


TOY = bernoulli_toy(0.49)
BIAS_THEORY: dict[str, list[Theory]] = {
    "straight-through": [
        Theory(reparam.StraightThrough(), p, straight_through_mean)
        for p in (TOY, multi_bernoulli(), categorical_pair())
    ],
    "gumbel-softmax": [
        Theory(reparam.GumbelSoftmax(tau), TOY, relaxed_objective_gradient) for tau in (1.0, 0.3)
    ],
    "st-gumbel-softmax": [
        Theory(reparam.StraightThroughGumbelSoftmax(tau), TOY, straight_through_gumbel_mean)
        for tau in (1.0, 0.3)
    ],
}
"""Registry name -> the cases where the biased estimator's mean is known."""
