"""A normal density beyond a bound, in the distance ``y`` from that bound.

For a standard normal truncated to ``[b - L, b]`` with ``b <= 0`` (the mass leans
on the upper bound ``b``; reflect otherwise), ``x = b - y`` gives

    phi(b - y) = phi(b) exp(-beta y - y^2 / 2),   beta = -b >= 0,   y in [0, L],

so the mass is ``Z = phi(b) I_0`` with ``I_k = int_0^L y^k exp(-beta y - y^2/2) dy``,
the mean is ``b - E[y]`` and the variance ``Var[y]``. The closed forms
``1 + (a phi(a) - b phi(b)) / Z - mean^2`` subtract numbers of size ``b^2`` to get
one of size ``1 / b^2`` (all precision lost from ``b`` near ``-1e4`` on); here
``Var[y] = E[y^2] - E[y]^2`` with ``E[y^2] <= 2 E[y]^2 + Var[y]``-sized terms,
never a large cancellation. The integrand falls by ``e^-46`` (below float64's
rounding of the total) at ``Y = 92 / (beta + sqrt(beta^2 + 92))``, solving
``beta Y + Y^2 / 2 = 46``; ``[0, min(L, Y)]`` is cut into 4 panels of a 16-node
Gauss-Legendre rule, each panel spanning a fall of at most ``e^-11.5``, which the
rule integrates to rounding. Float64, differentiable in ``beta`` and ``L``.
"""

from __future__ import annotations

import torch
from torch import Tensor

from reparam._numerics import gauss_rule

PANELS = 4
_x, _w = gauss_rule("legendre", 16)
_OFFSETS = torch.arange(PANELS, dtype=torch.float64)
UNIT_NODES = ((_OFFSETS.unsqueeze(-1) + 0.5 * (_x + 1.0)) / PANELS).reshape(-1)
UNIT_WEIGHTS = (0.5 * _w / PANELS).repeat(PANELS)
"""A composite rule on ``[0, 1]``: 4 panels of 16 Gauss-Legendre nodes."""

CUTOFF = 46.0
"""The integrand is cut where it has fallen by ``e^-CUTOFF``."""


def tail_moments(beta: Tensor, length: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """``(log I_0, E[y], Var[y])`` for ``beta >= 0``, ``length > 0`` (may be ``inf``).

    >>> beta = torch.tensor([0.0, 1e4], dtype=torch.float64)
    >>> log_i0, mean, var = tail_moments(beta, torch.full_like(beta, torch.inf))
    >>> [round(float(t), 9) for t in log_i0.exp() * (2 / torch.pi) ** 0.5]  # Phi(0)/phi(0)
    [1.0, 7.9788e-05]
    >>> round(float(var[1] * 1e8), 12)  # 1/beta^2 - 6/beta^4 + ... far out
    0.99999994
    """
    reach = 2 * CUTOFF / (beta + torch.sqrt(beta * beta + 2 * CUTOFF))
    end = torch.minimum(length, reach).unsqueeze(-1)
    y = end * UNIT_NODES.to(beta.device)
    weights = end * UNIT_WEIGHTS.to(beta.device)
    log_g = -beta.unsqueeze(-1) * y - 0.5 * y * y
    g = weights * torch.exp(log_g)
    total = g.sum(-1)
    mean = (g * y).sum(-1) / total
    second = (g * (y - mean.unsqueeze(-1)) ** 2).sum(-1) / total
    return torch.log(total), mean, second
