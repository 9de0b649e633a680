"""The regimes of ``TruncatedNormal``: which coordinates each parameter set is computed in.

See ``reparam.distributions._truncated_normal`` for the regimes (narrow, tail,
closed form) and why. :func:`regimes` builds every regime's quantities at once,
in float64, each branch from inputs made safe (finite) where it does not apply.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
from torch import Tensor

from reparam.distributions._midpoint import NARROW
from reparam.distributions._special.normal_tails import log_mass, log_normal_density, times_density

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
    is done for those alone: one read of three flags in eager mode (a synchronisation
    on a GPU); compiled, every regime is computed and selected, with no host read."""
    if torch.compiler.is_compiling():
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
