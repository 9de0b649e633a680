"""Modified Bessel functions of the first kind for real order, in log space.

The von Mises-Fisher distribution on the sphere in ``R^d`` needs

* ``log I_nu(k)`` with ``nu = d/2 - 1`` (its normalizer), and
* the ratio ``R_nu(k) = I_{nu+1}(k) / I_nu(k)`` (its mean resultant length
  ``A_d(k) = R_{d/2-1}(k)`` and the derivative ``d/dk log I_nu(k) = nu/k + R_nu(k)``),

for concentrations from ``1e-3`` to ``1e3`` and beyond, and dimensions into the
hundreds, where ``I_nu`` itself under- or overflows.

Method. For a large order ``mu`` the uniform asymptotic (Debye) expansion

    I_mu(k) ~ exp(r + mu log(k / (mu + r))) / sqrt(2 pi r) * sum_j u_j(p) / mu^j,

with ``r = sqrt(mu^2 + k^2)`` and ``p = mu / r``, is uniformly accurate in ``k``
(DLMF 10.41.3, polynomials ``u_j`` from DLMF 10.41.10). We evaluate it at
``mu = nu + M >= 80`` and come down to ``nu`` with the backward recurrence
``R_{j-1} = 1 / (2j/k + R_j)`` (DLMF 10.29.1), which is stable in that direction:
an error in ``R_j`` is multiplied by ``R_{j-1}^2 < 1``. Results are float64.

Derivatives are exact identities rather than derivatives of the approximation:

    d/dk log I_nu(k) = nu/k + R_nu(k),   d/dk R_nu(k) = 1 - R_nu^2 - (2 nu + 1) R_nu / k.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
from torch import Tensor
from torch.autograd.function import FunctionCtx, once_differentiable

_MIN_DEBYE_ORDER = 80.0

# Coefficients of u_1..u_4 (DLMF 10.41.10) as (numerator powers of p, denominator).
_DEBYE_U = (
    ({1: 3.0, 3: -5.0}, 24.0),
    ({2: 81.0, 4: -462.0, 6: 385.0}, 1152.0),
    ({3: 30375.0, 5: -369603.0, 7: 765765.0, 9: -425425.0}, 414720.0),
    (
        {4: 4465125.0, 6: -94121676.0, 8: 349922430.0, 10: -446185740.0, 12: 185910725.0},
        39813120.0,
    ),
)


def _log_iv_debye(mu: float, k: Tensor) -> Tensor:
    """``log I_mu(k)`` by the uniform asymptotic expansion (accurate for ``mu >= 80``)."""
    r = torch.sqrt(mu * mu + k * k)
    p = mu / r
    series = torch.ones_like(k)
    for order, (coefficients, denominator) in enumerate(_DEBYE_U, start=1):
        term = sum(c * p**power for power, c in coefficients.items())
        series = series + term / (denominator * mu**order)
    leading = r + mu * torch.log(k / (mu + r)) - 0.5 * torch.log(2 * math.pi * r)
    return leading + torch.log(series)


def log_iv_and_ratio(nu: float, k: Tensor) -> tuple[Tensor, Tensor]:
    """``(log I_nu(k), I_{nu+1}(k) / I_nu(k))`` for ``nu >= 0``, ``k > 0``, in float64.

    No gradient; use :func:`log_bessel_iv` and :func:`bessel_iv_ratio` for that.

    >>> log_i, ratio = log_iv_and_ratio(0.5, torch.tensor([1.0], dtype=torch.float64))
    >>> # I_{1/2}(k) = sqrt(2/(pi k)) sinh(k), I_{3/2}/I_{1/2} = coth(k) - 1/k
    >>> abs(log_i.item() - math.log(math.sqrt(2 / math.pi) * math.sinh(1.0))) < 1e-12
    True
    >>> abs(ratio.item() - (1 / math.tanh(1.0) - 1.0)) < 1e-12
    True
    """
    if nu < 0:
        raise ValueError(f"the order nu must be >= 0, got {nu}")
    k = k.detach().to(torch.float64)
    steps = max(0, math.ceil(_MIN_DEBYE_ORDER - nu))
    mu = nu + steps
    log_i_mu = _log_iv_debye(mu, k)
    ratio = torch.exp(_log_iv_debye(mu + 1.0, k) - log_i_mu)
    log_ratios, ratio = _step_down(ratio, k, mu, steps)
    return log_i_mu - log_ratios, ratio


def _step_down(ratio: Tensor, k: Tensor, mu: float, steps: int) -> tuple[Tensor, Tensor]:
    """``(sum_j log R_j, R_{mu - steps})`` from ``R_mu`` by ``R_{j-1} = 1 / (2j/k + R_j)``.

    Each ``R_j`` lies in ``(0, 1]``: their logs, not their product (which can
    underflow), are summed. The recurrence is sequential and ``k`` usually small
    (one concentration per batch element): on a CPU it runs in NumPy, whose
    per-operation cost is a fraction of torch's.
    """
    if steps == 0:
        return torch.zeros_like(ratio), ratio
    if k.device.type != "cpu":
        inv_k, ratios = k.reciprocal(), []
        for j in range(steps):
            ratio = torch.add(ratio, inv_k, alpha=2.0 * (mu - j)).reciprocal_()
            ratios.append(ratio)
        return torch.stack(ratios).log_().sum(0), ratio
    r, inv_k_np = ratio.numpy(), 1.0 / k.numpy()
    rows = []
    for j in range(steps):
        r = np.reciprocal(r + (2.0 * (mu - j)) * inv_k_np)
        rows.append(r)
    log_sum = np.log(np.stack(rows)).sum(0)
    return torch.from_numpy(np.asarray(log_sum)), torch.from_numpy(np.asarray(r))


class _LogBesselI(torch.autograd.Function):
    @staticmethod
    def forward(ctx: FunctionCtx, k: Tensor, nu: float) -> Tensor:
        log_i, ratio = log_iv_and_ratio(nu, k)
        ctx.save_for_backward(k, ratio)
        ctx.nu = nu  # type: ignore[attr-defined]
        return log_i.to(k.dtype)

    @staticmethod
    @once_differentiable
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor, None]:
        k, ratio = ctx.saved_tensors
        return grad * (ctx.nu / k + ratio.to(k.dtype)), None


class _BesselRatio(torch.autograd.Function):
    @staticmethod
    def forward(ctx: FunctionCtx, k: Tensor, nu: float) -> Tensor:
        _, ratio = log_iv_and_ratio(nu, k)
        ratio = ratio.to(k.dtype)
        ctx.save_for_backward(k, ratio)
        ctx.nu = nu  # type: ignore[attr-defined]
        return ratio

    @staticmethod
    @once_differentiable
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor, None]:
        k, ratio = ctx.saved_tensors
        return grad * (1.0 - ratio * ratio - (2.0 * ctx.nu + 1.0) * ratio / k), None


def log_bessel_iv(nu: float, k: Tensor) -> Tensor:
    """``log I_nu(k)``, differentiable in ``k`` (first order), in ``k``'s dtype.

    >>> k = torch.tensor([1e-3, 1.0, 1e3], dtype=torch.float64)
    >>> torch.allclose(log_bessel_iv(0.0, k), torch.special.i0e(k).log() + k, rtol=1e-12)
    True
    """
    out: Tensor = _LogBesselI.apply(k, float(nu))
    return out


def bessel_iv_ratio(nu: float, k: Tensor) -> Tensor:
    """``I_{nu+1}(k) / I_nu(k)``, differentiable in ``k`` (first order), in ``k``'s dtype.

    >>> k = torch.tensor([1e-3, 1.0, 1e3], dtype=torch.float64)
    >>> ratio = torch.special.i1e(k) / torch.special.i0e(k)
    >>> torch.allclose(bessel_iv_ratio(0.0, k), ratio, rtol=1e-12)
    True
    """
    out: Tensor = _BesselRatio.apply(k, float(nu))
    return out
