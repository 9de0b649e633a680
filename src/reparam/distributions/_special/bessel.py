"""Modified Bessel functions of the first kind for real order, in log space.

The von Mises-Fisher distribution on the sphere in ``R^d`` needs

* ``log I_nu(k)`` with ``nu = d/2 - 1`` (its normalizer), and
* the ratio ``R_nu(k) = I_{nu+1}(k) / I_nu(k)`` (its mean resultant length
  ``A_d(k) = R_{d/2-1}(k)`` and the derivative ``d/dk log I_nu(k) = nu/k + R_nu(k)``),

for concentrations from ``1e-3`` to ``1e3`` and beyond, and dimensions into the
hundreds, where ``I_nu`` itself under- or overflows. Past ``k = 1e4`` or so the
normalizer's ``log I_nu(k) ~ k`` cancels against ``k mu^T x``, and ``1 - R_nu(k) ~
(2 nu + 1) / (2k)`` would cancel if computed from ``R``: so the scaled
``log(I_nu(k) e^-k)`` and the complement ``1 - R_nu(k)`` are computed directly,
each to about 1e-12 of itself for every finite ``k``.

Method. For a large order ``mu`` the uniform asymptotic (Debye) expansion

    I_mu(k) ~ exp(r + mu log(k / (mu + r))) / sqrt(2 pi r) * sum_j u_j(p) / mu^j,

with ``r = sqrt(mu^2 + k^2)`` and ``p = mu / r``, is uniformly accurate in ``k``
(DLMF 10.41.3; the polynomials ``u_j`` are generated exactly from their recurrence,
DLMF 10.41.9). With ``u_1..u_7`` we evaluate it at ``mu = nu + M >= 30``, where the
first term left out is below ``3e-13``, and come down to ``nu`` with the backward recurrence
``R_{j-1} = 1 / (2j/k + R_j)`` (DLMF 10.29.1), which is stable in that direction:
an error in ``R_j`` is multiplied by ``R_{j-1}^2 < 1``; the complement follows
``1 - R_{j-1} = (2j/k - (1 - R_j)) R_{j-1}``. The starting ratio is the difference of
two expansions taken term by term (:func:`_log_ratio_debye`). Results are float64.

Derivatives are exact identities rather than derivatives of the approximation:

    d/dk log I_nu(k) = nu/k + R_nu(k),   d/dk R_nu(k) = 1 - R_nu^2 - (2 nu + 1) R_nu / k,

except that the second cancels to ``(2 nu + 1) / (2 k^2)`` for large ``k``: from
``k = 50 (nu + 1)^2 + 50`` it comes from the asymptotic series of ``R_nu`` (the
quotient of two Hankel expansions, DLMF 10.40.1) instead.

Over 300 lines: the ratios, the normalizer and the slope share one expansion and
one recurrence, each with a NumPy path for an eager CPU and a torch path for
accelerators and ``torch.compile``, and one autograd function serves them all.

The slope ``dR_nu/dk`` of the Bessel ratio ``R_nu(k) = I_{nu+1}(k) / I_nu(k)``.

The identity ``dR/dk = 1 - R^2 - (2 nu + 1) R / k`` (from DLMF 10.29.2) cancels to
``(2 nu + 1) / (2 k^2)`` for large ``k``, losing ``eps k^2 / (2 nu + 1)`` of itself;
past ``k = 50 (nu + 1)^2 + 50`` the slope comes instead from the asymptotic series of
``R_nu``, the quotient of the Hankel expansions of ``I_{nu+1}`` and ``I_nu``
(DLMF 10.40.1). Both are returned times ``k^2``, which never underflows.
"""

from __future__ import annotations

import math
from fractions import Fraction
from typing import Any

import numpy as np
import torch
from torch import Tensor
from torch.autograd.function import FunctionCtx, once_differentiable

from reparam.distributions._special.constants import device_constants, kept_eagerly

_DEBYE_TERMS = 7
"""Terms ``u_1..u_7`` of the expansion: the first left out is below ``0.18 / mu^8``."""

