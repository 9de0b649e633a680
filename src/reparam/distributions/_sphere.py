"""Small facts about the unit sphere ``S^{d-1}`` in ``R^d``."""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor
from torch.autograd.function import FunctionCtx, once_differentiable


def log_sphere_area(dim: int) -> float:
    """``log |S^{d-1}| = log(2 pi^(d/2) / Gamma(d/2))``.

    >>> round(math.exp(log_sphere_area(3)), 10) == round(4 * math.pi, 10)
    True
    """
    return math.log(2.0) + 0.5 * dim * math.log(math.pi) - math.lgamma(0.5 * dim)


def reflect_from_first_axis(x: Tensor, direction: Tensor) -> Tensor:
    """Apply an orthogonal map taking ``e_1`` to ``direction`` (a unit vector) to ``x``.

    The map is ``-s H`` with ``H`` the Householder reflection along
    ``u = e_1 + s * direction`` and ``s = sign(direction_1)`` (``+1`` at 0), so
    ``|u|^2 = 2 (1 + |direction_1|) >= 2``: no cancellation when ``direction`` is
    near ``+-e_1``. Differentiable in both arguments; shapes broadcast over ``[..., d]``.

    >>> e1 = torch.tensor([1.0, 0.0, 0.0])
    >>> mu = torch.tensor([0.0, 0.6, 0.8])
    >>> reflect_from_first_axis(e1, mu).abs()
    tensor([0.0000, 0.6000, 0.8000])
    """
    sign = torch.where(direction[..., :1] >= 0, 1.0, -1.0).to(direction)
    u = sign * direction
    u = torch.cat([u[..., :1] + 1.0, u[..., 1:]], dim=-1)
    scale = 2.0 * (u * x).sum(-1, keepdim=True) / (u * u).sum(-1, keepdim=True)
    return -sign * (x - scale * u)


def _householder(direction: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """``(s, u, c)`` of :func:`reflect_from_first_axis`, with ``c = 2 / |u|^2``."""
    sign = torch.where(direction[..., :1] >= 0, 1.0, -1.0).to(direction)
    u = sign * direction
    u = torch.cat([u[..., :1] + 1.0, u[..., 1:]], dim=-1)
    return sign, u, 2.0 / (u * u).sum(-1, keepdim=True)


def _dot(a: Tensor, b: Tensor) -> Tensor:
    """Row-wise ``sum(a * b, -1)``; a matrix-vector product when ``b`` is one vector."""
    if b.dim() == 1:
        return a @ b
    return (a * b).sum(-1)


class _PlacedSample(torch.autograd.Function):
    """``x = Q (cos(theta) e_1 + sin(theta) v)``, ``Q`` of :func:`reflect_from_first_axis`.

    ``Q y = -s (y - c (u.y) u)`` is symmetric, so the gradient with respect to
    ``y`` is ``Q g``; with respect to ``theta`` it is ``(Q g) . (-sin(theta) e_1 +
    cos(theta) v)``; with respect to ``u`` it is ``s c [(u.g) y + (u.y) g -
    c (u.y)(u.g) u]`` (``dc = -c^2 u.du``), and ``du = s d(direction)``, so with
    respect to ``direction`` it is ``c [...]`` summed over the samples. Every term
    is a row-wise dot product or one pass over ``[*, d]`` (matrix-vector products
    for one direction): no autograd graph over the ``[*, d]`` sample. The forward
    pass adds ``cos(theta) Q e_1`` and ``sin(theta) Q (0, v)`` last, so that a
    tangent part below rounding of 1 (``theta < eps``, a concentration past about
    ``1e14`` in float32) survives instead of vanishing into ``u . y``.
    """

    @staticmethod
    def forward(ctx: FunctionCtx, theta: Tensor, tangent: Tensor, direction: Tensor) -> Tensor:
        sign, u, c = _householder(direction)
        cos, sin = torch.cos(theta).unsqueeze(-1), torch.sin(theta).unsqueeze(-1)
        u_tangent = _dot(tangent, u[..., 1:]).unsqueeze(-1)  # u_{2:} . v
        u_y = u[..., :1] * cos + sin * u_tangent  # u . y
        local = torch.cat([cos, tangent * sin], dim=-1)
        # x = Q y = cos(theta) Q e_1 + sin(theta) Q (0, v), the two terms apart so that
        # a tangent part below rounding of 1 (theta < eps) is not lost in their sum.
        first_column = torch.mul(u, c * u[..., :1])
        first_column[..., 0] -= 1.0
        first_column.mul_(sign)  # Q e_1
        x = torch.mul(u, c * u_tangent)
        x[..., 1:] -= tangent
        x.mul_(sign * sin).addcmul_(first_column, cos)
        ctx.save_for_backward(local, tangent, u, c, sign, cos, sin, u_tangent, u_y)
        ctx.direction_shape = direction.shape  # type: ignore[attr-defined]
        return x

    @staticmethod
    @once_differentiable
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor, None, Tensor]:
        local, tangent, u, c, sign, cos, sin, u_tangent, u_y = ctx.saved_tensors
        u_g = _dot(grad, u).unsqueeze(-1)  # u . g
        # (Q g) . dy/dtheta, with (Q g)_1 and (Q g)_{2:} . v written out.
        first = grad[..., :1] - c * u_g * u[..., :1]
        along = _dot(grad[..., 1:], tangent).unsqueeze(-1) - c * u_g * u_tangent
        grad_theta = (-sign * (cos * along - sin * first)).squeeze(-1)
        if u.dim() == 1:  # one direction for all samples: sums over them by BLAS
            d = u.shape[0]
            flat_g, flat_y = u_g.reshape(-1), u_y.reshape(-1)
            total = local.reshape(-1, d).T @ flat_g + grad.reshape(-1, d).T @ flat_y
            grad_direction = c * (total - c * (flat_y @ flat_g) * u)
        else:
            grad_u = c * (u_g * local + u_y * grad - c * u_y * u_g * u)
            grad_direction = grad_u.sum_to_size(ctx.direction_shape)
        return grad_theta, None, grad_direction


def place_sample(theta: Tensor, tangent: Tensor, direction: Tensor) -> Tensor:
    """``reflect_from_first_axis(cat(cos(theta), sin(theta) tangent), direction)``, fused.

    Args:
        theta: angles ``[*S, *B]``; tangent: unit vectors ``[*S, *B, d - 1]`` (no
        gradient); direction: unit vectors ``[*B, d]``.

    Differentiable in ``theta`` and ``direction`` (first order), with one pass of
    arithmetic over the ``[*S, *B, d]`` sample in each direction.

    >>> theta = torch.tensor([0.3, 1.2])
    >>> v = torch.nn.functional.normalize(torch.tensor([[1.0, 2.0], [-1.0, 0.5]]), dim=-1)
    >>> mu = torch.nn.functional.normalize(torch.tensor([0.2, -1.0, 0.4]), dim=0)
    >>> local = torch.cat([theta.cos().unsqueeze(-1), theta.sin().unsqueeze(-1) * v], -1)
    >>> torch.allclose(place_sample(theta, v, mu), reflect_from_first_axis(local, mu))
    True
    """
    out: Tensor = _PlacedSample.apply(theta, tangent, direction)
    return out
