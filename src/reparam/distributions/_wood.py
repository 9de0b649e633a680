"""Wood's (1994) rejection sampler for the angle of a von Mises-Fisher variable.

For ``x`` von Mises-Fisher on the unit sphere in ``R^d`` (concentration ``k``), the
component ``w = mu^T x`` has density proportional to
``exp(k w) (1 - w^2)^((d-3)/2)`` on ``[-1, 1]``. Wood (1994, "Simulation of the von
Mises Fisher distribution", Commun. Statist. Simula. 23(1)) proposes

    w = (1 - (1+b) z) / (1 - (1-b) z),   z ~ Beta((d-1)/2, (d-1)/2),

with ``b = (d-1) / (2k + sqrt(4k^2 + (d-1)^2))``, ``x0 = (1-b)/(1+b)`` and
``c = k x0 + (d-1) log(1 - x0^2)``, accepting when
``k w + (d-1) log(1 - x0 w) - c >= log u`` for ``u ~ U(0, 1)``.

We return the angle ``theta = arccos w`` computed as
``2 atan(sqrt(b z / (1 - z)))`` (since ``(1-w)/(1+w) = b z / (1-z)``), which stays
accurate when ``w`` is within rounding of 1. No gradient: the caller attaches the
implicit one.
"""

from __future__ import annotations

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


@torch.no_grad()
def wood_angle(kappa: Tensor, dim: int, shape: torch.Size) -> Tensor:
    """Angles ``theta = arccos(mu^T x)`` of ``shape``, float64, for ``kappa`` broadcastable.

    The rejection loop is bounded (``reparam.distributions._rejection``): a NaN
    concentration raises an error instead of looping forever. For concentrations
    past about ``1e15 (d - 1)`` the envelope's ``b`` falls below rounding and no
    proposal can pass; :func:`reparam.distributions._concentrated.vmf_angle` hands
    those (from far lower, ``1e4``) to the limit law.

    >>> theta = wood_angle(torch.tensor(1e3, dtype=torch.float64), 3, torch.Size([4]))
    >>> bool((theta > 0).all() and (theta < 0.2).all())
    True
    """
    flat_kappa = kappa.to(torch.float64).expand(shape).reshape(-1)
    b, x0, c = _envelope(flat_kappa, dim)
    half = torch.tensor((dim - 1.0) / 2.0, dtype=torch.float64, device=kappa.device)
    proposal = torch.distributions.Beta(half, half)

    def propose(pending: Tensor | None) -> tuple[Tensor, Tensor]:
        if pending is None:
            kp, bp, x0p, cp = flat_kappa, b, x0, c
        else:
            kp, bp, x0p, cp = flat_kappa[pending], b[pending], x0[pending], c[pending]
        z = proposal.sample(kp.shape)
        w = (1.0 - (1.0 + bp) * z) / (1.0 - (1.0 - bp) * z)
        u = torch.rand(kp.shape, dtype=torch.float64, device=kappa.device)
        accept = kp * w + (dim - 1.0) * torch.log(1.0 - x0p * w) - cp >= torch.log(u)
        return 2.0 * torch.atan(torch.sqrt(bp * z / (1.0 - z))), accept

    theta = rejection_sample(propose, flat_kappa, "Wood's von Mises-Fisher sampler")
    return theta.reshape(shape)
