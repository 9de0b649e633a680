"""Exact per-sample variances of the measure-valued estimator on a 1-D Normal.

For ``x ~ N(mu, sigma)`` the weak derivatives (Mohamed et al., 2020, section 6)
give the per-sample terms

* mean: ``c (f(mu + sigma W) - f(mu - sigma W'))``, ``c = 1 / (sigma sqrt(2 pi))``,
  ``W, W'`` Rayleigh (density ``w exp(-w^2/2)``, ``w > 0``);
* scale: ``(f(mu + sigma M) - f(mu + sigma E)) / sigma``, ``M`` double-sided
  Maxwell (density ``m^2 exp(-m^2/2) / sqrt(2 pi)``), ``E ~ N(0, 1)``.

Coupled, ``W' = W`` and ``E = M U`` with ``U ~ U(0, 1)``; uncoupled, the two
parts are independent and their variances add. The integrals: Gauss-Legendre on
``[0, 12]`` for the Rayleigh variable (its tail beyond 12 weighs ``e^-72``),
Gauss-Hermite with weight ``eps^2`` for the Maxwell one, Gauss-Legendre on
``[0, 1]`` for ``U``.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import Tensor

from reparam.estimators import Cost
from reparam.lab._quadrature import legendre_rule, moments, normal_rule

RAYLEIGH_NODES = 400
RAYLEIGH_END = 12.0


def measure_valued_variances(
    cost: Cost, mu: float, sigma: float, names: dict[str, str], coupled: bool
) -> Callable[[], dict[str, Tensor]]:
    """A function computing the per-sample variances; ``names`` maps ``"mu"``/``"sigma"``
    to the problem's parameter names (only the parameters named are computed)."""

    def compute() -> dict[str, Tensor]:
        out = {}
        if "mu" in names:
            out[names["mu"]] = _mean_variance(cost, mu, sigma, coupled)
        if "sigma" in names:
            out[names["sigma"]] = _scale_variance(cost, mu, sigma, coupled)
        return out

    return compute


def _mean_variance(cost: Cost, mu: float, sigma: float, coupled: bool) -> Tensor:
    w, weights = legendre_rule(0.0, RAYLEIGH_END, RAYLEIGH_NODES)
    weights = weights * w * torch.exp(-w.square() / 2)  # the Rayleigh density
    c = 1 / (sigma * math.sqrt(2 * math.pi))
    plus, minus = cost(mu + sigma * w), cost(mu - sigma * w)
    if coupled:
        return c**2 * moments(plus - minus, weights)[1]
    return c**2 * (moments(plus, weights)[1] + moments(minus, weights)[1])


def _scale_variance(cost: Cost, mu: float, sigma: float, coupled: bool) -> Tensor:
    eps, normal = normal_rule()
    maxwell = normal * eps.square()  # E[g(M)] = E[g(eps) eps^2]
    plus = cost(mu + sigma * eps)
    if not coupled:
        return (moments(plus, maxwell)[1] + moments(plus, normal)[1]) / sigma**2
    u, uniform = legendre_rule(0.0, 1.0, 64)
    minus = cost(mu + sigma * eps[:, None] * u[None, :])
    joint = (maxwell[:, None] * uniform[None, :]).reshape(-1)
    difference = (plus[:, None] - minus).reshape(-1)
    return moments(difference, joint)[1] / sigma**2
