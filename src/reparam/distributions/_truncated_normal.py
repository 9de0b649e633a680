"""The normal distribution truncated to ``[low, high]``, reparameterized.

With ``a = (low - loc) / scale``, ``b = (high - loc) / scale`` and
``Z = Phi(b) - Phi(a)``, the density is ``phi((x - loc)/scale) / (scale Z)`` on
``[low, high]``. Samples come from the inverse CDF in log space (see
``reparam.distributions._special.normal_tails``), accurate for intervals far in the tails
(``[8, 9]`` standard deviations out and beyond, in float32 and float64).

Gradients by implicit reparameterization (Figurnov, Mohamed and Mnih, 2018): for
the standardized sample ``x`` with ``F(x) = u``,

    dx/da = (1 - u) phi(a) / phi(x),   dx/db = u phi(b) / phi(x),

evaluated as ``exp(log(1 - u) + (x^2 - a^2)/2)`` and ``exp(log u + (x^2 - b^2)/2)``,
and ``z = loc + scale x`` carries the rest (autograd composes through ``a`` and ``b``).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor
from torch.distributions import Distribution, constraints
from torch.distributions.utils import broadcast_all

from reparam._numerics import HALF_LOG_2PI
from reparam.distributions._shapes import SampleShape
from reparam.distributions._special.implicit import attach_gradient
from reparam.distributions._special.normal_tails import (
    inverse_log_ndtr,
    log_mass,
    log_ndtr,
    log_normal_density,
    times_density,
)


class TruncatedNormal(Distribution):
    """Normal ``N(loc, scale^2)`` conditioned on ``[low, high]`` (bounds may be infinite).

    >>> import torch
    >>> from reparam.distributions import TruncatedNormal
    >>> d = TruncatedNormal(0.0, 1.0, 8.0, 9.0)  # far in the right tail
    >>> x = d.rsample((1000,))
    >>> bool(((x >= 8) & (x <= 9)).all()), round(d.mean.item(), 4)
    (True, 8.1212)
    """

    arg_constraints = {  # noqa: RUF012
        "loc": constraints.real,
        "scale": constraints.positive,
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
        shape = torch.Size(batch_shape)
        loc, scale, low, high = (
            p.expand(shape) for p in (self.loc, self.scale, self.low, self.high)
        )
        return TruncatedNormal(loc, scale, low, high, validate_args=False)

    def _bounds(self) -> tuple[Tensor, Tensor]:
        """Standardized bounds ``(a, b)``; infinite bounds carry no (nan) gradient."""

        def standardize(bound: Tensor) -> Tensor:
            finite = torch.where(bound.isfinite(), bound, 0.0)
            return torch.where(bound.isfinite(), (finite - self.loc) / self.scale, bound)

        return standardize(self.low), standardize(self.high)

    def _reflected_bounds(self) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """``(mirrored, a', b', log Z)``, float64, differentiable, with ``a' + b' <= 0``."""
        a, b = (t.double() for t in self._bounds())
        mirrored = (a + b).detach() > 0
        a_r, b_r = torch.where(mirrored, -b, a), torch.where(mirrored, -a, b)
        return mirrored, a_r, b_r, log_mass(a_r, b_r)

    def rsample(self, sample_shape: SampleShape = ()) -> Tensor:
        shape = self._extended_shape(torch.Size(sample_shape))
        u = torch.rand(shape, dtype=torch.float64, device=self.loc.device)
        return self.icdf(u)

    def icdf(self, value: Tensor) -> Tensor:
        """The quantile at probabilities ``value``, with implicit gradients in all parameters."""
        with torch.no_grad():
            mirrored, a_r, b_r, _ = self._reflected_bounds()
            u = torch.where(mirrored, 1.0 - value.to(torch.float64), value.to(torch.float64))
            log_ratio = log_ndtr(a_r) - log_ndtr(b_r)
            log_r_plus = torch.logaddexp(log_ratio, torch.log(u) + torch.log1p(-log_ratio.exp()))
            x_r = inverse_log_ndtr(log_ndtr(b_r) + log_r_plus)
            x_r = torch.minimum(torch.maximum(x_r, a_r), b_r)
            half_x2 = 0.5 * x_r * x_r
            d_low = torch.exp(torch.log1p(-u) + half_x2 + log_normal_density(a_r) + HALF_LOG_2PI)
            d_high = torch.exp(torch.log(u) + half_x2 + log_normal_density(b_r) + HALF_LOG_2PI)
            x = torch.where(mirrored, -x_r, x_r)
            dx_da = torch.where(mirrored, d_high, d_low).nan_to_num(0.0)
            dx_db = torch.where(mirrored, d_low, d_high).nan_to_num(0.0)
        dtype = self.loc.dtype
        a, b = self._bounds()
        finite_a = torch.where(a.isfinite(), a, 0.0)
        finite_b = torch.where(b.isfinite(), b, 0.0)
        x_t = attach_gradient(
            x.to(dtype), [(dx_da.to(dtype), finite_a), (dx_db.to(dtype), finite_b)]
        )
        z = self.loc + self.scale * x_t
        inside = torch.minimum(torch.maximum(z.detach(), self.low), self.high)
        return z + (inside - z.detach())

    def cdf(self, value: Tensor) -> Tensor:
        if self._validate_args:
            self._validate_sample(value)
        mirrored, a_r, b_r, log_z = self._reflected_bounds()
        x = (value - self.loc) / self.scale
        x_r = torch.where(mirrored, -x, x).double()
        x_r = torch.minimum(torch.maximum(x_r, a_r), b_r)
        below = torch.exp(log_ndtr(x_r) - log_z) - torch.exp(log_ndtr(a_r) - log_z)
        below = below.clamp(0.0, 1.0).to(x.dtype)
        return torch.where(mirrored, 1.0 - below, below)

    def log_prob(self, value: Tensor) -> Tensor:
        if self._validate_args:
            self._validate_sample(value)
        log_z = self._reflected_bounds()[3]
        x = (value - self.loc) / self.scale
        out = -0.5 * x * x - HALF_LOG_2PI - torch.log(self.scale) - log_z.to(x.dtype)
        outside = (value < self.low) | (value > self.high)
        return torch.where(outside, -math.inf, out)

    def _moments(self) -> tuple[Tensor, Tensor, Tensor]:
        """Standardized ``(mean, variance, (a phi(a) - b phi(b)) / Z)``, differentiable."""
        mirrored, a_r, b_r, log_z = self._reflected_bounds()
        mean_r = torch.exp(log_normal_density(a_r) - log_z) - torch.exp(
            log_normal_density(b_r) - log_z
        )
        tilt = times_density(a_r, -log_z) - times_density(b_r, -log_z)
        variance = 1.0 + tilt - mean_r * mean_r
        mean = torch.where(mirrored, -mean_r, mean_r)
        dtype = self.loc.dtype
        return mean.to(dtype), variance.to(dtype), tilt.to(dtype)

    @property
    def mean(self) -> Tensor:
        return self.loc + self.scale * self._moments()[0]

    @property
    def variance(self) -> Tensor:
        return self.scale.pow(2) * self._moments()[1]

    def entropy(self) -> Tensor:
        """``log(sqrt(2 pi e) scale Z) + (a phi(a) - b phi(b)) / (2 Z)``."""
        log_z = self._reflected_bounds()[3].to(self.loc.dtype)
        tilt = self._moments()[2]
        return 0.5 * math.log(2 * math.pi * math.e) + torch.log(self.scale) + log_z + 0.5 * tilt
