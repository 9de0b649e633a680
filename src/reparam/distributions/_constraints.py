"""Constraints for distributions on the unit sphere."""

from __future__ import annotations

import torch
from torch import Tensor
from torch.distributions import constraints


class _UnitVector(constraints.Constraint):
    """Vectors of Euclidean norm 1 along the last dimension (to ``100 * eps``)."""

    event_dim = 1

    def check(self, value: Tensor) -> Tensor:
        if not value.is_floating_point():
            return torch.zeros(value.shape[:-1], dtype=torch.bool, device=value.device)
        tolerance = 100 * torch.finfo(value.dtype).eps
        return (torch.linalg.vector_norm(value, dim=-1) - 1.0).abs() <= tolerance


unit_vector = _UnitVector()
"""The unit sphere in ``R^d`` (the last dimension): parameters and support alike."""


class _PositiveFinite(constraints.Constraint):
    """Real numbers in ``(0, inf)``: positive, and neither infinite nor NaN."""

    def check(self, value: Tensor) -> Tensor:
        return (value > 0) & torch.isfinite(value)


positive_finite = _PositiveFinite()
"""Concentrations: any positive finite size is valid; an infinite one (a point mass) is not."""


def valid_concentration(concentration: Tensor) -> Tensor:
    """Where ``concentration`` is positive and finite, on the device (no host read)."""
    return positive_finite.check(concentration)
