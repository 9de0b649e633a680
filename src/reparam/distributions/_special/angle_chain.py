"""``d theta / d k`` for many angles of one concentration, chained through levels of ``h``.

:func:`reparam.distributions._special.angle.angle_dtheta_dkappa` integrates, for each
angle ``theta``, the unnormalized density ``h(phi) = exp(k cos phi) sin(phi)^(d-2)``
and ``cos(phi) h(phi)`` over the side of ``theta`` away from the mode, with 24 nodes
per angle. When many angles share a concentration, most of that work is shared:
on each side of the mode ``log h`` is monotone, so the angles of one side, ordered
by their drop ``l = log h(mode) - log h(theta)``, are ordered outward. We put each
angle in the level ``floor(l)`` of its side (no sort needed) and take the outermost
angle of each level as its *representative*. Then the integral outward of an angle is

    M(theta) = int_theta^{r(theta)} + M(r(theta)),
    M(r_j)   = int_{r_j}^{r_{j+1}} + M(r_{j+1}),

with ``r(theta)`` its level's representative and ``r_{j+1}`` the next non-empty
level's. Across each piece ``log h`` changes by at most 1 (within a level) or 2
(between neighbouring levels), where a 6-node Gauss-Legendre rule is accurate to
about ``1e-12`` of the piece (its error for ``exp(-2 t)`` on ``[0, 1]``). A
representative whose next piece would change ``log h`` by more than
``MAX_DROP = 2`` (an empty level between) or that is its side's outermost is an
*anchor*, integrated to the end by the per-angle rule, as is every angle past the
last level (``l >= LEVELS``, probability below ``e^-40`` per angle). All of this
runs on the device with sizes fixed by the shapes (no host read): the per-angle
rule is applied to every level's representative and kept at the anchors, and to
up to ``BEYOND_SLOTS`` angles past the last level. The chain of
representatives is a suffix sum over levels, ending at anchors. All integrals are
held relative to ``h`` at the mode.

The cost per angle is one 6-node rule instead of 24 nodes, plus ``2 LEVELS`` 24-node
rules per concentration: chaining is used from ``MIN_SHARED = 128`` angles per
concentration. Against the per-angle
rule with 256 nodes, for ``d = 2`` and from 4 to 100 and ``k`` from ``1e-3`` to the limit
law's threshold, the error is below ``1e-8`` of the batch's largest
``|d theta / d k|`` (tested), as the per-angle rule's own.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from reparam.distributions._special.angle import (
    _log_h,
    _mode,
    _node_sums,
    angle_dtheta_dkappa,
    per_angle_quadrature,
    tail_moments,
)
from reparam.distributions._special.bessel import iv_ratio

MAX_DROP = 2.0
"""Largest change of ``log h`` across a piece integrated by the short rule."""

LEVELS = 40
"""Levels of ``log h`` per side; angles further from the mode use the per-angle rule."""

MIN_SHARED = 128
"""Angles per concentration from which chaining is used (fewer: the per-angle rule).

