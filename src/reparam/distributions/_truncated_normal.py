"""The normal distribution truncated to ``[low, high]``, reparameterized.

With ``a = (low - loc) / scale``, ``b = (high - loc) / scale`` and
``Z = Phi(b) - Phi(a)``, the density is ``phi((x - loc)/scale) / (scale Z)`` on
``[low, high]``. Written that way, every quantity cancels catastrophically somewhere:
``Phi(b) - Phi(a)`` when the interval is narrow against the scale (a scale far
wider than the interval, whose limit is the uniform distribution, or an interval
a few ulps wide), ``1 + (a phi(a) - b phi(b)) / Z - mean^2`` far in a tail. So
each parameter set is computed, in float64, in the coordinates of its regime:

* narrow, ``|c1| + c2 <= 1`` with ``c1 = m h``, ``c2 = h^2 / 2`` (``m``, ``h``
  the standardized midpoint and half-width): around the midpoint, ``x = mid +
  half rho`` with ``rho`` in ``[-1, 1]`` of density ``exp(-c1 rho - c2 rho^2)``
  (``reparam.distributions._midpoint``): moments, ``log_prob``, ``cdf`` and
  samples by Gauss-Legendre quadrature and Newton's method, no difference of
  ``Phi``. ``c1 = c2 = 0`` is the uniform limit, reached smoothly;
* a tail (the interval, reflected to lean left, ends at ``b <= 0``): moments,
  entropy and ``log_prob`` in the distance from the nearer bound
  (``reparam.distributions._tail_quadrature``), with no cancellation however far out;
* otherwise the closed forms, where they are well conditioned.

Accuracy, measured against mpmath references (60 digits beyond what their
closed forms cancel) over scales from ``1e-4`` to ``1e150`` times the interval,
intervals down to a few ulps of their bounds and bounds out to ``1e4`` standard
deviations, in float64: the mean within ``1e-13`` standard deviations (plus an
ulp of the mean), the variance to a relative ``1e-13``, the entropy and
``log_prob`` within ``1e-13 max(1, |value|)``, the CDF within ``1e-13``, the
quantiles (so the samples) exact to ``1e-13`` in probability (plus the density
times one ulp of the quantile: no nearer float exists), and their gradients to
a relative ``1e-10``; most are within a few ulps. Float32 is computed in float64
and rounded once: within 4 float32 ulps. The tail regime's quantile refines the
log-space one (``reparam.distributions._special.normal_tails``, which alone loses
``b^2`` ulps at bound ``b``) by Newton's method in the distance from the bound.

Gradients by implicit reparameterization (Figurnov, Mohamed and Mnih, 2018):
``dz/dtheta = -(dF(z; theta)/dtheta) / f(z)``. In the closed-form regime, for the
standardized sample ``x`` with ``F(x) = u``,

    dx/da = (1 - u) phi(a) / phi(x),   dx/db = u phi(b) / phi(x),

evaluated as ``exp(log(1 - u) + (x - a)(x + a)/2)`` and ``exp(log u + (x - b)(x + b)/2)``,
and ``z = loc + scale x`` carries the rest (autograd composes through ``a`` and
``b``). In the narrow regime ``z = mid + half rho`` where ``rho`` solves
``F(rho; c1, c2) = u``, and ``drho/dc = -(dF/dc) / f(rho)`` is attached to the
quadrature's ``F``, differentiable in ``c1`` and ``c2``; in the tail regime
``z = near -+ scale y`` with ``y``'s derivatives in the standardized distance
to the bound and the standardized width (see ``_truncated_normal_quantile``).
Neither cancels as the scale grows or shrinks.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor
from torch.distributions import Distribution, constraints
from torch.distributions.utils import broadcast_all

from reparam._numerics import HALF_LOG_2PI
from reparam.distributions._constraints import finite, positive_finite
from reparam.distributions._midpoint import midpoint_cdf, midpoint_moments
from reparam.distributions._shapes import SampleShape
from reparam.distributions._special.normal_tails import log_ndtr, tail_log_survival
from reparam.distributions._tail_quadrature import tail_moments
from reparam.distributions._truncated_normal_quantile import quantile
from reparam.distributions._truncated_normal_regimes import (
    F64,
    Parts,
    closed_form,
    regimes,
    tail_coordinates,
    to_rho,
)


class TruncatedNormal(Distribution):
    """Normal ``N(loc, scale^2)`` conditioned on ``[low, high]`` (bounds may be infinite).

    ``loc`` and ``scale`` must be finite (``scale > 0``), ``low < high``. Any
    finite scale is valid: far wider than the interval the distribution tends to
    the uniform one, and the moments, ``log_prob``, ``cdf``, samples and their
    gradients follow it without cancellation (see the module for the accuracy).

    >>> import torch
    >>> from reparam.distributions import TruncatedNormal
    >>> d = TruncatedNormal(0.0, 1.0, 8.0, 9.0)  # far in the right tail
    >>> x = d.rsample((1000,))
    >>> bool(((x >= 8) & (x <= 9)).all()), round(d.mean.item(), 4)
    (True, 8.1212)
    >>> wide = TruncatedNormal(0.0, 1e17, -1.0, 1.0, validate_args=True)  # uniform on [-1, 1]
    >>> round(wide.variance.item(), 7), round(wide.log_prob(torch.tensor(0.5)).item(), 7)
    (0.3333333, -0.6931472)
    """

    arg_constraints = {  # noqa: RUF012
        "loc": finite,
        "scale": positive_finite,
        "low": constraints.real,
        "high": constraints.real,
    }
    has_rsample = True

    def __init__(
        self,
        loc: Tensor | float,
        scale: Tensor | float,
        low: Tensor | float,
        high: Tensor | float,
        validate_args: bool | None = None,
    ) -> None:
        self.loc, self.scale, self.low, self.high = broadcast_all(loc, scale, low, high)
        super().__init__(self.loc.shape, torch.Size(), validate_args)
        if self._validate_args and not bool((self.low < self.high).all()):
            raise ValueError(
                "Expected parameters low and high of distribution TruncatedNormal to satisfy "
                f"low < high elementwise, but found low >= high: low={self.low}, high={self.high}"
            )

    @constraints.dependent_property(is_discrete=False, event_dim=0)
    def support(self) -> constraints.Constraint:
        return constraints.interval(self.low, self.high)

    def expand(
        self, batch_shape: SampleShape, _instance: Distribution | None = None
    ) -> TruncatedNormal:
        new = self._get_checked_instance(TruncatedNormal, _instance)
        shape = torch.Size(batch_shape)
        new.loc, new.scale, new.low, new.high = (
            p.expand(shape) for p in (self.loc, self.scale, self.low, self.high)
        )
        Distribution.__init__(new, shape, torch.Size(), validate_args=False)
        new._validate_args = self._validate_args
        return new

    @property
    def mode(self) -> Tensor:
        """``clamp(loc, low, high)``."""
        return torch.minimum(torch.maximum(self.loc, self.low), self.high)

    def _parts(self) -> Parts:
        return regimes(self.loc, self.scale, self.low, self.high)

    @classmethod
    def _tail(cls, p: Parts) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor]:
        """``(beta, log I_0, E[y], Var[y], near)``: the tail regime in the distance ``y``
        (standardized) from the nearer bound ``near`` (safe values elsewhere)."""
        beta, length, near = tail_coordinates(p)
        log_i0, mean, var = tail_moments(beta, length)
        return beta, log_i0, mean, var, near

    def rsample(self, sample_shape: SampleShape = ()) -> Tensor:
        shape = self._extended_shape(torch.Size(sample_shape))
        u = torch.rand(shape, dtype=F64, device=self.loc.device)
        return self._quantile(u)

    def icdf(self, value: Tensor) -> Tensor:
        """The quantile at probabilities ``value``, with implicit gradients in all parameters.

        ``value`` outside ``[0, 1]`` is refused under validation, and gives NaN without.
        """
        value = torch.as_tensor(value, device=self.loc.device)
        if self._validate_args and not bool(((value >= 0) & (value <= 1)).all()):
            raise ValueError(
                "TruncatedNormal.icdf takes probabilities in [0, 1], got values outside: "
                f"{value}; clamp them, or pass validate_args=False to get NaN there"
            )
        u = value.to(F64)
        inside = (u >= 0) & (u <= 1)
        out = self._quantile(torch.where(inside, u, 0.5))
        return torch.where(inside, out, math.nan)

    def _needs_grad(self) -> bool:
        params = (self.loc, self.scale, self.low, self.high)
        return torch.is_grad_enabled() and any(t.requires_grad for t in params)

    def _quantile(self, u: Tensor) -> Tensor:
        return quantile(self._parts(), u, self._needs_grad()).to(self.loc.dtype)

    def cdf(self, value: Tensor) -> Tensor:
        if self._validate_args:
            self._validate_sample(value)
        p = self._parts()
        v = value.to(F64)
        rho = to_rho(p, v).clamp(-1.0, 1.0)
        narrow = midpoint_cdf(rho, p.c1, p.c2)
        x = (v - p.loc) / p.scale
        x_r = torch.where(p.mirrored, -x, x)
        x_r = torch.minimum(torch.maximum(x_r, p.a_r), p.b_r)
        below = torch.exp(log_ndtr(x_r) - p.log_z) - torch.exp(log_ndtr(p.a_r) - p.log_z)
        below = below.clamp(0.0, 1.0)
        wide = torch.where(p.mirrored, 1.0 - below, below)
        beta, length, near = tail_coordinates(p)
        y = torch.where(p.mirrored, v - near, near - v) / p.scale
        y = torch.minimum(y.clamp(min=0.0), length)
        log_survival = tail_log_survival(y, beta, length)
        tail = torch.where(p.mirrored, -torch.expm1(log_survival), torch.exp(log_survival))
        out = torch.where(p.narrow, narrow, torch.where(p.tail, tail, wide))
        return out.to(torch.result_type(value, self.loc))

    def log_prob(self, value: Tensor) -> Tensor:
        if self._validate_args:
            self._validate_sample(value)
        p = self._parts()
        v = value.to(F64)
        log_i, _, _ = midpoint_moments(p.c1, p.c2)
        rho = to_rho(p, v)
        narrow = -p.c1 * rho - p.c2 * rho * rho - torch.log(p.half) - log_i
        beta, log_i0, _, _, near = self._tail(p)
        y = torch.where(p.mirrored, v - near, near - v) / p.scale
        tail = -(beta * y + 0.5 * y * y) - torch.log(p.scale) - log_i0
        x = (v - p.loc) / p.scale
        log_z = closed_form(p)[3]
        central = -0.5 * x * x - HALF_LOG_2PI - torch.log(p.scale) - log_z
        out = torch.where(p.narrow, narrow, torch.where(p.tail, tail, central))
        outside = (v < p.low) | (v > p.high)
        return torch.where(outside, -math.inf, out).to(torch.result_type(value, self.loc))

    def _moments(self) -> tuple[Tensor, Tensor, Tensor]:
        """``(mean, variance, entropy)`` in float64, each from its regime."""
        p = self._parts()
        log_i, mean_rho, var_rho = midpoint_moments(p.c1, p.c2)
        narrow = (
            p.mid + p.half * mean_rho,
            p.half * p.half * var_rho,
            torch.log(p.half) + log_i + p.c1 * mean_rho + p.c2 * (var_rho + mean_rho * mean_rho),
        )
        beta, log_i0, mean_y, var_y, near = self._tail(p)
        tail = (
            near + torch.where(p.mirrored, 1.0, -1.0) * p.scale * mean_y,
            p.scale * p.scale * var_y,
            torch.log(p.scale) + log_i0 + beta * mean_y + 0.5 * (var_y + mean_y * mean_y),
        )
        mean_c, var_c, tilt, log_z = closed_form(p)
        central = (
            p.loc + p.scale * mean_c,
            p.scale * p.scale * var_c,
            0.5 * math.log(2 * math.pi * math.e) + torch.log(p.scale) + log_z + 0.5 * tilt,
        )
        return tuple(  # type: ignore[return-value]
            torch.where(p.narrow, n, torch.where(p.tail, t, c))
            for n, t, c in zip(narrow, tail, central, strict=True)
        )

    @property
    def mean(self) -> Tensor:
        return self._moments()[0].to(self.loc.dtype)

    @property
    def variance(self) -> Tensor:
        return self._moments()[1].to(self.loc.dtype)

    def entropy(self) -> Tensor:
        """``-E[log f]``: ``log(sqrt(2 pi e) scale Z) + (a phi(a) - b phi(b)) / (2 Z)``."""
        return self._moments()[2].to(self.loc.dtype)