_MIN_DEBYE_ORDER = 30.0
"""The order where the expansion starts: its truncation error, ``max_p |u_8(p)| / mu^8``
(``max |u_8| = 0.171`` on ``[0, 1]``), is ``2.6e-13`` there."""


def _debye_polynomials(count: int) -> list[dict[int, Fraction]]:
    """``u_1..u_count`` as ``{power: coefficient}``, exactly (rational arithmetic).

    By the recurrence of DLMF 10.41.9, ``u_0 = 1`` and
    ``u_{j+1}(p) = p^2 (1 - p^2) u_j'(p) / 2 + (1/8) int_0^p (1 - 5 t^2) u_j(t) dt``.

    >>> [str(c) for _, c in sorted(_debye_polynomials(1)[0].items())]  # (3p - 5p^3) / 24
    ['1/8', '-5/24']
    """
    polynomials: list[dict[int, Fraction]] = []
    current = {0: Fraction(1)}
    for _ in range(count):
        following: dict[int, Fraction] = {}
        for power, c in current.items():
            if power:  # p^2 (1 - p^2) / 2 * d/dp
                following[power + 1] = following.get(power + 1, Fraction(0)) + c * power / 2
                following[power + 3] = following.get(power + 3, Fraction(0)) - c * power / 2
            # (1/8) int_0^p (1 - 5 t^2) t^power dt
            following[power + 1] = following.get(power + 1, Fraction(0)) + c / (8 * (power + 1))
            following[power + 3] = following.get(power + 3, Fraction(0)) - 5 * c / (8 * (power + 3))
        current = {power: c for power, c in following.items() if c}
        polynomials.append(current)
    return polynomials


_DEBYE_U = _debye_polynomials(_DEBYE_TERMS)
_SERIES_POWERS = 3 * _DEBYE_TERMS
"""The highest power of ``p`` in the series: ``u_j`` has degree ``3 j``."""


@kept_eagerly
def _series_coefficients(mu: float) -> tuple[float, ...]:
    """``c_1..c_21`` with ``sum_j u_j(p) / mu^j = sum_n c_n p^n`` (``c_0 = 0``)."""
    coefficients = [0.0] * (_SERIES_POWERS + 1)
    for order, terms in enumerate(_DEBYE_U, start=1):
        for power, c in terms.items():
            coefficients[power] += float(c) / mu**order
    return tuple(coefficients[1:])


Array = Any
"""A float64 ``Tensor``, or a NumPy array for the eager CPU path (see :func:`_on_host`)."""


def _on_host(k: Tensor) -> bool:
    """Whether to compute in NumPy: a CPU tensor, eagerly.

    The sums here are short sequences of operations on ``k``'s shape (usually one
    concentration per batch element), where NumPy's per-operation cost is a
    fraction of torch's; on an accelerator, or traced by ``torch.compile``, torch.
    """
    return k.device.type == "cpu" and not torch.compiler.is_compiling()


def _host(k: Tensor) -> np.ndarray:
    """``k`` as a flat NumPy array (at least one element deep: no NumPy scalars)."""
    return k.numpy().reshape(-1)


def _ops(x: Array) -> Any:
    """The namespace for ``x``: ``numpy`` or ``torch`` (same names for what is used here)."""
    return np if isinstance(x, np.ndarray) else torch


def _log_series(orders: tuple[float, ...], p: Array) -> Array:
    """``log sum_j u_j(p_i) / mu_i^j`` for each order ``mu_i`` (``p``: ``[len(orders), ...]``).

    ``sum_n c_n p^n`` as one product of the powers ``p^1..p^21`` (a running product)
    with the coefficients: the terms are below ``1/mu`` in size, so summing them
    directly loses nothing against Horner's rule, in three operations instead of 42.
    Both orders of a ratio go through one product.
    """
    table = [_series_coefficients(mu) for mu in orders]  # [orders, powers]
    powers_count = len(table[0])
    if isinstance(p, np.ndarray):
        # Row by row into one buffer: NumPy's cumprod along a broadcast axis is strided
        # and costs eight times as much for ten thousand concentrations.
        powers = np.empty((powers_count, *p.shape))
        powers[0] = p
        for n in range(1, powers_count):
            np.multiply(powers[n - 1], p, out=powers[n])
        flat = powers.reshape(powers_count, len(orders), -1)
        total = np.einsum("on,noi->oi", np.asarray(table), flat)
        return np.log1p(total.reshape(p.shape))
    coefficients = device_constants(tuple(c for row in table for c in row), p.device)
    coefficients = coefficients.reshape(len(orders), *([1] * (p.dim() - 1)), powers_count, 1)
    powers = p.unsqueeze(-1).expand(*p.shape, powers_count).cumprod(-1)
    return torch.log1p((powers.unsqueeze(-2) @ coefficients).reshape(p.shape))


