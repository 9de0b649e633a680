"""The angle to the mean direction of a von Mises-Fisher variable, and its CDF.

For ``x`` von Mises-Fisher on the unit sphere in ``R^d`` with concentration ``k``,
the angle ``theta = arccos(mu^T x)`` in ``[0, pi]`` has density

    p(theta) = h(theta) / Z,   h(theta) = exp(k cos theta) sin(theta)^(d-2),
    Z = sqrt(pi) Gamma((d-1)/2) (2/k)^(d/2-1) I_{d/2-1}(k).

For ``d = 2`` this is ``|z|`` for a centred von Mises variable ``z``. Implicit
reparameterization (Figurnov, Mohamed and Mnih, 2018) differentiates a sample
through its survival function ``T(theta) = P(Theta >= theta)``:

    d theta / dk = (dT/dk) / p(theta) = int_theta^pi (cos phi - m) h(phi) dphi / h(theta),

with ``m = E[cos Theta] = I_{d/2}(k) / I_{d/2-1}(k)``; the normalizer cancels. Since
the integral over all of ``[0, pi]`` is zero, it equals minus the integral over
``[0, theta]``. ``log h`` is unimodal (mode ``cos phi* = 2k / (d-2 + sqrt((d-2)^2 + 4k^2))``),
so we integrate over the side of ``theta`` away from the mode, where the integrand
``h(phi) / h(theta)`` falls monotonically from 1. We cut that side where it drops
below ``exp(-46)`` (exactly for ``d = 2``, else to within a factor 2) and apply
Gauss-Legendre quadrature to the rest with 24 nodes. Against a 128-node
reference, for ``k`` in ``[1e-3, 1e4]`` and ``d`` up to 300 the survival function
is accurate to 1e-10 (absolute) and ``d theta / dk`` to 5e-8 of its largest
magnitude. All arithmetic is float64.
"""

from __future__ import annotations

import functools
import math
from typing import Any

import numpy as np
import torch
from torch import Tensor
from torch.autograd.function import FunctionCtx, once_differentiable

from reparam.distributions._bessel import log_iv_and_ratio

_NODES = 24
_CUT = 46.0
_FRACTIONS = torch.exp2(-torch.arange(10, dtype=torch.float64))


@functools.lru_cache(maxsize=8)
def _gauss_legendre(device: torch.device) -> tuple[Tensor, Tensor]:
    nodes, weights = np.polynomial.legendre.leggauss(_NODES)
    as_tensor = functools.partial(torch.as_tensor, dtype=torch.float64, device=device)
    return as_tensor((nodes + 1.0) / 2.0), as_tensor(weights / 2.0)


def _log_h(phi: Tensor, kappa: Tensor, dim: int) -> Tensor:
    out = kappa * torch.cos(phi)
    if dim > 2:
        out = out + (dim - 2) * torch.log(torch.sin(phi))
    return out


def log_normalizer(kappa: Tensor, dim: int) -> Tensor:
    """``log Z = log int_0^pi exp(k cos t) sin(t)^(d-2) dt`` in float64 (no gradient)."""
    nu = dim / 2.0 - 1.0
    log_i, _ = log_iv_and_ratio(nu, kappa)
    return (
        0.5 * math.log(math.pi) + math.lgamma((dim - 1) / 2.0) + nu * torch.log(2.0 / kappa) + log_i
    )


def _mode(kappa: Tensor, dim: int) -> Tensor:
    q = float(dim - 2)
    return torch.acos(2.0 * kappa / (q + torch.sqrt(q * q + 4.0 * kappa * kappa)))


def _cut_point(theta: Tensor, far: Tensor, kappa: Tensor, dim: int, log_h0: Tensor) -> Tensor:
    """A point between ``theta`` and ``far`` beyond which ``h / h(theta) < exp(-46)``.

    For ``d = 2`` the exact point, ``cos phi = cos theta - 46 / k`` (the mode is 0,
    so the side is always ``[theta, pi]``). Otherwise the smallest of
    ``theta + 2^-j (far - theta)``, ``j = 0, 1, ...``, past that level: at most
    twice as far from ``theta`` as needed (``h`` is monotone there).
    """
    if dim == 2:
        return torch.acos((torch.cos(theta) - _CUT / kappa).clamp_min(-1.0))
    fractions = _FRACTIONS.to(theta.device)
    points = theta.unsqueeze(-1) + (far - theta).unsqueeze(-1) * fractions
    drop = _log_h(points, kappa.unsqueeze(-1), dim) - log_h0.unsqueeze(-1)
    beyond = (drop < -_CUT).sum(-1).clamp_min(1)
    return theta + (far - theta) * torch.exp2(1.0 - beyond.to(theta.dtype))


