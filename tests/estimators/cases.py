"""Distribution families and costs with closed-form expectations, for the estimator tests.

Each :class:`Family` builds a distribution from named parameters (batched: every
parameter gets a leading trial dimension, one independent gradient estimate per
trial) and lists costs ``f`` with their exact expectation ``E[f]`` as a
differentiable function of the *unbatched* parameters. The exact gradient is the
derivative of that closed form (taken by autograd, so no hand-derived derivative
can be mistyped), and the exact second derivative likewise.

Closed forms used (``psi`` is the digamma function):

* Normal(mu, s): ``E z = mu``, ``E z^2 = mu^2 + s^2``, ``E exp(t z) = exp(t mu + t^2 s^2 / 2)``.
* MultivariateNormal(mu, L): ``Sigma = L L^T``, ``E z_i z_j = Sigma_ij + mu_i mu_j``,
  ``E exp(t.z) = exp(t.mu + t^T Sigma t / 2)``.
* Gamma(a, b): ``E z = a / b``, ``E z^2 = a (a + 1) / b^2``, ``E log z = psi(a) - log b``.
* Beta(a, b): ``E z = a / (a + b)``, ``E z^2 = a (a + 1) / ((a + b)(a + b + 1))``,
  ``E log z = psi(a) - psi(a + b)``.
* Dirichlet(alpha), ``alpha_0 = sum alpha``: ``E z_i = alpha_i / alpha_0``,
  ``E z_i z_j = alpha_i (alpha_j + [i = j]) / (alpha_0 (alpha_0 + 1))``,
  ``E log z_i = psi(alpha_i) - psi(alpha_0)``.
* Exponential(r): ``E z = 1 / r``, ``E z^2 = 2 / r^2``, ``E exp(t z) = r / (r - t)``.
* Laplace(mu, b): ``E z = mu``, ``E z^2 = mu^2 + 2 b^2``,
  ``E exp(t z) = exp(t mu) / (1 - b^2 t^2)``.
* Bernoulli and Categorical: ``E f = sum_k p_k f(k)`` over the finite support.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor
from torch.distributions import (
    Bernoulli,
    Beta,
    Categorical,
    Dirichlet,
    Distribution,
    Exponential,
    Gamma,
    Independent,
    Laplace,
    MultivariateNormal,
    Normal,
)

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


def _constant(z: Tensor) -> Tensor:
    return z * 0.0 + 3.0


def _scalar_costs(t: float) -> dict[str, Callable[[Tensor], Tensor]]:
    return {
        "constant": _constant,
        "linear": lambda z: 2.0 * z - 1.0,
        "quadratic": lambda z: z**2,
        "nonpolynomial": lambda z: torch.exp(t * z),
    }


def _log_costs() -> dict[str, Callable[[Tensor], Tensor]]:
    return {**_scalar_costs(0.0), "nonpolynomial": torch.log}


def _const(**_: Tensor) -> Tensor:
    return torch.tensor(3.0, dtype=DTYPE)


NORMAL = Family(
    name="Normal",
    values={"loc": 0.7, "scale": 1.3},
    make=Normal,
    costs=_scalar_costs(0.4),
    means={
        "constant": _const,
        "linear": lambda loc, scale: 2.0 * loc - 1.0,
        "quadratic": lambda loc, scale: loc**2 + scale**2,
        "nonpolynomial": lambda loc, scale: torch.exp(0.4 * loc + 0.08 * scale**2),
    },
    cv_fn=lambda z: z,
    cv_mean=lambda d: d.mean,
)

_T3 = [0.3, -0.2, 0.1]


def _independent_normal(loc: Tensor, scale: Tensor) -> Distribution:
    return Independent(Normal(loc, scale), 1)


INDEPENDENT_NORMAL = Family(
    name="Independent(Normal)",
    values={"loc": [0.5, -1.0, 0.2], "scale": [0.8, 1.5, 0.6]},
    make=_independent_normal,
    costs={
        "constant": lambda z: _constant(z).sum(-1),
        "linear": lambda z: (z * z.new_tensor([2.0, -1.0, 0.5])).sum(-1),
        "quadratic": lambda z: (z**2).sum(-1) + z[..., 0] * z[..., 1],
        "nonpolynomial": lambda z: torch.exp((z * z.new_tensor(_T3)).sum(-1)),
    },
    means={
        "constant": lambda **_: torch.tensor(9.0, dtype=DTYPE),
        "linear": lambda loc, scale: (loc * loc.new_tensor([2.0, -1.0, 0.5])).sum(),
        "quadratic": lambda loc, scale: (loc**2 + scale**2).sum() + loc[0] * loc[1],
        "nonpolynomial": lambda loc, scale: torch.exp(
            (loc.new_tensor(_T3) * loc).sum() + (loc.new_tensor(_T3) ** 2 * scale**2).sum() / 2
        ),
    },
    cv_fn=lambda z: z[..., 0],
    cv_mean=lambda d: d.mean[..., 0],
)


def _mvn(loc: Tensor, tril: Tensor) -> Distribution:
    return MultivariateNormal(loc, scale_tril=torch.tril(tril))


def _mvn_moments(loc: Tensor, tril: Tensor) -> Tensor:
    lower = torch.tril(tril)
    return lower @ lower.T + torch.outer(loc, loc)


_T2 = [0.3, -0.2]
MULTIVARIATE_NORMAL = Family(
    name="MultivariateNormal",
    values={"loc": [0.5, -1.0], "tril": [[1.2, 0.0], [0.4, 0.8]]},
    make=_mvn,
    costs={
        "constant": lambda z: _constant(z[..., 0]),
        "linear": lambda z: 2.0 * z[..., 0] - z[..., 1],
        "quadratic": lambda z: z[..., 0] ** 2 + z[..., 0] * z[..., 1],
        "nonpolynomial": lambda z: torch.exp((z * z.new_tensor(_T2)).sum(-1)),
    },
    means={
        "constant": _const,
        "linear": lambda loc, tril: 2.0 * loc[0] - loc[1],
        "quadratic": lambda loc, tril: _mvn_moments(loc, tril)[0].sum(),
        "nonpolynomial": lambda loc, tril: torch.exp(
            loc.new_tensor(_T2) @ loc
            + loc.new_tensor(_T2) @ torch.tril(tril) @ torch.tril(tril).T @ loc.new_tensor(_T2) / 2
        ),
    },
    cv_fn=lambda z: z[..., 0],
    cv_mean=lambda d: d.mean[..., 0],
)

GAMMA = Family(
    name="Gamma",
    values={"concentration": 2.5, "rate": 1.5},
    make=Gamma,
    costs=_log_costs(),
    means={
        "constant": _const,
        "linear": lambda concentration, rate: 2.0 * concentration / rate - 1.0,
        "quadratic": lambda concentration, rate: concentration * (concentration + 1) / rate**2,
        "nonpolynomial": lambda concentration, rate: torch.digamma(concentration) - torch.log(rate),
    },
    cv_fn=lambda z: z,
    cv_mean=lambda d: d.mean,
)


def _beta_linear(concentration1: Tensor, concentration0: Tensor) -> Tensor:
    return 2.0 * concentration1 / (concentration1 + concentration0) - 1.0


def _beta_square(concentration1: Tensor, concentration0: Tensor) -> Tensor:
    a, total = concentration1, concentration1 + concentration0
    return a * (a + 1) / (total * (total + 1))


def _beta_log(concentration1: Tensor, concentration0: Tensor) -> Tensor:
    return torch.digamma(concentration1) - torch.digamma(concentration1 + concentration0)


BETA = Family(
    name="Beta",
    values={"concentration1": 2.0, "concentration0": 3.0},
    make=Beta,
    costs=_log_costs(),
    means={
        "constant": _const,
        "linear": _beta_linear,
        "quadratic": _beta_square,
        "nonpolynomial": _beta_log,
    },
    cv_fn=lambda z: z,
    cv_mean=lambda d: d.mean,
)


def _dirichlet_linear(concentration: Tensor) -> Tensor:
    return (concentration[0] - 2.0 * concentration[2]) / concentration.sum()


def _dirichlet_square(concentration: Tensor) -> Tensor:
    a, total = concentration, concentration.sum()
    return (a[0] * (a[0] + 1) + a[0] * a[1]) / (total * (total + 1))


def _dirichlet_log(concentration: Tensor) -> Tensor:
    return torch.digamma(concentration[0]) - torch.digamma(concentration.sum())


DIRICHLET = Family(
    name="Dirichlet",
    values={"concentration": [1.5, 2.0, 3.0]},
    make=Dirichlet,
    costs={
        "constant": lambda z: _constant(z[..., 0]),
        "linear": lambda z: z[..., 0] - 2.0 * z[..., 2],
        "quadratic": lambda z: z[..., 0] ** 2 + z[..., 0] * z[..., 1],
        "nonpolynomial": lambda z: torch.log(z[..., 0]),
    },
    means={
        "constant": _const,
        "linear": _dirichlet_linear,
        "quadratic": _dirichlet_square,
        "nonpolynomial": _dirichlet_log,
    },
    cv_fn=lambda z: z[..., 0],
    cv_mean=lambda d: d.mean[..., 0],
)

EXPONENTIAL = Family(
    name="Exponential",
    values={"rate": 2.0},
    make=Exponential,
    costs=_scalar_costs(0.3),
    means={
        "constant": _const,
        "linear": lambda rate: 2.0 / rate - 1.0,
        "quadratic": lambda rate: 2.0 / rate**2,
        "nonpolynomial": lambda rate: rate / (rate - 0.3),
    },
    cv_fn=lambda z: z,
    cv_mean=lambda d: d.mean,
)

LAPLACE = Family(
    name="Laplace",
    values={"loc": 0.5, "scale": 0.5},
    make=Laplace,
    costs=_scalar_costs(0.3),
    means={
        "constant": _const,
        "linear": lambda loc, scale: 2.0 * loc - 1.0,
        "quadratic": lambda loc, scale: loc**2 + 2.0 * scale**2,
        "nonpolynomial": lambda loc, scale: torch.exp(0.3 * loc) / (1.0 - 0.09 * scale**2),
    },
    cv_fn=lambda z: z,
    cv_mean=lambda d: d.mean,
)


def _finite_means(
    costs: dict[str, Callable[[Tensor], Tensor]], support: Tensor, probs: Callable[..., Tensor]
) -> dict[str, Callable[..., Tensor]]:
    """``E f = sum_k p_k f(k)`` over a finite ``support`` (costs see it as ``[K, 1]``)."""

    def mean(cost: Callable[[Tensor], Tensor]) -> Callable[..., Tensor]:
        return lambda **p: (probs(**p) * cost(support.unsqueeze(-1)).squeeze(-1)).sum()

    return {name: mean(cost) for name, cost in costs.items()}


_BERNOULLI_COSTS = {
    "constant": _constant,
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

_CATEGORICAL_COSTS = {
    "constant": lambda z: _constant(z.to(DTYPE)),
    "linear": lambda z: 2.0 * z.to(DTYPE) - 1.0,
    "quadratic": lambda z: z.to(DTYPE) ** 2,
    "nonpolynomial": lambda z: torch.exp(0.5 * z.to(DTYPE)),
}

CATEGORICAL = Family(
    name="Categorical",
    values={"logits": [0.2, -0.5, 1.0, 0.0]},
    make=lambda logits: Categorical(logits=logits),
    costs=_CATEGORICAL_COSTS,
    means=_finite_means(
        _CATEGORICAL_COSTS,
        torch.arange(4, dtype=DTYPE),
        lambda logits: torch.softmax(logits, -1),
    ),
    cv_fn=lambda z: (z == 0).to(DTYPE),
    cv_mean=lambda d: d.probs[..., 0],
)

CONTINUOUS = (
    NORMAL,
    INDEPENDENT_NORMAL,
    MULTIVARIATE_NORMAL,
    GAMMA,
    BETA,
    DIRICHLET,
    EXPONENTIAL,
    LAPLACE,
)
"""Families with ``rsample``: the pathwise estimator's."""

ALL = (*CONTINUOUS, BERNOULLI, CATEGORICAL)
"""Families with ``log_prob``: the score function's."""

NORMALS = (NORMAL, INDEPENDENT_NORMAL)
"""Normal with independent dimensions: the measure-valued estimator's."""
