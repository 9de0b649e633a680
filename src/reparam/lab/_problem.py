"""A gradient problem: a distribution over a batch of trials, a cost, exact answers.

A :class:`Problem` holds the parameter values ``theta`` (unbatched, float64) and
a ``build`` function that turns per-trial copies of them, each of shape
``[trials, *theta.shape]``, into a cost ``f`` and a distribution whose batch
starts with the trials. Each trial is then an independent problem, so one
estimator call gives ``trials`` independent gradient estimates of

    grad_theta E_{z ~ q_theta}[f(z)].

Exact answers are optional: the gradient, and per estimator the *per-sample*
variance ``V_1`` of each parameter's gradient term, for estimators whose
``S``-sample estimate averages ``S`` independent terms (variance ``V_1 / S``).
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Callable, Mapping
from types import MappingProxyType

import torch
from torch import Tensor
from torch.distributions import Distribution

from reparam.estimators import Cost

Params = Mapping[str, Tensor]
Build = Callable[[Params], tuple[Cost, Distribution]]
ExactVariance = Callable[[], Params]
"""Computes the exact per-sample variance of each parameter's gradient term."""


@dataclasses.dataclass(frozen=True)
class Problem:
    """A cost and a distribution with known (or unknown) exact answers.

    Attributes:
        name: short name (``reparam lab --problem NAME``).
        summary: one line saying what is sampled and what is paid.
        values: parameter name -> value (unbatched; float64 in the built-in problems,
            the dtype the distribution has in a user's, see ``compare``).
        build: per-trial parameters ``[trials, *shape]`` -> ``(f, dist)``.
        exact_gradient: parameter name -> ``grad E[f]``, or ``None`` if unknown.
        per_sample_variances: estimator short name -> function computing the exact
            per-sample variance of each parameter's gradient term.
    """

    name: str
    summary: str
    values: Params
    build: Build
    exact_gradient: Params | None = None
    per_sample_variances: Mapping[str, ExactVariance] = dataclasses.field(
        default_factory=lambda: MappingProxyType({})
    )

    def labels(self) -> list[str]:
        """One label per scalar parameter: ``mu``, or ``alpha[0]``, ``alpha[1]``, ..."""
        labels: list[str] = []
        for name, value in self.values.items():
            if value.dim() == 0:
                labels.append(name)
            else:
                labels += [f"{name}[{', '.join(map(str, i))}]" for i in _indices(value.shape)]
        return labels

    def flat_gradient(self) -> Tensor | None:
        """The exact gradient flattened like :meth:`labels`, or ``None``."""
        if self.exact_gradient is None:
            return None
        return _flatten(self.exact_gradient, self.values)

    def exact_variance(self, estimator: str, num_samples: int = 1) -> Tensor | None:
        """Exact variance of the ``num_samples``-sample estimate, flattened, or ``None``."""
        compute = self.per_sample_variances.get(estimator)
        if compute is None:
            return None
        return _flatten(compute(), self.values) / num_samples

    def trial_parameters(self, trials: int) -> dict[str, Tensor]:
        """Independent leaf copies of the parameters, ``[trials, *shape]`` each."""
        return {
            name: value.detach().expand(trials, *value.shape).clone().requires_grad_(True)
            for name, value in self.values.items()
        }


def gradient_of(objective: Callable[[Params], Tensor], values: Params) -> dict[str, Tensor]:
    """The gradient of a closed-form objective ``E[f](theta)`` by autograd (float64)."""
    leaves = {n: v.detach().to(torch.float64).requires_grad_(True) for n, v in values.items()}
    with torch.enable_grad():
        grads = torch.autograd.grad(objective(leaves), list(leaves.values()))
    return dict(zip(leaves, grads, strict=True))


def scalars(**values: float) -> dict[str, Tensor]:
    """Parameter values as float64 scalar tensors."""
    return {name: torch.tensor(value, dtype=torch.float64) for name, value in values.items()}


def _flatten(per_param: Params, values: Params) -> Tensor:
    return torch.cat(
        [
            torch.as_tensor(per_param[name], dtype=torch.float64).expand(value.shape).reshape(-1)
            for name, value in values.items()
        ]
    )


def _indices(shape: torch.Size) -> list[tuple[int, ...]]:
    return list(itertools.product(*(range(n) for n in shape)))