def tail_quadrature(theta: Tensor, kappa: Tensor, dim: int) -> tuple[Tensor, Tensor, Tensor]:
    """Integrals over the side of ``theta`` away from the mode, relative to ``h(theta)``.

    Args:
        theta: angles in ``[0, pi]``, float64.
        kappa: positive concentrations broadcastable to ``theta``, float64.
        dim: the dimension ``d >= 2`` of the ambient space.

    Returns:
        ``(upper, log_mass, dtheta_dkappa)``, each of the broadcast shape: whether
        the side is ``[theta, pi]`` (else ``[0, theta]``), ``log`` of the side's
        unnormalized mass ``int h``, and ``d theta / d kappa`` at fixed survival
        probability.
    """
    _, mean_cos = log_iv_and_ratio(dim / 2.0 - 1.0, kappa)  # before broadcasting: cheap
    theta, kappa, mean_cos = torch.broadcast_tensors(theta, kappa, mean_cos)
    tiny = 1e-12
    theta = theta.clamp(tiny, math.pi - tiny)
    if dim == 2:
        upper = torch.ones_like(theta, dtype=torch.bool)
        far = torch.full_like(theta, math.pi)
    else:
        upper = theta >= _mode(kappa, dim)
        far = torch.where(upper, torch.full_like(theta, math.pi), torch.zeros_like(theta))
    log_h0 = _log_h(theta, kappa, dim)
    cut = _cut_point(theta, far, kappa, dim, log_h0)
    nodes, weights = _gauss_legendre(theta.device)
    # Nodes lie strictly inside (theta, cut), so sin(phi) > 0: no clamping needed.
    phi = torch.addcmul(theta.unsqueeze(-1), (cut - theta).unsqueeze(-1), nodes)
    cos_phi = torch.cos(phi)
    log_ratio = kappa.unsqueeze(-1) * cos_phi - log_h0.unsqueeze(-1)
    if dim > 2:
        log_ratio = log_ratio + (dim - 2) * torch.log(torch.sin(phi))
    ratio = torch.exp(log_ratio)
    length = (cut - theta).abs()
    mass = length * (ratio @ weights)
    first = length * ((ratio * cos_phi) @ weights)
    signed = first - mean_cos * mass
    dtheta = torch.where(upper, signed, -signed)
    return upper, torch.log(mass) + log_h0, dtheta


def angle_dtheta_dkappa(theta: Tensor, kappa: Tensor, dim: int) -> Tensor:
    """``d theta / d kappa`` for an angle sample ``theta``, in float64 (no gradient).

    >>> k = torch.tensor(2.0, dtype=torch.float64)
    >>> # d = 2: theta is |z| for z von Mises; near 0 the derivative is ~0
    >>> abs(angle_dtheta_dkappa(torch.tensor(1e-9, dtype=torch.float64), k, 2).item()) < 1e-8
    True
    """
    return tail_quadrature(theta.double(), kappa.double(), dim)[2]


def _survival_and_density(theta: Tensor, kappa: Tensor, dim: int) -> tuple[Tensor, ...]:
    log_z = log_normalizer(kappa, dim)  # before broadcasting: cheap
    upper, log_mass, dtheta = tail_quadrature(theta, kappa, dim)
    side = torch.exp(log_mass - log_z)
    survival = torch.where(upper, side, 1.0 - side)
    density = torch.exp(_log_h(theta.clamp(1e-300, math.pi), kappa, dim) - log_z)
    return survival.clamp(0.0, 1.0), density, dtheta


class _AngleSurvival(torch.autograd.Function):
    @staticmethod
    def forward(ctx: FunctionCtx, theta: Tensor, kappa: Tensor, dim: int) -> Tensor:
        survival, density, dtheta = _survival_and_density(theta.double(), kappa.double(), dim)
        ctx.save_for_backward(density, dtheta)
        ctx.shapes = (theta.shape, kappa.shape)  # type: ignore[attr-defined]
        return survival.to(torch.promote_types(theta.dtype, kappa.dtype))

    @staticmethod
    @once_differentiable
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor, Tensor, None]:
        density, dtheta = (t.to(grad.dtype) for t in ctx.saved_tensors)
        theta_shape, kappa_shape = ctx.shapes
        grad_theta = (-grad * density).sum_to_size(theta_shape)
        grad_kappa = (grad * density * dtheta).sum_to_size(kappa_shape)
        return grad_theta, grad_kappa, None


def angle_survival(theta: Tensor, kappa: Tensor, dim: int) -> Tensor:
    """``P(Theta >= theta)``, differentiable in ``theta`` and ``kappa`` (first order).

    ``theta`` and ``kappa`` broadcast together; Bessel functions are evaluated at
    ``kappa``'s own shape.

    >>> # d = 3: P(w <= 0) = (1 - e^-k) / (e^k - e^-k) = 1 / (1 + e) at k = 1
    >>> k = torch.tensor(1.0, dtype=torch.float64)
    >>> p = angle_survival(torch.tensor(math.pi / 2, dtype=torch.float64), k, 3).item()
    >>> abs(p - 1 / (1 + math.e)) < 1e-12
    True
    """
    out: Tensor = _AngleSurvival.apply(theta, kappa, dim)
    return out
