"""The angle of a von Mises(-Fisher) variable at large concentration: a Gamma law.

With ``s = 1 - cos(theta) = 1 - mu^T x`` and ``a = (d - 3) / 2``, the exact density of
``s`` on ``[0, 2]`` is proportional to

    exp(-k s) s^a (1 - s/2)^a,

and since ``a log(1 - s/2) = -a s/2 - a s^2/8 - ...``, absorbing the linear term
gives the limit law

    s ~ Gamma(a + 1, rate lambda),   lambda = k + a/2,

the tangent-normal approximation (``2 k s`` is chi-square with ``d - 1`` degrees of
freedom; Mardia and Jupp, 2000, sec. 9.3.2) with its first correction. Its log
density is off by ``a s^2/8 = O(d^3 / k^2)`` where the mass lies, and it is exact
for ``d = 3`` but for the mass ``e^(-2k)`` beyond ``s = 2``. The exact path loses
accuracy as ``k`` grows (the samplers' acceptance tests and the quadrature's
``cos(phi) - A_d(k)`` cancel, about ``k eps`` relative, more in high dimensions) and
Wood's and Best and Fisher's samplers stop accepting near ``k = 1e16``, so past

    k* = 1e4 max(1, ((d - 1)/2)^(3/4))

(``1e4`` for ``d <= 3``, ``1.9e5`` for ``d = 100``) we sample the limit law, where the
two errors about balance: the sup distance between the CDFs at ``k*`` is ``3e-10``
for ``d = 2``, ``4e-9`` for ``d = 10``, ``5e-8`` for ``d = 100`` and ``5e-7`` for
``d = 1000`` (by quadrature), so the law is continuous across ``k*`` to that level,
while the unadjusted chi-square law would be off by ``0.06`` for ``d = 100``. At
``k*`` the gradient below agrees with the quadrature's to ``1e-8`` of its scale for
``d <= 10`` and ``1e-6`` for ``d = 100``.

Samples are ``theta = 2 arcsin(sqrt(g / (2 lambda)))`` for ``g ~ Gamma(a + 1, 1)``: a
scale family, so the implicit gradient is explicit,

    d theta / d k = -tan(theta / 2) / lambda,

finite for every finite ``k`` (it underflows to 0 as ``k`` grows, like the angle).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor


def concentrated_threshold(dim: int) -> float:
    """``k*``: the concentration from which the angle follows the limit law.

    >>> concentrated_threshold(2), round(concentrated_threshold(100))
    (10000.0, 186618)
    """
    return 1e4 * max(1.0, ((dim - 1) / 2.0) ** 0.75)


def _rate(kappa: Tensor, dim: int) -> Tensor:
    return kappa + (dim - 3) / 4.0


@torch.no_grad()
def concentrated_angle(
    kappa: Tensor, dim: int, shape: torch.Size, radius: Tensor | None = None
) -> Tensor:
    """Angles from the limit law, float64, for ``kappa >= concentrated_threshold(dim)``.

    ``radius``: the norms of ``d - 1`` standard normals, of ``shape``, if at hand
    (half the square of one is a ``Gamma((d - 1)/2, 1)`` draw ``g``), else drawn here.

    >>> k = torch.tensor(1e300, dtype=torch.float64)
    >>> theta = concentrated_angle(k, 10, torch.Size([3]))
    >>> bool((theta > 0).all() and (theta < 1e-148).all())
    True
    """
    kappa = kappa.to(torch.float64)
    if radius is None:
        alpha = torch.full(shape, (dim - 1) / 2.0, dtype=torch.float64, device=kappa.device)
        radius = torch._standard_gamma(alpha).mul_(2.0).sqrt_()
    # sqrt(g / 2) / sqrt(lambda) = radius / 2 / sqrt(lambda): no overflow of 2 lambda.
    half_chord = _rate(kappa, dim).rsqrt_().mul(radius).mul_(0.5)
    return torch.asin(half_chord.clamp_max_(1.0)).mul_(2.0)


def concentrated_dtheta_dkappa(theta: Tensor, kappa: Tensor, dim: int) -> Tensor:
    """``d theta / d kappa = -tan(theta / 2) / lambda`` for limit-law angles (float64).

    >>> k = torch.tensor(1e6, dtype=torch.float64)
    >>> theta = torch.tensor(1e-3, dtype=torch.float64)
    >>> abs(concentrated_dtheta_dkappa(theta, k, 3).item() / -5e-10 - 1) < 1e-6
    True
    """
    negative_rate = torch.rsub(kappa.double(), -(dim - 3) / 4.0)  # -lambda
    return torch.tan(0.5 * theta.double()).div_(negative_rate)


def by_concentration(
    kappa: Tensor,
    dim: int,
    exact: Callable[[Tensor], Tensor],
    limit: Callable[[Tensor], Tensor],
) -> Tensor:
    """``exact(kappa)`` below ``concentrated_threshold(dim)`` and ``limit(kappa)`` from it.

    Both are evaluated, each on every element, and chosen by ``torch.where``: no
    host read. ``exact`` sees only concentrations below the threshold (the others
    are replaced by half of it: a rejection sampler's fixed buffers assume that
    every proposal has a fair chance); ``limit``, elementwise, sees every
    concentration, and what it gives below the threshold (NaN included) is
    discarded. Both at ``kappa``'s shape; their results broadcast against it. NaN
    concentrations go to ``exact``.
    """
    threshold = concentrated_threshold(dim)
    large = kappa >= threshold
    low = exact(torch.where(large, 0.5 * threshold, kappa))
    return torch.where(large, limit(kappa), low)
