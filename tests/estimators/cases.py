"""Distribution families and costs with closed-form expectations, for the estimator tests.

See :mod:`tests.estimators.family` for how a family is used; the discrete ones
are in :mod:`tests.estimators.discrete_cases`. Every family in :data:`ALL`, with
each of its costs, is a problem of the registry's unbiasedness suite
(:mod:`tests.estimators.suite`); the tuples below say which families each kind
of estimator should support, and the estimator tests check ``supports`` agrees.

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

import torch
from torch import Tensor
from torch.distributions import (
    Beta,
    Dirichlet,
    Distribution,
    Exponential,
    Gamma,
    Independent,
    Laplace,
    MultivariateNormal,
    Normal,
)

from tests.estimators.discrete_cases import BERNOULLI, CATEGORICAL
from tests.estimators.family import COST_NAMES as COST_NAMES
from tests.estimators.family import DTYPE as DTYPE
from tests.estimators.family import Family as Family
from tests.estimators.family import constant_cost, constant_mean, log_costs, scalar_costs

NORMAL = Family(
    name="Normal",
    values={"loc": 0.7, "scale": 1.3},
    make=Normal,
    costs=scalar_costs(0.4),
    means={
        "constant": constant_mean,
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
        "constant": lambda z: constant_cost(z).sum(-1),
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
        "constant": lambda z: constant_cost(z[..., 0]),
        "linear": lambda z: 2.0 * z[..., 0] - z[..., 1],
        "quadratic": lambda z: z[..., 0] ** 2 + z[..., 0] * z[..., 1],
        "nonpolynomial": lambda z: torch.exp((z * z.new_tensor(_T2)).sum(-1)),
    },
    means={
        "constant": constant_mean,
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
    costs=log_costs(),
    means={
        "constant": constant_mean,
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
    costs=log_costs(),
    means={
        "constant": constant_mean,
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
        "constant": lambda z: constant_cost(z[..., 0]),
        "linear": lambda z: z[..., 0] - 2.0 * z[..., 2],
        "quadratic": lambda z: z[..., 0] ** 2 + z[..., 0] * z[..., 1],
        "nonpolynomial": lambda z: torch.log(z[..., 0]),
    },
    means={
        "constant": constant_mean,
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
    costs=scalar_costs(0.3),
    means={
        "constant": constant_mean,
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
    costs=scalar_costs(0.3),
    means={
        "constant": constant_mean,
        "linear": lambda loc, scale: 2.0 * loc - 1.0,
        "quadratic": lambda loc, scale: loc**2 + 2.0 * scale**2,
        "nonpolynomial": lambda loc, scale: torch.exp(0.3 * loc) / (1.0 - 0.09 * scale**2),
    },
    cv_fn=lambda z: z,
    cv_mean=lambda d: d.mean,
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
