"""A distribution family with costs whose expectations are known in closed form.

Each :class:`Family` builds a distribution from named parameters (batched: every
parameter gets a leading trial dimension, one independent gradient estimate per
trial) and lists costs ``f`` with their exact expectation ``E[f]`` as a
differentiable function of the *unbatched* parameters. The exact gradient is the
derivative of that closed form (taken by autograd, so no hand-derived derivative
can be mistyped), and the exact second derivative likewise.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor
from torch.distributions import Distribution

DTYPE = torch.float64
COST_NAMES = ("constant", "linear", "quadratic", "nonpolynomial")

Params = dict[str, Tensor]


@dataclass(frozen=True)
class Family:
    """A distribution family, its costs with exact means, and a control variate."""

    name: str
    values: dict[str, list[float] | list[list[float]] | float]
    make: Callable[..., Distribution]
    costs: dict[str, Callable[[Tensor], Tensor]]
    means: dict[str, Callable[..., Tensor]]
    cv_fn: Callable[[Tensor], Tensor]
    cv_mean: Callable[[Distribution], Tensor]

    def params(self) -> Params:
        return {k: torch.tensor(v, dtype=DTYPE) for k, v in self.values.items()}

    def exact_mean(self, cost: str, params: Params) -> Tensor:
        """``E[f]`` at unbatched ``params``, differentiable in them."""
        anchor = sum(p.sum() for p in params.values()) * 0.0  # keeps constants in the graph
        return self.means[cost](**params) + anchor


def constant_cost(z: Tensor) -> Tensor:
    return z * 0.0 + 3.0


def scalar_costs(t: float) -> dict[str, Callable[[Tensor], Tensor]]:
    return {
        "constant": constant_cost,
        "linear": lambda z: 2.0 * z - 1.0,
        "quadratic": lambda z: z**2,
        "nonpolynomial": lambda z: torch.exp(t * z),
    }


def log_costs() -> dict[str, Callable[[Tensor], Tensor]]:
    return {**scalar_costs(0.0), "nonpolynomial": torch.log}


def constant_mean(**_: Tensor) -> Tensor:
    return torch.tensor(3.0, dtype=DTYPE)
