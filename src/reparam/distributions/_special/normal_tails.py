"""Standard normal CDF arithmetic in log space, stable far in the tails.

For a standard normal truncated to ``[a, b]`` we reflect so that ``a + b <= 0``
(the interval leans on the left tail, where ``Phi`` is accurate to full relative
precision through ``log_ndtr``) and work with

    log Z = log(Phi(b) - Phi(a)) = log Phi(b) + log(1 - Phi(a)/Phi(b)).

The inverse of ``log Phi`` is found by Newton's method on ``log Phi(x) = t``,
started from ``ndtri(exp(t))`` or, where ``exp(t)`` underflows, from the
asymptotic ``x ~ -sqrt(-2t - log(-2t) - log(2 pi))``. Everything here is float64
without gradients; the truncated normal attaches implicit gradients itself.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from reparam._numerics import HALF_LOG_2PI


def log1mexp(x: Tensor) -> Tensor:
    """``log(1 - exp(x))`` for ``x <= 0``, switching at ``-log 2`` (Maechler, 2012).

    >>> log1mexp(torch.tensor([-1e-20, -50.0], dtype=torch.float64)).tolist()  # log(1e-20), -e^-50
    [-46.051701859880914, -1.9287498479639178e-22]
    """
    return torch.where(x > -math.log(2.0), torch.log(-torch.expm1(x)), torch.log1p(-torch.exp(x)))


def _finite(x: Tensor) -> Tensor:
    return torch.where(x.isfinite(), x, 0.0)


def log_normal_density(x: Tensor) -> Tensor:
    """``log phi(x)``; ``-inf`` at ``x = +-inf``, with zero (not nan) gradient there."""
    return torch.where(x.isfinite(), -0.5 * _finite(x) ** 2 - HALF_LOG_2PI, -math.inf)


def log_ndtr(x: Tensor) -> Tensor:
    """``log Phi(x)``; exact at ``x = +-inf``, with zero (not nan) gradient there."""
    limit = torch.where(x > 0, 0.0, -math.inf).to(x)
    return torch.where(x.isfinite(), torch.special.log_ndtr(_finite(x)), limit)


def times_density(x: Tensor, log_scale: Tensor) -> Tensor:
    """``x phi(x) exp(log_scale)``, zero at ``x = +-inf``."""
    return torch.where(x.isfinite(), _finite(x) * torch.exp(log_normal_density(x) + log_scale), 0.0)


def log_mass(a: Tensor, b: Tensor) -> Tensor:
    """``log(Phi(b) - Phi(a))`` for ``a < b`` with ``a + b <= 0``."""
    log_phi_b = log_ndtr(b)
    return log_phi_b + log1mexp(log_ndtr(a) - log_phi_b)


def inverse_log_ndtr(target: Tensor, steps: int = 3) -> Tensor:
    """``x`` with ``log Phi(x) = target`` for ``target < 0``.

    >>> x = torch.tensor([-40.0, -8.5, 0.0, 3.0], dtype=torch.float64)
    >>> inverse_log_ndtr(torch.special.log_ndtr(x))
    tensor([-40.0000,  -8.5000,   0.0000,   3.0000], dtype=torch.float64)
    """
    safe = target.clamp(max=-1e-300)
    small = -torch.sqrt(-2.0 * safe - torch.log(-2.0 * safe) - math.log(2 * math.pi))
    x = torch.where(safe > -700.0, torch.special.ndtri(torch.exp(safe)), small)
    for _ in range(steps):
        log_phi = torch.special.log_ndtr(x)
        slope = torch.exp(log_normal_density(x) - log_phi)  # d/dx log Phi(x)
        x = x - (log_phi - safe) / slope
    return x


def reflect(a: Tensor, b: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """``(mirrored, a', b')`` with ``a' + b' <= 0``: ``[a', b'] = [-b, -a]`` where mirrored."""
    mirrored = (a + b) > 0
    return mirrored, torch.where(mirrored, -b, a), torch.where(mirrored, -a, b)
