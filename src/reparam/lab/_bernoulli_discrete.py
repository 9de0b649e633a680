"""Exact per-sample variances of the discrete-latent estimators on the Bernoulli toy.

For ``z ~ Bernoulli(p)``, ``p = sigmoid(theta)``, and a cost with values
``f0 = f(0)``, ``f1 = f(1)`` (derivative ``f'`` for the relaxed estimators), the
gradient terms with respect to ``theta`` are, with ``m = min(p, 1 - p)``:

* straight-through: ``f'(z) p (1 - p)``, a two-point distribution;
* DisARM: ``(f1 - f0) sigmoid(|theta|) / 2`` with probability ``2 m``, else 0;
* ARM: ``(f(b~) - f(b)) (u - 1/2)``, nonzero for ``u < m`` or ``u > 1 - m``, so
  ``E[g^2] = (f1 - f0)^2 * 2 ((m - 1/2)^3 + 1/8) / 3``;
* Gumbel-softmax and its straight-through variant (temperature ``tau``, the
  registry's default 1): ``f'(y) dy/dtheta`` with ``y = sigmoid((theta + L) / tau)``
  (and ``f'`` at ``H = 1[theta + L > 0]`` for straight-through), by Gauss-Legendre
  quadrature over the uniform ``u`` behind ``L = logit(u)``, split where ``H`` jumps.

Each is the variance of *one* term; the ``S``-sample estimate averages ``S``
independent terms (``S`` antithetic pairs for ARM and DisARM). ``theta`` may hold
several values (independent toys): the variances are then per value.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from reparam.lab._quadrature import legendre_rule

Cost = Callable[[Tensor], Tensor]


def discrete_variances(
    cost: Cost, theta: Tensor, temperature: float = 1.0
) -> dict[str, Callable[[], dict[str, Tensor]]]:
    """Estimator short name -> function returning ``{"theta": per-sample variance}``."""
    theta = theta.to(torch.float64)
    p = torch.sigmoid(theta)
    f0, f1 = (
        cost(torch.tensor(0.0, dtype=torch.float64)),
        cost(torch.tensor(1.0, dtype=torch.float64)),
    )
    m = torch.minimum(p, 1 - p)
    mean = (f1 - f0) * p * (1 - p)

    def straight_through() -> dict[str, Tensor]:
        slope = [_derivative(cost, z) * p * (1 - p) for z in (0.0, 1.0)]
        return {"theta": p * (1 - p) * (slope[1] - slope[0]).square()}

    def disarm() -> dict[str, Tensor]:
        value = 0.5 * (f1 - f0) * torch.sigmoid(theta.abs())
        return {"theta": value.square() * 2 * m - mean.square()}

    def arm() -> dict[str, Tensor]:
        second = (f1 - f0).square() * 2 * ((m - 0.5) ** 3 + 0.125) / 3
        return {"theta": second - mean.square()}

    def relaxed(straight: bool) -> Callable[[], dict[str, Tensor]]:
        return lambda: {"theta": _relaxed_variance(cost, theta, temperature, straight)}

    return {
        "straight-through": straight_through,
        "arm": arm,
        "disarm": disarm,
        "gumbel-softmax": relaxed(False),
        "st-gumbel-softmax": relaxed(True),
    }


def _derivative(cost: Cost, z: float) -> Tensor:
    point = torch.tensor(z, dtype=torch.float64, requires_grad=True)
    (grad,) = torch.autograd.grad(cost(point), point)
    return grad


def _relaxed_variance(cost: Cost, theta: Tensor, tau: float, straight: bool) -> Tensor:
    """``Var[f'(.) dy/dtheta]`` over ``u``: Gauss-Legendre on each side of ``sigmoid(-theta)``."""
    x, w = legendre_rule(-1.0, 1.0, 400)
    x, w = x.reshape(-1, *[1] * theta.dim()), w.reshape(-1, *[1] * theta.dim())
    split = torch.sigmoid(-theta)
    pieces = [(torch.zeros_like(split), split), (split, torch.ones_like(split))]
    u = torch.cat([lo + (hi - lo) * (x + 1) / 2 for lo, hi in pieces])
    weights = torch.cat([w * (hi - lo) / 2 for lo, hi in pieces])
    perturbed = theta + torch.logit(u)
    y = torch.sigmoid(perturbed / tau)
    at = (perturbed > 0).to(torch.float64) if straight else y
    at = at.detach().requires_grad_(True)
    (slope,) = torch.autograd.grad(cost(at).sum(), at)
    terms = slope * y * (1 - y) / tau
    mean = (weights * terms).sum(0)
    return (weights * terms.square()).sum(0) - mean.square()
