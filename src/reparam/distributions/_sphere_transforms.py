"""Transforms onto the unit sphere, registered with ``transform_to`` and ``biject_to``.

``transform_to(unit_vector)`` is the normalisation ``x -> x / |x|`` from
``R^d \\ {0}``: many points map to one, as softmax does for the simplex, so it
has no Jacobian determinant; its ``inv`` returns the unit vector itself (a right
inverse). ``biject_to(unit_vector)`` is the inverse stereographic projection
from ``R^{d-1}`` onto the sphere less the pole ``-e_1``,

    y -> ((1 - |y|^2) / (1 + |y|^2), 2 y / (1 + |y|^2)),   x -> x_{2:} / (1 + x_1),

a bijection whose surface element is ``(2 / (1 + |y|^2))^(d-1) dy``, so
``log|det J| = (d - 1) log(2 / (1 + |y|^2))`` against the sphere's area measure,
the measure of the densities of ``VonMisesFisher`` and ``HypersphericalUniform``.

>>> import torch
>>> from torch.distributions import biject_to, transform_to
>>> from reparam.distributions._constraints import unit_vector
>>> transform_to(unit_vector)(torch.tensor([3.0, 4.0]))
tensor([0.6000, 0.8000])
>>> t = biject_to(unit_vector)
>>> x = t(torch.tensor([0.5, -2.0]))
>>> x.shape, round(float(x.norm()), 6), t.inv(x)
(torch.Size([3]), 1.0, tensor([ 0.5000, -2.0000]))
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor
from torch.distributions import Transform, biject_to, constraints, transform_to

from reparam.distributions._constraints import unit_vector


class NormalizeTransform(Transform):
    """``x -> x / |x|`` along the last dimension (not injective; ``inv`` is the identity)."""

    domain = constraints.independent(constraints.real, 1)
    codomain = unit_vector
    bijective = False

    def __eq__(self, other: object) -> bool:
        return isinstance(other, NormalizeTransform)

    def _call(self, x: Tensor) -> Tensor:
        return x / torch.linalg.vector_norm(x, dim=-1, keepdim=True)

    def _inverse(self, y: Tensor) -> Tensor:
        return y


class StereographicTransform(Transform):
    """Inverse stereographic projection ``R^{d-1} -> S^{d-1} \\ {-e_1}`` (see the module)."""

    domain = constraints.independent(constraints.real, 1)
    codomain = unit_vector
    bijective = True

    def __eq__(self, other: object) -> bool:
        return isinstance(other, StereographicTransform)

    def _call(self, x: Tensor) -> Tensor:
        squared = (x * x).sum(-1, keepdim=True)
        return torch.cat([(1.0 - squared) / (1.0 + squared), 2.0 * x / (1.0 + squared)], dim=-1)

    def _inverse(self, y: Tensor) -> Tensor:
        return y[..., 1:] / (1.0 + y[..., :1])

    def log_abs_det_jacobian(self, x: Tensor, y: Tensor) -> Tensor:
        """``(d - 1) log(2 / (1 + |x|^2))``: the sphere's area element over ``dx``."""
        return x.shape[-1] * (math.log(2.0) - torch.log1p((x * x).sum(-1)))

    def forward_shape(self, shape: Any) -> torch.Size:
        return torch.Size((*shape[:-1], shape[-1] + 1))

    def inverse_shape(self, shape: Any) -> torch.Size:
        return torch.Size((*shape[:-1], shape[-1] - 1))


@transform_to.register(type(unit_vector))
def _transform_to_unit_vector(constraint: constraints.Constraint) -> Transform:
    return NormalizeTransform()


@biject_to.register(type(unit_vector))
def _biject_to_unit_vector(constraint: constraints.Constraint) -> Transform:
    return StereographicTransform()
