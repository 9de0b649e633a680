"""Gaussian problems: the noisy channel and the cost functions of Mohamed et al.

``x ~ N(mu, sigma)`` with ``f(x) = (x - k)^2``, ``cos(k x)`` or ``exp(-k x^2)``,
the three costs of the variance study in Mohamed, Rosca, Figurnov and Mnih
(2020), "Monte Carlo Gradient Estimation in Machine Learning", section 3. Their
expectations have closed forms, whose autograd gradients are the exact answers:

* ``E[(x - k)^2] = (mu - k)^2 + sigma^2``;
* ``E[cos(k x)] = cos(k mu) exp(-k^2 sigma^2 / 2)``;
* ``E[exp(-k x^2)] = exp(-k mu^2 / a) / sqrt(a)`` with ``a = 1 + 2 k sigma^2``.

With ``x = mu + sigma eps``, the per-sample gradient terms are, for the pathwise
estimator, ``f'(x)`` (mu) and ``f'(x) eps`` (sigma), and for the score function
without baseline, ``f(x) eps / sigma`` and ``f(x) (eps^2 - 1) / sigma``; their
exact variances are Gauss-Hermite integrals over ``eps``. The measure-valued
estimator's (``mvd``, ``mvd-uncoupled``) are in :mod:`reparam.lab._weak`.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor
from torch.distributions import Normal

from reparam.estimators import Cost
from reparam.lab._problem import ExactVariance, Params, Problem, gradient_of, scalars
from reparam.lab._quadrature import moments, normal_rule, value_and_derivative
from reparam.lab._weak import measure_valued_variances

Terms = Callable[[Tensor, Tensor, Tensor], dict[str, Tensor]]


def channel(delta: float = 1.0) -> Problem:
    """The seed: ``x ~ U(-1, 1)`` per trial, ``y ~ N(x, delta)``, ``f = (y - x)^2``.

    ``E[f] = delta^2``, so the exact gradient is ``2 delta`` whatever ``x`` is;
    so are the gradient terms' distributions (``y - x = delta * eps``).
    """

    def build(p: Params) -> tuple[Cost, Normal]:
        delta_t = p["delta"]
        x = torch.rand(delta_t.shape, dtype=delta_t.dtype) * 2 - 1
        return (lambda y: (y - x) ** 2), Normal(x, delta_t)

    values = scalars(delta=delta)

    def pathwise(eps: Tensor, f: Tensor, slope: Tensor) -> dict[str, Tensor]:
        return {"delta": slope * eps}

    def score(eps: Tensor, f: Tensor, slope: Tensor) -> dict[str, Tensor]:
        return {"delta": f * (eps.square() - 1) / delta}

    return Problem(
        name="channel",
        summary=f"x ~ U(-1, 1), y ~ N(x, delta={delta:g}), f = (y - x)^2; exact grad 2 delta",
        values=values,
        build=build,
        exact_gradient=gradient_of(lambda p: p["delta"].square(), values),
        per_sample_variances={
            **_variances(lambda y: y.square(), 0.0, delta, {"pathwise": pathwise, "score": score}),
            **_weak_variances(lambda y: y.square(), 0.0, delta, {"sigma": "delta"}),
        },
    )


def quadratic(k: float = 3.0, mu: float = 1.0, sigma: float = 1.0) -> Problem:
    """``x ~ N(mu, sigma)``, ``f(x) = (x - k)^2``."""
    return _normal_problem(
        "quadratic",
        f"x ~ N(mu={mu:g}, sigma={sigma:g}), f(x) = (x - {k:g})^2",
        lambda x: (x - k).square(),
        lambda m, s: (m - k).square() + s.square(),
        mu,
        sigma,
    )


def cosine(k: float = 1.0, mu: float = 1.0, sigma: float = 1.0) -> Problem:
    """``x ~ N(mu, sigma)``, ``f(x) = cos(k x)``."""
    return _normal_problem(
        "cos",
        f"x ~ N(mu={mu:g}, sigma={sigma:g}), f(x) = cos({k:g} x)",
        lambda x: torch.cos(k * x),
        lambda m, s: torch.cos(k * m) * torch.exp(-(k**2) * s.square() / 2),
        mu,
        sigma,
    )


def bump(k: float = 1.0, mu: float = 1.0, sigma: float = 1.0) -> Problem:
    """``x ~ N(mu, sigma)``, ``f(x) = exp(-k x^2)``; needs ``k > -1 / (2 sigma^2)``."""
    if 1 + 2 * k * sigma**2 <= 0:
        raise ValueError(f"bump needs k > -1/(2 sigma^2) for a finite E[f], got k={k}")

    def objective(m: Tensor, s: Tensor) -> Tensor:
        a = 1 + 2 * k * s.square()
        return torch.exp(-k * m.square() / a) / a.sqrt()

    return _normal_problem(
        "bump",
        f"x ~ N(mu={mu:g}, sigma={sigma:g}), f(x) = exp(-{k:g} x^2)",
        lambda x: torch.exp(-k * x.square()),
        objective,
        mu,
        sigma,
    )


def _normal_problem(
    name: str,
    summary: str,
    cost: Cost,
    objective: Callable[[Tensor, Tensor], Tensor],
    mu: float,
    sigma: float,
) -> Problem:
    values = scalars(mu=mu, sigma=sigma)

    def build(p: Params) -> tuple[Cost, Normal]:
        return cost, Normal(p["mu"], p["sigma"])

    def pathwise(eps: Tensor, f: Tensor, slope: Tensor) -> dict[str, Tensor]:
        return {"mu": slope, "sigma": slope * eps}

    def score(eps: Tensor, f: Tensor, slope: Tensor) -> dict[str, Tensor]:
        return {"mu": f * eps / sigma, "sigma": f * (eps.square() - 1) / sigma}

    return Problem(
        name=name,
        summary=summary,
        values=values,
        build=build,
        exact_gradient=gradient_of(lambda p: objective(p["mu"], p["sigma"]), values),
        per_sample_variances={
            **_variances(cost, mu, sigma, {"pathwise": pathwise, "score": score}),
            **_weak_variances(cost, mu, sigma, {"mu": "mu", "sigma": "sigma"}),
        },
    )


def _variances(
    cost: Cost, mu: float, sigma: float, estimators: dict[str, Terms]
) -> dict[str, ExactVariance]:
    """Per estimator: a function integrating its terms' variance over ``eps``."""

    def exact(terms: Terms) -> ExactVariance:
        def compute() -> dict[str, Tensor]:
            eps, weights = normal_rule()
            f, slope = value_and_derivative(cost, mu + sigma * eps)
            return {n: moments(t, weights)[1] for n, t in terms(eps, f, slope).items()}

        return compute

    return {name: exact(terms) for name, terms in estimators.items()}


def _weak_variances(
    cost: Cost, mu: float, sigma: float, names: dict[str, str]
) -> dict[str, ExactVariance]:
    """The measure-valued estimator's, coupled (``mvd``) and not (``mvd-uncoupled``)."""
    return {
        "mvd": measure_valued_variances(cost, mu, sigma, names, coupled=True),
        "mvd-uncoupled": measure_valued_variances(cost, mu, sigma, names, coupled=False),
    }