def _hypot(k: Array, mu: float) -> Array:
    return np.hypot(k, mu) if isinstance(k, np.ndarray) else torch.hypot(k, torch.full_like(k, mu))


def _log_ive_debye(mu: float, k: Array) -> Array:
    """``log(I_mu(k) e^-k)`` by the uniform asymptotic expansion (accurate for ``mu >= 30``).

    ``r - k = mu^2 / (r + k)`` and ``r = hypot(k, mu)``: no cancellation, no overflow.
    """
    xp = _ops(k)
    r = _hypot(k, mu)
    excess = 0.5 * mu * mu / (0.5 * r + 0.5 * k)  # halves: no overflow near the float64 maximum
    log_r = 0.5 * (math.log(2 * math.pi) + xp.log(r))
    return excess + mu * xp.log(k / (mu + r)) - log_r + _log_series((mu,), (mu / r)[None])[0]


def _log_ratio_debye(mu: float, k: Array) -> Array:
    """``log(I_{mu+1}(k) / I_mu(k))``, the difference of two expansions taken term by term.

    With ``r_j = hypot(k, mu + j)`` and ``dr = r_1 - r_0 = (2 mu + 1) / (r_0 + r_1)`` it is
    ``dr + log(k / (mu + 1 + r_1)) - mu log1p((1 + dr) / (mu + r_0)) - log1p(dr / r_0) / 2``
    plus the series' difference: each term is small where the result is (``-(mu + 1/2) / k``
    for large ``k``), so ``1 - I_{mu+1} / I_mu`` keeps its relative accuracy.
    """
    xp = _ops(k)
    r0, r1 = _hypot(k, mu), _hypot(k, mu + 1.0)
    dr = 0.5 * (2.0 * mu + 1.0) / (0.5 * r0 + 0.5 * r1)
    # mu + 1 + r_1 = k (1 + (mu + 1 + (r_1 - k)) / k), r_1 - k = (mu + 1)^2 / (r_1 + k).
    first = -xp.log1p((mu + 1.0 + 0.5 * (mu + 1.0) ** 2 / (0.5 * r1 + 0.5 * k)) / k)
    second = -mu * xp.log1p((1.0 + dr) / (mu + r0))
    both = _log_series((mu + 1.0, mu), xp.stack([(mu + 1.0) / r1, mu / r0]))
    series = both[0] - both[1]
    return dr + first + second - 0.5 * xp.log1p(dr / r0) + series


