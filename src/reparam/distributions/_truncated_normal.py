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
  (``reparam.distributions._special.normal_midpoint``): moments, ``log_prob``, ``cdf`` and
  samples by Gauss-Legendre quadrature and Newton's method, no difference of
  ``Phi``. ``c1 = c2 = 0`` is the uniform limit, reached smoothly;
* a tail (the interval, reflected to lean left, ends at ``b <= 0``): moments,
  entropy and ``log_prob`` in the distance from the nearer bound
  (``reparam.distributions._special.normal_tail_moments``), with no cancellation however far out;
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
to the bound and the standardized width (see :func:`quantile`).
Neither cancels as the scale grows or shrinks.

The module holds the distribution, the choice of regime (:func:`regimes` builds
every regime's quantities at once, in float64, each branch from inputs made safe,
finite, where it does not apply) and the quantile per regime (the sampler), so it
runs past 300 lines; the normal density in midpoint and in tail coordinates and
the normal CDF in log space are special functions, in
``reparam.distributions._special``.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
from torch import Tensor
from torch.distributions import Distribution, constraints
from torch.distributions.utils import broadcast_all

from reparam._numerics import HALF_LOG_2PI
from reparam.distributions._constraints import finite, positive_finite
from reparam.distributions._shapes import SampleShape
from reparam.distributions._special.implicit import attach_gradient
from reparam.distributions._special.normal_midpoint import (
    NARROW,
    midpoint_cdf,
    midpoint_density,
    midpoint_icdf,
    midpoint_moments,
)
from reparam.distributions._special.normal_tail_moments import tail_moments
from reparam.distributions._special.normal_tails import (
    inverse_log_ndtr,
    log_mass,
    log_ndtr,
    log_normal_density,
    log_partial_mass,
    tail_log_survival,
    tail_mean,
    times_density,
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


F64 = torch.float64


class Parts(NamedTuple):
    """The float64 quantities of every regime, each branch fed safe values elsewhere."""

    loc: Tensor
    scale: Tensor
    low: Tensor
    high: Tensor
    narrow: Tensor  # regime masks (no gradient)
    tail: Tensor
    mid: Tensor  # narrow: original units, and (c1, c2)
    half: Tensor
    c1: Tensor
    c2: Tensor
    mirrored: Tensor  # the rest: reflected standardized bounds with a' + b' <= 0
    a_r: Tensor
    b_r: Tensor
    log_z: Tensor


def regimes(loc: Tensor, scale: Tensor, low: Tensor, high: Tensor) -> Parts:
    """Regime masks first, then each branch from inputs made safe (finite) elsewhere,
    so that no branch's inf or nan reaches the gradient of another through ``where``."""
    loc, scale, low, high = (t.to(F64) for t in (loc, scale, low, high))
    with torch.no_grad():
        half = 0.5 * (high - low)
        h, m = half / scale, (low + half - loc) / scale
        narrow = low.isfinite() & high.isfinite() & ((m * h).abs() + 0.5 * h * h <= NARROW)

    def safe(t: Tensor, mask: Tensor, value: float) -> Tensor:
        return torch.where(mask, t, value)

    n_low, n_high = safe(low, narrow, -1.0), safe(high, narrow, 1.0)
    n_loc, n_scale = safe(loc, narrow, 0.0), safe(scale, narrow, 1.0)
    half = 0.5 * (n_high - n_low)
    mid = n_low + half
    h, m = half / n_scale, (mid - n_loc) / n_scale
    w_loc, w_scale = safe(loc, ~narrow, 0.0), safe(scale, ~narrow, 1.0)

    def standardize(bound: Tensor, value: float) -> Tensor:
        ok = bound.isfinite() & ~narrow
        standard = (torch.where(ok, bound, 0.0) - w_loc) / w_scale
        return torch.where(ok, standard, torch.where(narrow, value, bound))

    a, b = standardize(low, -1.0), standardize(high, 1.0)
    mirrored = ((a + b) > 0).detach()
    a_r, b_r = torch.where(mirrored, -b, a), torch.where(mirrored, -a, b)
    return Parts(
        loc=w_loc,
        scale=w_scale,
        low=low,
        high=high,
        narrow=narrow,
        tail=(~narrow & (b_r <= 0)).detach(),
        mid=mid,
        half=half,
        c1=m * h,
        c2=0.5 * h * h,
        mirrored=mirrored,
        a_r=a_r,
        b_r=b_r,
        log_z=log_mass(a_r, b_r),
    )


def present(p: Parts) -> tuple[bool, bool, bool]:
    """Which regimes (narrow, tail, closed-form) the batch holds, so that per-sample work
    is done for those alone. The three flags are read only where that costs nothing:
    eagerly on a CPU. On any other device (where a read would synchronise) and in
    compiled code, every regime is computed and selected on the device."""
    if torch.compiler.is_compiling() or p.narrow.device.type != "cpu":
        return True, True, True
    flags = torch.stack([p.narrow.any(), p.tail.any(), (~(p.narrow | p.tail)).any()])
    narrow, tail, closed = flags.tolist()
    return narrow, tail, closed


def from_rho(p: Parts, rho: Tensor) -> Tensor:
    """``mid + half rho``, measured from the nearer bound: exact to its ulps at the bounds."""
    low, high = torch.where(p.narrow, p.low, -1.0), torch.where(p.narrow, p.high, 1.0)
    return torch.where(rho < 0, low + p.half * (rho + 1.0), high - p.half * (1.0 - rho))


def to_rho(p: Parts, value: Tensor) -> Tensor:
    """``(value - mid) / half``, measured from the nearer bound (``value - low`` is exact
    near ``low``, where ``value - mid`` would carry the rounding of ``mid``)."""
    low, high = torch.where(p.narrow, p.low, -1.0), torch.where(p.narrow, p.high, 1.0)
    below = value - low <= high - value
    return torch.where(below, (value - low) / p.half - 1.0, 1.0 - (high - value) / p.half)


def tail_coordinates(p: Parts) -> tuple[Tensor, Tensor, Tensor]:
    """``(beta, length, near)`` of the tail regime (safe values elsewhere): the standardized
    interval, reflected, is ``[-beta - length, -beta]`` and ``near`` the nearer bound."""
    beta = torch.where(p.tail, -p.b_r, 1.0)
    length = torch.where(p.tail, p.b_r - p.a_r, math.inf)
    near = torch.where(p.tail, torch.where(p.mirrored, p.low, p.high), 0.0)
    return beta, length, near


def closed_form(p: Parts) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Standardized ``(mean, variance, (a phi(a) - b phi(b)) / Z, log Z)`` by the closed
    forms, from safe bounds outside the central regime."""
    central = ~p.narrow & ~p.tail
    a_r, b_r = torch.where(central, p.a_r, -1.0), torch.where(central, p.b_r, 1.0)
    log_z = log_mass(a_r, b_r)
    mean_r = torch.exp(log_normal_density(a_r) - log_z) - torch.exp(log_normal_density(b_r) - log_z)
    tilt = times_density(a_r, -log_z) - times_density(b_r, -log_z)
    variance = 1.0 + tilt - mean_r * mean_r
    return torch.where(p.mirrored, -mean_r, mean_r), variance, tilt, log_z


def quantile(p: Parts, u: Tensor, needs_grad: bool) -> Tensor:
    """The quantile at probabilities ``u`` (float64), with implicit gradients in all
    parameters when ``needs_grad``; float64, kept within ``[low, high]``."""
    narrow, tail, closed = present(p)
    z = torch.empty(())
    if tail or closed:
        z = _wide_quantile(p, u, needs_grad, tail)
    if narrow:
        rho = midpoint_icdf(u, p.c1, p.c2)
        if needs_grad:  # drho/dc = -(dF/dc) / f, through the quadrature's F
            density = midpoint_density(rho, p.c1, p.c2).detach()
            cdf = midpoint_cdf(rho, p.c1, p.c2)
            rho = rho - (cdf - cdf.detach()) / density
        z_narrow = from_rho(p, rho)
        z = torch.where(p.narrow, z_narrow, z) if tail or closed else z_narrow
    low, high = p.low.detach(), p.high.detach()
    inside = torch.minimum(torch.maximum(z.detach(), low), high)
    return z + (inside - z.detach())


def _wide_quantile(p: Parts, u: Tensor, needs_grad: bool, tail: bool) -> Tensor:
    """The quantile in log space with the implicit gradients ``dx/da``, ``dx/db``.

    In the tail regime Newton's method then solves ``log P(Y > y) = log u`` in the
    distance ``y`` from the nearer bound, where the log-space quantile loses
    ``b^2`` ulps, and ``phi(a) / phi(x)`` is taken as ``exp((x - a)(x + a) / 2)``
    with ``x - a`` from ``y``.
    """
    with torch.no_grad():
        a_r, b_r = p.a_r.detach(), p.b_r.detach()
        log_u_r = torch.where(p.mirrored, torch.log1p(-u), torch.log(u))
        log_rest = torch.where(p.mirrored, torch.log(u), torch.log1p(-u))
        log_ratio = log_ndtr(a_r) - log_ndtr(b_r)
        log_r_plus = torch.logaddexp(log_ratio, log_u_r + torch.log1p(-log_ratio.exp()))
        x_r = inverse_log_ndtr(log_ndtr(b_r) + log_r_plus)
        x_r = torch.minimum(torch.maximum(x_r, a_r), b_r)
        beta, length, _ = (t.detach() for t in tail_coordinates(p))
        y = torch.minimum((b_r - x_r).clamp(min=0.0), length)
        for _ in range(2 if tail else 0):
            miss = tail_log_survival(y, beta, length) - log_u_r
            step = miss * torch.exp(log_partial_mass(beta + y, length - y))
            y = torch.minimum((y + step.nan_to_num(0.0)).clamp(min=0.0), length)
        x_r = torch.where(p.tail, b_r - y, x_r)
        above_a = torch.where(p.tail, length - y, x_r - a_r)
        above_b = torch.where(p.tail, -y, x_r - b_r)
        d_low = torch.exp(log_rest + 0.5 * above_a * (x_r + a_r))
        d_high = torch.exp(log_u_r + 0.5 * above_b * (x_r + b_r))
        x = torch.where(p.mirrored, -x_r, x_r)
        dx_da = torch.where(p.mirrored, d_high, d_low).nan_to_num(0.0)
        dx_db = torch.where(p.mirrored, d_low, d_high).nan_to_num(0.0)
    a = torch.where(p.mirrored, -p.b_r, p.a_r)
    b = torch.where(p.mirrored, -p.a_r, p.b_r)
    finite_a = torch.where(a.isfinite(), a, 0.0)
    finite_b = torch.where(b.isfinite(), b, 0.0)
    x_t = attach_gradient(x, [(dx_da, finite_a), (dx_db, finite_b)])
    z = p.loc + p.scale * x_t
    return torch.where(p.tail, _tail_sample(p, y, needs_grad), z) if tail else z


def _tail_sample(p: Parts, y: Tensor, needs_grad: bool) -> Tensor:
    """``near -+ scale y`` with ``y``'s implicit gradients in ``beta`` and ``length``.

    ``log S(y; beta, L) = log u`` with ``S = P(Y > y)`` gives
    ``dy/dtheta = (d log S / d theta) I(beta + y, L - y)`` (the slope in ``y`` is
    ``-1 / I``), with ``d log S / d beta = -y - mu(beta + y, L - y) + mu(beta, L)``
    (``mu`` the mean of the density on its interval, by a continued fraction far
    out, where ``(1 - e^...) / I - t`` would cancel; see ``_normal_tails.tail_mean``)
    and ``d log S / d L`` the difference of the two normalised densities at the far
    end. No term cancels as ``beta`` grows.
    """
    beta, length, near = tail_coordinates(p)
    if not needs_grad:
        return torch.where(p.mirrored, near + p.scale * y, near - p.scale * y)
    with torch.no_grad():
        b, ell = beta.detach(), length.detach()
        rest = ell - y
        open_rest = rest > 0
        rest = torch.where(open_rest, rest, 1.0)
        log_rest, mean_rest = log_partial_mass(b + y, rest), tail_mean(b + y, rest)
        log_all, mean_all, _ = tail_moments(b, ell)
        far_rest = torch.exp(-(b + y) * rest - 0.5 * rest * rest - log_rest)
        far_all = torch.exp(-b * ell - 0.5 * ell * ell - log_all)
        weight = torch.where(open_rest, torch.exp(log_rest), 0.0)
        dy_dbeta = (-y - mean_rest + mean_all) * weight
        dy_dlength = (far_rest - far_all).nan_to_num(0.0) * weight
    finite_length = torch.where(length.isfinite(), length, 0.0)
    y_t = attach_gradient(y, [(dy_dbeta, beta), (dy_dlength, finite_length)])
    return torch.where(p.mirrored, near + p.scale * y_t, near - p.scale * y_t)
