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


def log_mills(t: Tensor) -> Tensor:
    """``log int_0^inf exp(-t s - s^2/2) ds = log(sqrt(pi/2) erfcx(t / sqrt 2))``.

    The Mills ratio ``(1 - Phi(t)) / phi(t)``, to full relative precision for any
    ``t >= 0`` (``~ 1/t`` far out).

    >>> round(float(log_mills(torch.tensor(1e4, dtype=torch.float64))), 9)  # ~ log(1e-4)
    -9.210340382
    """
    return 0.5 * math.log(0.5 * math.pi) + torch.log(torch.special.erfcx(t / math.sqrt(2.0)))


def _far_share(t: Tensor, length: Tensor) -> tuple[Tensor, Tensor]:
    """``(log q, L')``: ``q = exp(-t L - L^2/2) K(t + L) / K(t)``, the share of
    ``int_0^inf`` beyond ``L`` (``0`` for ``L = inf``, ``1`` for ``L = 0``), and ``L``
    made finite."""
    finite = length.isfinite() & (length > 0)
    ell = torch.where(finite, length, 1.0)
    log_ratio = -(t * ell + 0.5 * ell * ell) + log_mills(t + ell) - log_mills(t)
    log_ratio = torch.where(finite, log_ratio, torch.where(length > 0, -math.inf, 0.0))
    return torch.minimum(log_ratio, torch.zeros_like(log_ratio)), ell


def log_partial_mass(t: Tensor, length: Tensor) -> Tensor:
    """``log int_0^length exp(-t s - s^2/2) ds`` for ``t >= 0``, ``length >= 0`` (or ``inf``).

    ``K(t) - exp(-t L - L^2/2) K(t + L)`` with ``K`` the Mills ratio: the second
    term is a fraction ``< 1`` of the first, taken off by ``log1mexp``.
    """
    return log_mills(t) + log1mexp(_far_share(t, length)[0])


CONTINUED_FRACTION_FROM = 8.0
"""From here on :func:`mean_beyond` uses the continued fraction (40 terms reach rounding)."""


def mean_beyond(t: Tensor) -> Tensor:
    """``E[s]`` for the density ``∝ exp(-t s - s^2/2)`` on ``[0, inf)``, ``t >= 0``.

    ``1/K(t) - t`` loses ``t^2`` ulps to cancellation; from ``t = 8`` on, the
    continued fraction of the Mills ratio (Laplace), ``1/K(t) - t = 1 / (t + 2 / (t +
    3 / (t + ...)))``, evaluated backwards from 40 terms, has no cancellation.

    >>> t = torch.tensor([0.0, 1e4], dtype=torch.float64)
    >>> m = mean_beyond(t)  # sqrt(2 / pi) at 0, about 1/t - 2/t^3 far out
    >>> round(float(m[0]) * (math.pi / 2) ** 0.5, 12), round(float(m[1]) * 1e4, 12)
    (1.0, 0.99999998)
    """
    direct = torch.exp(-log_mills(t)) - t
    far = t.clamp(min=CONTINUED_FRACTION_FROM)
    tail = torch.zeros_like(far)
    for k in range(40, 1, -1):
        tail = k / (far + tail)
    return torch.where(t < CONTINUED_FRACTION_FROM, direct, 1.0 / (far + tail))


def tail_mean(t: Tensor, length: Tensor) -> Tensor:
    """``E[s]`` for the density ``∝ exp(-t s - s^2/2)`` on ``[0, length]``, ``t >= 0``.

    With ``q`` the share of the whole beyond ``length`` (see :func:`log_partial_mass`),
    ``(m(t) - q (length + m(t + length))) / (1 - q)``, ``m`` of :func:`mean_beyond`.
    """
    log_q, ell = _far_share(t, length)
    q = torch.exp(log_q)
    far = torch.where(length.isfinite(), ell + mean_beyond(t + ell), 0.0)
    return (mean_beyond(t) - q * far) / -torch.expm1(log_q)


def tail_log_survival(y: Tensor, beta: Tensor, length: Tensor) -> Tensor:
    """``log P(Y > y)`` for ``Y`` of density ``∝ exp(-beta y - y^2/2)`` on ``[0, length]``.

    ``P(Y > y) = exp(-beta y - y^2/2) I(beta + y, length - y) / I(beta, length)``
    with ``I`` of :func:`log_partial_mass`: in the distance from the bound, no
    cancellation however far out ``beta`` is.
    """
    rest = log_partial_mass(beta + y, length - y) - log_partial_mass(beta, length)
    return -(beta * y + 0.5 * y * y) + rest
