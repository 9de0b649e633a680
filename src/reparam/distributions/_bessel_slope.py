"""The slope ``dR_nu/dk`` of the Bessel ratio ``R_nu(k) = I_{nu+1}(k) / I_nu(k)``.

The identity ``dR/dk = 1 - R^2 - (2 nu + 1) R / k`` (from DLMF 10.29.2) cancels to
``(2 nu + 1) / (2 k^2)`` for large ``k``, losing ``eps k^2 / (2 nu + 1)`` of itself;
past ``k = 50 (nu + 1)^2 + 50`` the slope comes instead from the asymptotic series of
``R_nu``, the quotient of the Hankel expansions of ``I_{nu+1}`` and ``I_nu``
(DLMF 10.40.1). Both are returned times ``k^2``, which never underflows.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import Tensor


def _hankel_coefficients(nu: float, terms: int) -> list[float]:
    """``a_j`` of ``I_nu(k) e^-k sqrt(2 pi k) ~ sum_j a_j / k^j`` (DLMF 10.40.1)."""
    coefficients, a = [1.0], 1.0
    for j in range(1, terms + 1):
        a *= -(4.0 * nu * nu - (2.0 * j - 1.0) ** 2) / (8.0 * j)
        coefficients.append(a)
    return coefficients


def _ratio_slope_asymptotic(nu: float, k: Any) -> Any:
    """``k^2 dR_nu/dk`` for ``k >= 50 (nu + 1)^2 + 50`` from ``R_nu ~ sum_n c_n / k^n``.

    ``c`` is the quotient of the series of ``I_{nu+1}`` and ``I_nu``, whose ``j``-th
    terms shrink by ``|4 nu^2 - (2j - 1)^2| / (8 j k)``: below ``1/10`` for ``j <= 10``
    at that ``k``, so 10 terms leave a relative error under ``1e-13``.
    """
    terms = 10
    a, b = _hankel_coefficients(nu, terms), _hankel_coefficients(nu + 1.0, terms)
    c = [1.0]
    for n in range(1, terms + 1):
        c.append(b[n] - sum(a[i] * c[n - i] for i in range(1, n + 1)))
    inv_k = 1.0 / k
    scaled = 0.0 * k
    for n in range(terms, 1, -1):  # Horner in 1/k: -sum_n n c_n / k^(n-1)
        scaled = (scaled - n * c[n]) * inv_k
    return scaled - c[1]


def ratio_slope(nu: float, k: Tensor, ratio: Tensor, complement: Tensor) -> Tensor:
    """``k^2 dR/dk = k^2 (1 - R^2 - (2 nu + 1) R / k)`` in float64, for large ``k`` too.

    Scaled by ``k^2`` (about ``nu + 1/2`` for large ``k``) so that it never underflows.

    The identity cancels to ``(2 nu + 1) / (2 k^2)`` for large ``k`` (a relative error
    of ``eps k^2 / (2 nu + 1)``), so from ``k = 50 (nu + 1)^2 + 50`` on the asymptotic series
    of :func:`_ratio_slope_asymptotic` takes over. Both are evaluated and one kept per
    element (no host read); on an eager CPU in NumPy, as the ratios themselves.
    """
    shape = k.shape
    host = k.device.type == "cpu" and not torch.compiler.is_compiling()
    values: list[Any] = [t.double() for t in (k, ratio, complement)]
    if host:
        values = [t.numpy().reshape(-1) for t in values]
    k_, r, c = values
    exact = (c * (1.0 + r) - (2.0 * nu + 1.0) * r / k_) * k_ * k_
    large = k_ >= 50.0 * (nu + 1.0) ** 2 + 50.0
    if host:
        series = _ratio_slope_asymptotic(nu, np.maximum(k_, 1.0))
        return torch.from_numpy(np.where(large, series, exact)).reshape(shape)
    return torch.where(large, _ratio_slope_asymptotic(nu, k_.clamp_min(1.0)), exact)
