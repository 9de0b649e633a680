"""A distribution family with costs whose expectations are known in closed form.

Each :class:`Family` builds a distribution from named parameters (batched: every
parameter gets a leading trial dimension, one independent gradient estimate per
trial) and lists costs ``f`` with their exact expectation ``E[f]`` as a
differentiable function of the *unbatched* parameters. The exact gradient is the
derivative of that closed form (taken by autograd, so no hand-derived derivative
can be mistyped), and the exact second derivative likewise.

:meth:`Family.problem` turns a family and one of its costs into the lab's
:class:`~reparam.lab.Problem`, so trials are batched by the lab's harness
(:func:`reparam.lab.gradient_estimates`), the same one ``reparam lab`` measures
with.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import torch
from torch import Tensor
from torch.distributions import Distribution

from reparam.lab import Problem

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

    def problem(self, cost: str) -> Problem:
        """The lab's problem ``grad E[f]`` for the named cost, with its exact gradient."""
        values = self.params()
        leaves = {k: v.clone().requires_grad_() for k, v in values.items()}
        grads = torch.autograd.grad(self.exact_mean(cost, leaves), list(leaves.values()))
        f = self.costs[cost]

        def build(params: Mapping[str, Tensor]) -> tuple[Callable[[Tensor], Tensor], Distribution]:
            return f, self.make(**params)

        return Problem(
            name=f"{self.name}-{cost}",
            summary=f"z ~ {self.name}, the {cost} cost",
            values=values,
            build=build,
            exact_gradient=dict(zip(leaves, grads, strict=True)),
        )

    def trial_distribution(self, trials: int) -> tuple[Params, Distribution]:
        """Per-trial parameter leaves ``[trials, *shape]`` and the distribution built from them."""
        leaves = self.problem("constant").trial_parameters(trials)
        return leaves, self.make(**leaves)


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
