"""Wood's (1994) rejection sampler for the angle of a von Mises-Fisher variable.

For ``x`` von Mises-Fisher on the unit sphere in ``R^d`` (concentration ``k``), the
component ``w = mu^T x`` has density proportional to
``exp(k w) (1 - w^2)^((d-3)/2)`` on ``[-1, 1]``. Wood (1994, "Simulation of the von
Mises Fisher distribution", Commun. Statist. Simula. 23(1)) proposes

    w = (1 - (1+b) z) / (1 - (1-b) z) = (1 - b r) / (1 + b r),
    z ~ Beta((d-1)/2, (d-1)/2),   r = z / (1 - z),

with ``b = (d-1) / (2k + sqrt(4k^2 + (d-1)^2))``, ``x0 = (1-b)/(1+b)`` and
``c = k x0 + (d-1) log(1 - x0^2)``, accepting when
``k w + (d-1) log(1 - x0 w) - c >= log u`` for ``u ~ U(0, 1)``.

We return the angle ``theta = arccos w`` computed as ``2 atan(sqrt(b r))`` (since
``(1-w)/(1+w) = b r``), which stays accurate when ``w`` is within rounding of 1.
No gradient: the caller attaches the implicit one.

The proposal's odds ``r`` come from two uniforms, without a Gamma variate: with
``z = (1 + t) / 2``, ``t`` is distributed as the first coordinate of a uniform point
on the sphere in ``R^d``, which is ``R cos(2 pi V)`` for the radius ``R`` of the
point's first two coordinates, ``R^2 = 1 - U^(2/(d-2))`` (their joint density on the
unit disc is proportional to ``(1 - R^2)^((d-4)/2)``; ``R = 1`` for ``d = 2``).
Then ``1 - t^2 = sin^2(2 pi V) + cos^2(2 pi V) U^(2/(d-2))``, a sum without
cancellation, and ``r = (1 - t^2) / (1 - t)^2`` for ``t < 0``,
``(1 + t)^2 / (1 - t^2)`` otherwise, accurate at both ends.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from reparam.distributions._rejection import rejection_sample


def _envelope(kappa: Tensor, dim: int) -> tuple[Tensor, Tensor, Tensor]:
    q = dim - 1.0
    b = q / (2.0 * kappa + torch.sqrt(4.0 * kappa * kappa + q * q))
    x0 = (1.0 - b) / (1.0 + b)
    # log(1 - x0^2) with 1 - x0 = 2b/(1+b) and 1 + x0 = 2/(1+b), exactly.
    c = kappa * x0 + q * (torch.log(4.0 * b) - 2.0 * torch.log1p(b))
    return b, x0, c


def symmetric_beta_odds(dim: int, shape: torch.Size, device: torch.device) -> Tensor:
    """``z / (1 - z)`` for ``z ~ Beta((d-1)/2, (d-1)/2)``, float64 (see the module docstring).

    >>> r = symmetric_beta_odds(3, torch.Size([100_000]), torch.device("cpu"))
    >>> z = r / (1 + r)  # Beta(1, 1): uniform, mean 1/2 and variance 1/12
    >>> abs(z.mean().item() - 0.5) < 0.005, abs(z.var().item() - 1 / 12) < 0.002
    (True, True)
    """
    power = math.inf if dim == 2 else 2.0 / (dim - 2)
    u = torch.rand(shape, dtype=torch.float64, device=device)
    angle = torch.rand(shape, dtype=torch.float64, device=device).mul_(2.0 * math.pi)
    cos, sin = torch.cos(angle), torch.sin(angle)
    u_power = u.log_().mul_(power).exp_()  # U^(2/(d-2)), 0 for d = 2
    t = torch.sqrt(1.0 - u_power).mul_(cos)
    one_minus_t2 = torch.addcmul(sin * sin, cos * cos, u_power)
    below, above = one_minus_t2 / (1.0 - t).square_(), (1.0 + t).square_() / one_minus_t2
    return torch.where(t < 0, below, above)


@torch.no_grad()
def wood_angle(kappa: Tensor, dim: int, shape: torch.Size) -> Tensor:
    """Angles ``theta = arccos(mu^T x)`` of ``shape``, float64, for ``kappa`` broadcastable.

    A fixed number of proposal rounds, without host reads
    (``reparam.distributions._rejection``): a sample not accepted within them
    (probability below ``1e-12``; always, for a NaN concentration) is ``NaN``. For
    concentrations past about ``1e15 (d - 1)`` the envelope's ``b`` falls below
    rounding and no proposal can pass;
    :func:`reparam.distributions._concentrated.vmf_angle` hands those (from far
    lower, ``1e4``) to the limit law.

    >>> theta = wood_angle(torch.tensor(1e3, dtype=torch.float64), 3, torch.Size([4]))
    >>> bool((theta > 0).all() and (theta < 0.2).all())
    True
    """
    flat_kappa = kappa.to(torch.float64).expand(shape).reshape(-1)
    envelope = torch.stack((*_envelope(flat_kappa, dim), flat_kappa))  # [4, n]: b, x0, c, k

    def propose(index: Tensor | None, rounds: int) -> tuple[Tensor, Tensor]:
        rows = envelope if index is None else envelope[:, index]
        b, x0, c, k = rows.unsqueeze(-1)  # each [m, 1]
        size = torch.Size([k.numel(), rounds])
        scaled_odds = symmetric_beta_odds(dim, size, kappa.device).mul_(b)
        w = (1.0 - scaled_odds) / (1.0 + scaled_odds)
        log_u = torch.rand(size, dtype=torch.float64, device=kappa.device).log_()
        accept = torch.log1p(-x0 * w).mul_(dim - 1.0).addcmul_(k, w).sub_(c) >= log_u
        return scaled_odds, accept

    scaled_odds = rejection_sample(propose, flat_kappa.numel())
    return torch.sqrt(scaled_odds).atan_().mul_(2.0).reshape(shape)
