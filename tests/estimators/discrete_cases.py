"""Bernoulli and Categorical families: ``E f = sum_k p_k f(k)`` over the finite support."""

from __future__ import annotations

from collections.abc import Callable
from typing import cast

import torch
from torch import Tensor
from torch.distributions import Bernoulli, Categorical

from tests.estimators.family import DTYPE, Family, constant_cost


def _finite_means(
    costs: dict[str, Callable[[Tensor], Tensor]], support: Tensor, probs: Callable[..., Tensor]
) -> dict[str, Callable[..., Tensor]]:
    """``E f = sum_k p_k f(k)`` over a finite ``support`` (costs see it as ``[K, 1]``)."""

    def mean(cost: Callable[[Tensor], Tensor]) -> Callable[..., Tensor]:
        return lambda **p: (probs(**p) * cost(support.unsqueeze(-1)).squeeze(-1)).sum()

    return {name: mean(cost) for name, cost in costs.items()}


_BERNOULLI_COSTS = {
    "constant": constant_cost,
    "linear": lambda z: 3.0 * z + 1.0,
    "quadratic": lambda z: (z - 0.25) ** 2,
    "nonpolynomial": lambda z: torch.exp(2.0 * z),
}

BERNOULLI = Family(
    name="Bernoulli",
    values={"logits": 0.3},
    make=lambda logits: Bernoulli(logits=logits),
    costs=_BERNOULLI_COSTS,
    means=_finite_means(
        _BERNOULLI_COSTS,
        torch.tensor([0.0, 1.0], dtype=DTYPE),
        lambda logits: torch.stack([1 - torch.sigmoid(logits), torch.sigmoid(logits)]),
    ),
    cv_fn=lambda z: z,
    cv_mean=lambda d: d.mean,
)

_CLASSES = torch.arange(4, dtype=DTYPE)


def _class(z: Tensor) -> Tensor:
    """The class of an integer sample, or of a one-hot (or relaxed) vector over the 4 classes.

    Estimators that relax (RELAX, Gumbel-softmax) hand ``f`` vectors, not integers.
    """
    return z.to(DTYPE) @ _CLASSES if z.is_floating_point() else z.to(DTYPE)


_CATEGORICAL_COSTS = {
    "constant": lambda z: constant_cost(_class(z)),
    "linear": lambda z: 2.0 * _class(z) - 1.0,
    "quadratic": lambda z: _class(z) ** 2,
    "nonpolynomial": lambda z: torch.exp(0.5 * _class(z)),
}

CATEGORICAL = Family(
    name="Categorical",
    values={"logits": [0.2, -0.5, 1.0, 0.0]},
    make=lambda logits: Categorical(logits=logits),
    costs=_CATEGORICAL_COSTS,
    means=_finite_means(
        _CATEGORICAL_COSTS,
        torch.arange(4),
        lambda logits: torch.softmax(logits, -1),
    ),
    cv_fn=lambda z: (z == 0).to(DTYPE),
    cv_mean=lambda d: cast(Categorical, d).probs[..., 0],
)