Chaining integrates every level's representative to the end of its side
(``2 LEVELS`` per concentration, 24 nodes each), so it pays from about as many
angles as that costs."""

BEYOND_SLOTS = 4
"""Angles past the last level per call that get the per-angle rule."""

_NODES = 6


def shares_concentration(theta: Tensor, kappa: Tensor, dim: int) -> bool:
    """Whether ``theta`` is ``[*sample, *kappa.shape]`` with enough samples to chain
    (never for ``d = 3``, which has a closed form)."""
    trailing = theta.shape[theta.dim() - kappa.dim() :] if kappa.dim() else torch.Size()
    return (
        dim != 3
        and theta.dim() >= kappa.dim()
        and trailing == kappa.shape
        and theta.numel() >= MIN_SHARED * max(kappa.numel(), 1)
    )


def dtheta_dkappa(theta: Tensor, kappa: Tensor, dim: int) -> Tensor:
    """``d theta / d kappa`` (float64, no gradient): :func:`angle_dtheta_dkappa`, with the
    chained rule where :func:`shares_concentration` (the same values to ``1e-8``).

    >>> k = torch.tensor(3.0, dtype=torch.float64)
    >>> theta = torch.linspace(0.05, 3.0, 256, dtype=torch.float64)
    >>> bool(torch.allclose(dtheta_dkappa(theta, k, 5), angle_dtheta_dkappa(theta, k, 5)))
    True
    """
    if shares_concentration(theta, kappa, dim):
        return angle_dtheta_dkappa(theta, kappa, dim, chained_dtheta_dkappa)
    return angle_dtheta_dkappa(theta, kappa, dim)


def chained_dtheta_dkappa(theta: Tensor, kappa: Tensor, dim: int) -> Tensor:
    """``d theta / d kappa`` (float64, no gradient) for ``theta`` of ``[*sample, *kappa.shape]``.

    >>> from reparam.distributions._special.angle import tail_quadrature
    >>> k = torch.tensor(10.0, dtype=torch.float64)
    >>> theta = torch.linspace(0.05, 3.0, 64, dtype=torch.float64)
    >>> chained = chained_dtheta_dkappa(theta, k, 10)
    >>> bool(torch.allclose(chained, tail_quadrature(theta, k, 10)[2], rtol=1e-9, atol=0))
    True
    """
    columns = max(kappa.numel(), 1)
    flat = theta.reshape(-1, columns).clamp(1e-12, math.pi - 1e-12)
    k = kappa.reshape(1, columns)
    mean_cos = iv_ratio(dim / 2.0 - 1.0, k)
    mode = _mode(k, dim)
    log_peak = _log_h(mode, k, dim)
    drop = (log_peak - _log_h(flat, k, dim)).clamp_min_(0.0)
    upper = flat >= mode
    level = drop.floor().clamp_max_(LEVELS).long()
    beyond = level == LEVELS

    # Levels of one column and side, in order outward: [columns, 2 sides, LEVELS + 1].
    slot = (torch.arange(columns, device=flat.device) * 2 + upper.long()) * (LEVELS + 1) + level
    key = torch.where(upper, flat, -flat)  # outward = larger key on both sides
    outer_key = torch.full(
        (columns * 2 * (LEVELS + 1),), -math.inf, dtype=flat.dtype, device=flat.device
    ).scatter_reduce_(0, slot.reshape(-1), key.reshape(-1), "amax")
    outer_key = outer_key.reshape(columns, 2, LEVELS + 1)[..., :LEVELS]
    occupied = outer_key > -math.inf
    k3, peak3 = k.reshape(columns, 1, 1), log_peak.reshape(columns, 1, 1)
    representative = torch.where(occupied, outer_key.abs(), mode.reshape(columns, 1, 1))
    chain_mass, chain_first = _representatives(representative, occupied, k3, peak3, dim)

    index = _table_index(slot, level)
    own = representative.reshape(-1)[index].reshape_as(flat)
    short_mass, short_first = _piece(flat, own, k, dim, log_peak)
    mass = short_mass + chain_mass.reshape(-1)[index].reshape_as(flat)
    first = short_first + chain_first.reshape(-1)[index].reshape_as(flat)
    signed = (first - mean_cos * mass) * torch.exp(drop)
    slope = torch.where(upper, signed, -signed)
    return _redo_beyond(slope, beyond, flat, k, dim).reshape(theta.shape)


def _redo_beyond(slope: Tensor, beyond: Tensor, flat: Tensor, k: Tensor, dim: int) -> Tensor:
    """The slopes of up to ``BEYOND_SLOTS`` angles past the last level, by the per-angle rule.

    A fixed number of slots, picked on the device (no host read). More angles than
    that past the last level has probability below ``(n e^-40)^5 / 5!`` for ``n``
    angles; they would keep the chain's less accurate slope.
    """
    slots = min(BEYOND_SLOTS, slope.numel())
    index = torch.topk(beyond.reshape(-1).to(torch.uint8), slots, sorted=False).indices
    theta, kappa = flat.reshape(-1)[index], k.expand_as(flat).reshape(-1)[index]
    redone = per_angle_quadrature(theta, kappa, dim)
    flat_slope = slope.reshape(-1)
    chosen = beyond.reshape(-1)[index]
    return flat_slope.scatter(0, index, torch.where(chosen, redone, flat_slope[index]))


def _table_index(slot: Tensor, level: Tensor) -> Tensor:
    """Flat indices into ``[columns, 2, LEVELS]`` tables (angles past the last level: any)."""
    column_side, within = slot // (LEVELS + 1), level.clamp_max(LEVELS - 1)
    return (column_side * LEVELS + within).reshape(-1)


def _piece(
    start: Tensor, end: Tensor, k: Tensor, dim: int, log_peak: Tensor
) -> tuple[Tensor, Tensor]:
    """``int h`` and ``int cos(phi) h`` from ``start`` to ``end``, relative to ``h`` at the mode."""
    width = end - start
    mass, first = _node_sums(start, width, k, dim, log_peak, _NODES)
    length = width.abs_()
    return mass.mul_(length), first.mul_(length)


def _representatives(
    representative: Tensor, occupied: Tensor, k: Tensor, log_peak: Tensor, dim: int
) -> tuple[Tensor, Tensor]:
    """``M(r_j)`` for each level's representative (``[columns, 2, LEVELS]``), mode-relative.

    Each occupied level links to the next occupied one outward; a level without a
    next, or whose link changes ``log h`` by more than ``MAX_DROP``, is an anchor,
    integrated to the end of its side by the per-angle rule. ``M(r_j)`` is the sum of
    the links from ``j`` to its nearest anchor ``a`` outward, plus ``M(r_a)``.
    """
    levels = representative.shape[-1]
    position = torch.arange(levels, device=representative.device).expand_as(representative)
    marked = torch.where(occupied, position, levels)
    at_or_after = marked.flip(-1).cummin(-1).values.flip(-1)
    following = torch.cat([at_or_after[..., 1:], torch.full_like(at_or_after[..., :1], levels)], -1)
    has_next = following < levels
    next_level = following.clamp_max(levels - 1)
    successor = representative.gather(-1, next_level)
    drop = log_peak - _log_h(representative, k, dim)
    step = (drop.gather(-1, next_level) - drop).abs()
    linked = occupied & has_next & (step <= MAX_DROP)
    anchor = occupied & ~linked

    link_mass, link_first = _piece(representative, successor, k, dim, log_peak)
    # Every level's integral to the end of its side (kept at the anchors only): fixed
    # work, LEVELS per side and concentration, against MIN_SHARED angles or more.
    _, _, mass, first = tail_moments(representative, k.expand_as(representative), dim)
    scale = torch.exp(-drop)
    anchor_mass = torch.where(anchor, mass * scale, 0.0)
    anchor_first = torch.where(anchor, first * scale, 0.0)

    nearest = torch.where(anchor, position, levels - 1).flip(-1).cummin(-1).values.flip(-1)
    out = []
    for link, at_anchor in ((link_mass, anchor_mass), (link_first, anchor_first)):
        link = torch.where(linked, link, 0.0)
        total = torch.cat([link.flip(-1).cumsum(-1).flip(-1), torch.zeros_like(link[..., :1])], -1)
        out.append(total[..., :levels] - total.gather(-1, nearest) + at_anchor.gather(-1, nearest))
    return out[0], out[1]
