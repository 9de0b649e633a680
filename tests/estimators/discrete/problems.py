"""Exactly enumerable discrete problems, as the lab's problems, in float64.

Each :class:`Enumerable` holds a :class:`reparam.lab.Problem` with one parameter
(the logits), so its trials are batched by the lab's harness
(:func:`reparam.lab.gradient_estimates`), and every point of the support, so
``E[f]`` and ``grad E[f]`` follow by enumeration. The cost ``f`` is written for
continuous inputs too, so relaxed estimators can evaluate it. The Bernoulli toy
is the lab's own (``reparam lab --problem bernoulli-toy``), several values of
``theta`` side by side.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import torch
from torch import Tensor
from torch.distributions import Bernoulli, Distribution, Independent, OneHotCategorical

from reparam.estimators import Estimator
from reparam.lab import PROBLEMS, Problem, gradient_estimates

DTYPE = torch.float64
TRIALS = 40_000
"""Independent estimates per check on these problems."""


@dataclass(frozen=True)
class Enumerable:
    """``grad_logits E_{z ~ make(logits)}[f(z)]`` over a finite support ``states``."""

    name: str
    problem: Problem
    states: Tensor  # every point of the support, [M, *logits.shape]
    categorical: bool = False

    @property
    def parameter(self) -> str:
        (name,) = self.problem.values
        return name

    @property
    def logits(self) -> Tensor:
        """The parameters of one trial."""
        return self.problem.values[self.parameter]

    def make(self, logits: Tensor) -> Distribution:
        return self.problem.build({self.parameter: logits})[1]

    def f(self, z: Tensor) -> Tensor:
        return self.problem.build(self.problem.values)[0](z)

    def trials(self, count: int) -> tuple[Tensor, Distribution]:
        """A leaf ``[count, *logits.shape]`` and the distribution of ``count`` trials."""
        leaves = self.problem.trial_parameters(count)
        return leaves[self.parameter], self.problem.build(leaves)[1]

    def probabilities(self, logits: Tensor) -> Tensor:
        """``q(state)`` for every state, ``[M, *batch]``, differentiable in ``logits``."""
        return self.make(logits.unsqueeze(0)).log_prob(self.states.unsqueeze(1)).exp().squeeze(1)

    def exact_value(self) -> Tensor:
        """``E_q[f]`` by enumeration, per trial: shape ``logits.shape[:-1]`` (toy: ``[3]``)."""
        costs = self.f(self.states.unsqueeze(1)).squeeze(1)
        return (self.probabilities(self.logits) * costs).sum(0)

    def exact_gradient(self) -> Tensor:
        """``grad E[f]`` by enumeration, shape ``logits.shape``."""
        logits = self.logits.clone().requires_grad_()
        (grad,) = torch.autograd.grad(enumerated_mean(self, logits), logits)
        return grad

    def estimates(self, estimator: str | Estimator, num_samples: int = 2, seed: int = 0) -> Tensor:
        """:data:`TRIALS` independent gradient estimates, ``[TRIALS, *logits.shape]``."""
        torch.manual_seed(seed)
        grads = gradient_estimates(self.problem, estimator, num_samples, TRIALS)
        return grads.reshape(TRIALS, *self.logits.shape)


def enumerated_mean(problem: Enumerable, logits: Tensor) -> Tensor:
    """``sum_z q(z) f(z)`` summed over the batch, differentiable in ``logits``."""
    costs = problem.f(problem.states.unsqueeze(1)).squeeze(1)
    return (problem.probabilities(logits) * costs).sum()


def bernoulli_toy(t: float, theta: tuple[float, ...] = (-1.0, 0.3, 2.0)) -> Enumerable:
    """The lab's ``z ~ Bernoulli(sigmoid(theta))``, ``f(z) = (z - t)^2`` (the ARM paper's toy).

    Several values of ``theta`` side by side (independent batch elements);
    the lab's exact gradient is the closed form ``sigmoid'(theta) (1 - 2 t)``.
    """
    return Enumerable(
        name=f"bernoulli-toy-t{t}",
        problem=PROBLEMS["bernoulli-toy"](t=t, theta=theta),
        states=torch.tensor([[0.0] * len(theta), [1.0] * len(theta)], dtype=DTYPE),
    )


def _enumerable(
    name: str,
    logits: list[float] | list[list[float]],
    make: Callable[[Tensor], Distribution],
    f: Callable[[Tensor], Tensor],
    states: Tensor,
    categorical: bool = False,
) -> Enumerable:
    """A lab problem whose exact gradient is the enumerated one."""
    values = {"logits": torch.tensor(logits, dtype=DTYPE)}

    def build(params: Mapping[str, Tensor]) -> tuple[Callable[[Tensor], Tensor], Distribution]:
        return f, make(params["logits"])

    unfinished = Enumerable(name, Problem(name, name, values, build), states, categorical)
    problem = Problem(name, name, values, build, {"logits": unfinished.exact_gradient()})
    return Enumerable(name, problem, states, categorical)


_WEIGHTS = torch.tensor([1.0, -2.0, 0.5], dtype=DTYPE)


def _multi_bernoulli_cost(z: Tensor) -> Tensor:
    return (z @ _WEIGHTS - 0.3) ** 2 + z.prod(-1)


def multi_bernoulli() -> Enumerable:
    """Three coupled Bernoulli units, ``Independent(Bernoulli, 1)``.

    ``f(z) = (w . z - 0.3)^2 + z_0 z_1 z_2``: not separable, so every unit's
    gradient depends on the others.
    """
    return _enumerable(
        "multi-bernoulli",
        [0.5, -1.0, 1.5],
        lambda lg: Independent(Bernoulli(logits=lg), 1),
        _multi_bernoulli_cost,
        torch.tensor(list(itertools.product([0.0, 1.0], repeat=3)), dtype=DTYPE),
    )


_VALUES = torch.tensor([[0.0, 1.0, 2.5], [0.0, -1.0, 1.5]], dtype=DTYPE)


def _categorical_pair_cost(z: Tensor) -> Tensor:
    return ((z * _VALUES).sum((-2, -1)) - 1.2) ** 2


def categorical_pair() -> Enumerable:
    """Two categorical variables with three classes, ``Independent(OneHotCategorical, 1)``.

    ``f(z) = (sum_j v_j . z_j - 1.2)^2``, coupling the two variables.
    """
    eye = torch.eye(3, dtype=DTYPE)
    return _enumerable(
        "categorical-pair",
        [[0.2, -0.7, 0.4], [1.0, 0.0, -0.5]],
        lambda lg: Independent(OneHotCategorical(logits=lg), 1),
        _categorical_pair_cost,
        torch.stack([torch.stack([eye[i], eye[j]]) for i in range(3) for j in range(3)]),
        categorical=True,
    )


PROBLEMS_IN_SUITE = (
    bernoulli_toy(0.49),
    bernoulli_toy(0.499),
    bernoulli_toy(0.501),
    multi_bernoulli(),
    categorical_pair(),
)
"""The enumerable problems of the registry's unbiasedness suite."""
