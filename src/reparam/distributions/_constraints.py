"""Constraints of the distributions of this package, and transforms onto the unit sphere."""

from __future__ import annotations

import math

import torch
from torch import Tensor
from torch.distributions import constraints


def unit_norm_tolerance(dtype: torch.dtype) -> float:
    """How far from 1 the norm of a unit vector stored in ``dtype`` may be: ``100 eps``.

    ``eps`` is that of ``dtype``, but never finer than float32's (``100 eps =
    1.2e-5``). A direction is often normalised in float32 (a network's output)
    and cast to float64 afterwards: the cast keeps float32's rounding, so its
    norm is off by a few float32 ulps (up to 3.2 ``eps`` measured over ``d`` up to
    ``10^4``; a norm summed over ``d`` coordinates errs by at most about ``d eps``,
    typically ``sqrt(d) eps``), far more than float64's ``100 eps = 2.2e-14``.
    The factor 100 covers a norm summed in float32 over hundreds of coordinates
    in the worst case and far more typically.

    >>> unit_norm_tolerance(torch.float64) == unit_norm_tolerance(torch.float32)
    True
    """
    return 100 * max(torch.finfo(dtype).eps, torch.finfo(torch.float32).eps)


class _UnitVector(constraints.Constraint):
    """Vectors of Euclidean norm 1 along the last dimension (see :func:`unit_norm_tolerance`)."""

    event_dim = 1

    def check(self, value: Tensor) -> Tensor:
        if not value.is_floating_point():
            return torch.zeros(value.shape[:-1], dtype=torch.bool, device=value.device)
        tolerance = unit_norm_tolerance(value.dtype)
        return (torch.linalg.vector_norm(value, dim=-1) - 1.0).abs() <= tolerance


unit_vector = _UnitVector()
"""The unit sphere in ``R^d`` (the last dimension): parameters and support alike."""


class _PositiveFinite(constraints.Constraint):
    """Real numbers in ``(0, inf)``: positive, and neither infinite nor NaN."""

    def check(self, value: Tensor) -> Tensor:
        return (value > 0) & (value < math.inf)  # NaN fails both


positive_finite = _PositiveFinite()
"""Concentrations: any positive finite size is valid; an infinite one (a point mass) is not."""


def valid_concentration(concentration: Tensor) -> Tensor:
    """Where ``concentration`` is positive and finite, on the device (no host read)."""
    return positive_finite.check(concentration)


class _Finite(constraints.Constraint):
    """Real numbers, neither infinite nor NaN."""

    def check(self, value: Tensor) -> Tensor:
        return torch.isfinite(value)


finite = _Finite()
"""Locations: any finite real number (``constraints.real`` also admits ``+-inf``)."""
