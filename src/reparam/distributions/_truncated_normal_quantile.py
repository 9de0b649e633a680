"""Quantiles of ``TruncatedNormal`` (its samples), with implicit gradients, per regime.

See ``reparam.distributions._truncated_normal`` for the regimes and the accuracy.
"""

from __future__ import annotations

import torch
from torch import Tensor

from reparam.distributions._midpoint import midpoint_cdf, midpoint_density, midpoint_icdf
from reparam.distributions._special.implicit import attach_gradient
from reparam.distributions._special.normal_tails import (
    inverse_log_ndtr,
    log_ndtr,
    log_partial_mass,
    tail_log_survival,
    tail_mean,
)
from reparam.distributions._tail_quadrature import tail_moments
from reparam.distributions._truncated_normal_regimes import (
    Parts,
    from_rho,
    present,
    tail_coordinates,
)


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
