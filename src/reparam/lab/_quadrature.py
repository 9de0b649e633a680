"""Numerical integration for the exact variances: Gauss rules, no sampling.

* Normal: Gauss-Hermite (probabilists'), ``E[g(eps)]`` for ``eps ~ N(0, 1)``;
* Gamma: Gauss-Laguerre, ``E[g(w)]`` for ``w ~ Gamma(alpha, 1)``;
* the implicit derivative ``dw/dalpha`` of a standard Gamma sample (Figurnov,
  Mohamed and Mnih, 2018) from the derivative of its CDF, again by quadrature.

Everything is float64; the rules are exact for polynomials of degree below
``2 * nodes`` (times the weight), and accurate to ~1e-8 for the smooth
integrands the lab uses.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import Tensor

from reparam._numerics import gauss_rule, legendre_rule

HERMITE_NODES = 200
LAGUERRE_NODES = 100


def normal_rule(nodes: int = HERMITE_NODES) -> tuple[Tensor, Tensor]:
    """Nodes and weights with ``sum(w * g(x)) ~= E[g(eps)]``, ``eps ~ N(0, 1)``.

    >>> x, w = normal_rule()
    >>> round(float((w * x**4).sum()), 12)  # E[eps^4] = 3
    3.0
    """
    x, w = gauss_rule("hermite_e", nodes)
    return x, w / math.sqrt(2 * math.pi)


def gamma_rule(alpha: float, nodes: int = LAGUERRE_NODES) -> tuple[Tensor, Tensor]:
    """Nodes and weights with ``sum(w * g(x)) ~= E[g(w)]``, ``w ~ Gamma(alpha, 1)``.

    Gauss-Laguerre with the density's remaining factor ``w^(alpha-1) / Gamma(alpha)``
    folded into the weights: exact for integer ``alpha`` and polynomial ``g``.

    >>> x, w = gamma_rule(2.0)
    >>> round(float((w * x**2).sum()), 9)  # E[w^2] = alpha (alpha + 1)
    6.0
    """
    x, w = gauss_rule("laguerre", nodes)
    return x, w * torch.exp((alpha - 1) * torch.log(x) - math.lgamma(alpha))


def moments(terms: Tensor, weights: Tensor) -> tuple[Tensor, Tensor]:
    """Mean and variance of ``terms`` (quadrature values in the last dim)."""
    mean = (weights * terms).sum(-1)
    return mean, (weights * terms.square()).sum(-1) - mean.square()


def value_and_derivative(f: Callable[[Tensor], Tensor], x: Tensor) -> tuple[Tensor, Tensor]:
    """``f(x)`` and ``f'(x)`` element-wise, for a scalar cost applied element-wise."""
    x = x.detach().clone().requires_grad_(True)
    with torch.enable_grad():
        values = f(x)
        (slope,) = torch.autograd.grad(values.sum(), x)
    return values.detach(), slope


def standard_gamma_dalpha(w: Tensor, alpha: float, nodes: int = LAGUERRE_NODES) -> Tensor:
    """``dw/dalpha`` for ``w ~ Gamma(alpha, 1)`` held at a fixed CDF value.

    Implicit differentiation of ``F(w; alpha) = u`` gives
    ``dw/dalpha = -(dF/dalpha) / q(w)``. Writing ``dF/dalpha`` as an integral of
    ``t^(alpha-1) e^(-t) (log t - psi(alpha))``:

    * below ``w = 1``, over ``[0, w]`` (``t = w u``, Gauss-Legendre in ``u``):
      ``-w e^w int_0^1 u^(alpha-1) e^(-w u) (log(w u) - psi(alpha)) du``;
    * from ``w = 1`` on, over ``[w, inf)`` (``t = w + s``, Gauss-Laguerre in ``s``):
      ``int_0^inf (1 + s/w)^(alpha-1) e^(-s) (log(w + s) - psi(alpha)) ds``,

    each form free of cancellation where it is used.
    """
    psi = torch.special.digamma(torch.tensor(alpha, dtype=torch.float64))
    w = w.to(torch.float64)
    col = w.unsqueeze(-1)
    s, ws = gauss_rule("laguerre", nodes)
    upper = ((1 + s / col).pow(alpha - 1) * (torch.log(col + s) - psi) * ws).sum(-1)
    u, wu = legendre_rule(0.0, 1.0, nodes)
    small = col.clamp(max=1.0)
    inner = u.pow(alpha - 1) * torch.exp(-small * u) * (torch.log(small * u) - psi) * wu
    lower = -small[..., 0] * torch.exp(small[..., 0]) * inner.sum(-1)
    return torch.where(w < 1, lower, upper)