def log_ive_and_ratios(nu: float, k: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """``(log(I_nu(k) e^-k), R, 1 - R)`` with ``R = I_{nu+1}(k) / I_nu(k)``, float64.

    Each to about 1e-12 of itself for every finite ``k > 0`` (``1 - R`` is about
    ``(2 nu + 1) / (2k)`` for large ``k``, where computing it as ``1 - R`` would cancel).
    No gradient; see :func:`log_bessel_ive` and :func:`bessel_iv_ratio_complement`.

    >>> k = torch.tensor([1e20], dtype=torch.float64)
    >>> log_ive, ratio, complement = log_ive_and_ratios(0.5, k)
    >>> # I_{3/2}/I_{1/2} = coth(k) - 1/k: 1 - R = 1/k for large k
    >>> abs(complement.item() * 1e20 - 1.0) < 1e-12, ratio.item()
    (True, 1.0)
    """
    k, mu = k.detach().to(torch.float64), _debye_order(nu)
    log_ratios, ratio, complement = _ratios_from_debye(nu, k, logs=True)
    start = _log_ive_debye(mu, _host(k)) if _on_host(k) else _log_ive_debye(mu, k)
    return torch.as_tensor(start).reshape(k.shape) - log_ratios, ratio, complement


def iv_ratios(nu: float, k: Tensor) -> tuple[Tensor, Tensor]:
    """``(R, 1 - R)`` as in :func:`log_ive_and_ratios`, without the normalizer's work.

    >>> k = torch.tensor([1.0], dtype=torch.float64)
    >>> ratio, complement = iv_ratios(0.5, k)
    >>> abs(ratio.item() - (1 / math.tanh(1.0) - 1.0)) < 1e-12
    True
    """
    _, ratio, complement = _ratios_from_debye(nu, k.detach().to(torch.float64), logs=False)
    return ratio, complement


def iv_ratio(nu: float, k: Tensor) -> Tensor:
    """``R = I_{nu+1}(k) / I_nu(k)`` alone, float64, no gradient: half the work of the pair.

    >>> k = torch.tensor([1.0, 1e3], dtype=torch.float64)
    >>> bool(torch.allclose(iv_ratio(0.5, k), iv_ratios(0.5, k)[0], rtol=1e-15, atol=0))
    True
    """
    k, mu = k.detach().to(torch.float64), _debye_order(nu)
    steps = round(mu - nu)
    if not _on_host(k):
        ratio = torch.exp(_log_ratio_debye(mu, k))
        for step in _increments(k, mu, steps).unbind(0):
            ratio = (ratio + step).reciprocal_()
        return ratio
    r = np.exp(_log_ratio_debye(mu, _host(k)))
    for step in _host_increments(k, mu, steps):
        np.reciprocal(np.add(r, step, out=r), out=r)
    return torch.from_numpy(r).reshape(k.shape)


def _increments(k: Tensor, mu: float, steps: int) -> Tensor:
    """``2j/k`` for ``j = mu, mu - 1, ...``: ``[steps, *k.shape]``."""
    orders = torch.arange(steps, dtype=torch.float64, device=k.device).mul_(-2.0).add_(2.0 * mu)
    return torch.outer(orders, k.reshape(-1).reciprocal()).reshape(steps, *k.shape)


def _host_increments(k: Tensor, mu: float, steps: int) -> np.ndarray:
    """:func:`_increments` in NumPy, ``[steps, k.numel()]``."""
    return np.multiply.outer(2.0 * (mu - np.arange(steps)), 1.0 / _host(k))


def _debye_order(nu: float) -> float:
    """The order ``mu = nu + steps >= 30`` where the expansion starts (``steps`` whole)."""
    if nu < 0:
        raise ValueError(f"the order nu must be >= 0, got {nu}")
    return nu + max(0, math.ceil(_MIN_DEBYE_ORDER - nu))


def _ratios_from_debye(nu: float, k: Tensor, *, logs: bool) -> tuple[Tensor, Tensor, Tensor]:
    """``(sum log R_j, R_nu, 1 - R_nu)``: the expansion at ``mu``, stepped down to ``nu``."""
    mu = _debye_order(nu)
    if _on_host(k):
        log_ratio = torch.as_tensor(_log_ratio_debye(mu, _host(k))).reshape(k.shape)
    else:
        log_ratio = _log_ratio_debye(mu, k)
    ratio, complement = torch.exp(log_ratio), -torch.expm1(log_ratio)
    return _step_down(ratio, complement, k, mu, round(mu - nu), logs=logs)


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
    log_ive, ratio, _ = log_ive_and_ratios(nu, k)
    return log_ive + k.detach().to(torch.float64), ratio


def _step_down(
    ratio: Tensor, complement: Tensor, k: Tensor, mu: float, steps: int, *, logs: bool
) -> tuple[Tensor, Tensor, Tensor]:
    """``(sum_j log R_j, R_{mu - steps}, 1 - R_{mu - steps})`` from ``R_mu`` and ``1 - R_mu``.

    By ``R_{j-1} = 1 / (2j/k + R_j)`` and ``1 - R_{j-1} = (2j/k - (1 - R_j)) R_{j-1}``
    (where ``1 - R_j`` is near ``(2j + 1) / (2k)`` the difference keeps a third of
    it: no cancellation). Each ``R_j`` lies in ``(0, 1]``; they are kept, and the
    sum of their logs taken at the end, to about ``steps * 1e-16`` absolute (without
    ``logs`` the sum is zeros and not computed). The recurrence is sequential and
    ``k`` usually small (one concentration per batch element): on a CPU it runs in
    NumPy, whose per-operation cost is a fraction of torch's (eagerly; traced by
    ``torch.compile``, in torch), with the steps ``2j/k`` computed at once.
    """
    if steps == 0:
        return torch.zeros_like(ratio), ratio, complement
    if not _on_host(k):
        return _step_down_torch(ratio, complement, k, mu, steps, logs=logs)
    shape = ratio.shape
    r, c = ratio.numpy().reshape(-1).copy(), complement.numpy().reshape(-1).copy()
    increments = _host_increments(k, mu, steps)
    kept = np.empty((steps, *r.shape)) if logs else None
    scratch = np.empty_like(r)
    for j, step in enumerate(increments):  # in place: fresh arrays cost as much as the math
        np.add(r, step, out=scratch)
        r = np.reciprocal(scratch, out=kept[j] if kept is not None else r)
        np.multiply(np.subtract(step, c, out=c), r, out=c)
    # The sum as torch's own kernels take it, so both paths agree to the last bit.
    log_sum = torch.from_numpy(kept).log().sum(0) if kept is not None else torch.zeros(r.shape)
    r_t, c_t = torch.from_numpy(r), torch.from_numpy(c)
    return log_sum.to(torch.float64).reshape(shape), r_t.reshape(shape), c_t.reshape(shape)


def _step_down_torch(
    ratio: Tensor, complement: Tensor, k: Tensor, mu: float, steps: int, *, logs: bool
) -> tuple[Tensor, Tensor, Tensor]:
    kept = []
    for step in _increments(k, mu, steps).unbind(0):
        ratio = (ratio + step).reciprocal_()
        complement = (step - complement).mul_(ratio)
        kept.append(ratio)
    if not logs:
        return torch.zeros_like(ratio), ratio, complement
    return torch.log(torch.stack(kept)).sum(0), ratio, complement


class _Bessel(torch.autograd.Function):
    """``log I_nu``, ``log(I_nu e^-k)``, ``R_nu``, ``1 - R_nu``, ``k (1 - R_nu)``: ``kinds`` 0-4.

    Several kinds at once share one evaluation; the result is a tuple in ``kinds``' order.
    """

    @staticmethod
    def forward(
        ctx: FunctionCtx, k: Tensor, nu: float, kinds: tuple[int, ...]
    ) -> tuple[Tensor, ...]:
        k64 = k.detach().to(torch.float64)
        if min(kinds) < 2:
            log_ive, ratio, complement = log_ive_and_ratios(nu, k)
        else:
            (ratio, complement), log_ive = iv_ratios(nu, k), k64
        values = {0: log_ive + k64, 1: log_ive, 2: ratio, 3: complement}
        ctx.save_for_backward(k, ratio, complement)
        ctx.nu, ctx.kinds = nu, kinds  # type: ignore[attr-defined]
        return tuple((values[kind] if kind < 4 else k64 * complement).to(k.dtype) for kind in kinds)

    @staticmethod
    @once_differentiable
    def backward(ctx: Any, *grads: Tensor) -> tuple[Tensor, None, None]:
        k, ratio, complement = ctx.saved_tensors
        nu, kinds = ctx.nu, ctx.kinds
        k64 = k.double()
        scaled = ratio_slope(nu, k64, ratio, complement) if max(kinds) >= 2 else None  # k^2 dR/dk
        total = torch.zeros_like(k64)
        for kind, grad in zip(kinds, grads, strict=True):
            if kind < 2:  # d/dk log I_nu = nu/k + R, and one less for the scaled one
                slope = nu / k64 + (ratio if kind == 0 else -complement)
            elif kind == 4:  # d/dk k (1 - R) = (1 - R) - k dR/dk
                slope = complement - scaled / k64
            else:
                slope = scaled / k64 / k64 * (1.0 if kind == 2 else -1.0)
            total = total + grad.double() * slope
        return total.to(grads[0].dtype), None, None


def _bessel(nu: float, k: Tensor, kind: int) -> Tensor:
    out: tuple[Tensor, ...] = _Bessel.apply(k, float(nu), (kind,))
    return out[0]


def entropy_terms(nu: float, k: Tensor) -> tuple[Tensor, Tensor]:
    """``(log(I_nu(k) e^-k), k (1 - R_nu(k)))`` from one evaluation, differentiable (first order).

    Checked against the closed forms at ``nu = 1/2``: ``I_{1/2}(k) = sqrt(2 / (pi k)) sinh k``
    and ``R_{1/2}(k) = coth k - 1/k``.

    >>> k = torch.tensor([1e-3, 1.0, 1e3], dtype=torch.float64)
    >>> log_ive, k_complement = entropy_terms(0.5, k)
    >>> exact_log_ive = 0.5 * torch.log(2 / (torch.pi * k)) + torch.log(-torch.expm1(-2 * k) / 2)
    >>> exact_k_complement = 1 + k - k / torch.tanh(k)
    >>> bool(torch.allclose(log_ive, exact_log_ive, rtol=1e-12, atol=0.0))
    True
    >>> bool(torch.allclose(k_complement, exact_k_complement, rtol=1e-12, atol=0.0))
    True
    """
    log_ive, k_complement = _Bessel.apply(k, float(nu), (1, 4))
    return log_ive, k_complement


def log_bessel_iv(nu: float, k: Tensor) -> Tensor:
    """``log I_nu(k)``, differentiable in ``k`` (first order), in ``k``'s dtype.

    >>> k = torch.tensor([1e-3, 1.0, 1e3], dtype=torch.float64)
    >>> torch.allclose(log_bessel_iv(0.0, k), torch.special.i0e(k).log() + k, rtol=1e-12)
    True
    """
    return _bessel(nu, k, 0)


def log_bessel_ive(nu: float, k: Tensor) -> Tensor:
    """``log(I_nu(k) e^-k)``, differentiable in ``k`` (first order), in ``k``'s dtype.

    >>> k = torch.tensor([1e-3, 1.0, 1e3], dtype=torch.float64)
    >>> torch.allclose(log_bessel_ive(0.0, k), torch.special.i0e(k).log(), rtol=1e-12)
    True
    """
    return _bessel(nu, k, 1)


def bessel_iv_ratio(nu: float, k: Tensor) -> Tensor:
    """``I_{nu+1}(k) / I_nu(k)``, differentiable in ``k`` (first order), in ``k``'s dtype.

    >>> k = torch.tensor([1e-3, 1.0, 1e3], dtype=torch.float64)
    >>> ratio = torch.special.i1e(k) / torch.special.i0e(k)
    >>> torch.allclose(bessel_iv_ratio(0.0, k), ratio, rtol=1e-12)
    True
    """
    return _bessel(nu, k, 2)


def bessel_iv_ratio_complement(nu: float, k: Tensor) -> Tensor:
    """``1 - I_{nu+1}(k) / I_nu(k)``, accurate for large ``k``, differentiable (first order).

    >>> k = torch.tensor([1e-3, 1.0, 1e3], dtype=torch.float64)
    >>> ratio = torch.special.i1e(k) / torch.special.i0e(k)
    >>> torch.allclose(bessel_iv_ratio_complement(0.0, k), 1 - ratio, rtol=1e-12)
    True
    """
    return _bessel(nu, k, 3)


def kappa_times_complement(nu: float, k: Tensor) -> Tensor:
    """``k (1 - I_{nu+1}(k) / I_nu(k))``, differentiable (first order) without underflow.

    About ``nu + 1/2`` for large ``k``, with derivative ``(1 - R) - k dR/dk``.

    >>> k = torch.tensor([1e-3, 1.0, 1e3], dtype=torch.float64)
    >>> ratio = torch.special.i1e(k) / torch.special.i0e(k)
    >>> torch.allclose(kappa_times_complement(0.0, k), k * (1 - ratio), rtol=1e-12)
    True
    """
    return _bessel(nu, k, 4)


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
    host = _on_host(k)
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
