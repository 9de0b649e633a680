"""Exactly enumerable discrete problems and their gradients, in float64.

Each problem gives a distribution whose batch dimension holds independent
trials (``trials`` copies of the same parameters), the cost ``f`` written for
continuous inputs too (so relaxed estimators can evaluate it), and the exact
``E[f]`` and ``grad E[f]`` by enumerating the support.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor
from torch.distributions import Bernoulli, Distribution, Independent, OneHotCategorical

DTYPE = torch.float64


@dataclass(frozen=True)
class Problem:
    """``grad_logits E_{z ~ make(logits)}[f(z)]``; ``logits`` are the parameters of one trial."""

    name: str
    logits: Tensor
    make: Callable[[Tensor], Distribution]
    f: Callable[[Tensor], Tensor]
    states: Tensor  # every point of the support, [M, *event]
    categorical: bool = False

    def trials(self, count: int) -> tuple[Tensor, Distribution]:
        """A leaf ``[count, *logits.shape]`` and the distribution of ``count`` trials."""
        leaf = self.logits.expand(count, *self.logits.shape).clone().requires_grad_()
        return leaf, self.make(leaf)

    def exact_gradient(self) -> Tensor:
        """``grad E[f]`` by enumeration, shape ``logits.shape``."""
        logits = self.logits.clone().requires_grad_()
        dist = self.make(logits.unsqueeze(0))
        probs = dist.log_prob(self.states.unsqueeze(1)).exp().squeeze(1)
        value = (probs * self.f(self.states.unsqueeze(1)).squeeze(1)).sum()
        (grad,) = torch.autograd.grad(value, logits)
        return grad


def bernoulli_toy(t: float, logits: tuple[float, ...] = (-1.0, 0.3, 2.0)) -> Problem:
    """``z ~ Bernoulli(sigmoid(theta))``, ``f(z) = (z - t)^2`` (the ARM paper's toy).

    Several values of ``theta`` side by side (independent batch elements);
    the exact gradient is ``sigmoid'(theta) (1 - 2 t)``.
    """
    return Problem(
        name=f"bernoulli-toy-t{t}",
        logits=torch.tensor(logits, dtype=DTYPE),
        make=lambda lg: Bernoulli(logits=lg),
        f=lambda z: (z - t) ** 2,
        states=torch.tensor([[0.0] * len(logits), [1.0] * len(logits)], dtype=DTYPE),
    )


_WEIGHTS = torch.tensor([1.0, -2.0, 0.5], dtype=DTYPE)


def multi_bernoulli() -> Problem:
    """Three coupled Bernoulli units, ``Independent(Bernoulli, 1)``.

    ``f(z) = (w . z - 0.3)^2 + z_0 z_1 z_2``: not separable, so every unit's
    gradient depends on the others.
    """

    def f(z: Tensor) -> Tensor:
        return (z @ _WEIGHTS - 0.3) ** 2 + z.prod(-1)

    states = torch.tensor(list(itertools.product([0.0, 1.0], repeat=3)), dtype=DTYPE)
    return Problem(
        name="multi-bernoulli",
        logits=torch.tensor([0.5, -1.0, 1.5], dtype=DTYPE),
        make=lambda lg: Independent(Bernoulli(logits=lg), 1),
        f=f,
        states=states,
    )


_VALUES = torch.tensor([[0.0, 1.0, 2.5], [0.0, -1.0, 1.5]], dtype=DTYPE)


def categorical_pair() -> Problem:
    """Two categorical variables with three classes, ``Independent(OneHotCategorical, 1)``.

    ``f(z) = (sum_j v_j . z_j - 1.2)^2``, coupling the two variables.
    """

    def f(z: Tensor) -> Tensor:
        return ((z * _VALUES).sum((-2, -1)) - 1.2) ** 2

    eye = torch.eye(3, dtype=DTYPE)
    states = torch.stack([torch.stack([eye[i], eye[j]]) for i in range(3) for j in range(3)])
    return Problem(
        name="categorical-pair",
        logits=torch.tensor([[0.2, -0.7, 0.4], [1.0, 0.0, -0.5]], dtype=DTYPE),
        make=lambda lg: Independent(OneHotCategorical(logits=lg), 1),
        f=f,
        states=states,
        categorical=True,
    )
