"""Small facts about the unit sphere ``S^{d-1}`` in ``R^d``."""

from __future__ import annotations

import math

import torch
from torch import Tensor


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
