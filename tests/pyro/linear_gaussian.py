"""The linear-Gaussian model of ``reparam.lab.LinearGaussian`` written in Pyro.

``p(z) = N(mu, 1)``, ``p(x | z) = N(z, s^2)``, ``q(z | x) = N(a x + b, c^2)``; the
five parameters are plain leaf tensors, passed to the model and guide, so one
gradient call reads them all (columns ``a, b, c, mu, s``).
"""

from __future__ import annotations

import itertools

import numpy as np
import pyro
import pyro.distributions as dist
import torch
from torch import Tensor

from reparam.lab import LinearGaussian

Leaves = dict[str, Tensor]


def model(x: Tensor, p: Leaves) -> None:
    z = pyro.sample("z", dist.Normal(p["mu"], torch.ones_like(p["mu"])))
    pyro.sample("x", dist.Normal(z, p["s"]), obs=x)


def guide(x: Tensor, p: Leaves) -> None:
    pyro.sample("z", dist.Normal(p["a"] * x + p["b"], p["c"]))


def leaves(problem: LinearGaussian) -> Leaves:
    return {n: v.clone().requires_grad_(True) for n, v in problem.values().items()}


def gradient(value: Tensor, p: Leaves) -> Tensor:
    """``d value / d (a, b, c, mu, s)``, float64 ``[5]``."""
    return torch.stack(torch.autograd.grad(value, list(p.values())))


def exact_bound_gradient(problem: LinearGaussian, k: int, nodes: int = 32) -> Tensor:
    """``grad L_k`` by ``k``-dimensional Gauss-Hermite quadrature over the noise.

    ``L_k = E_eps[log (1/k) sum_i w(a x + b + c eps_i)]`` with ``eps ~ N(0, I_k)``:
    the integrand is smooth, so a product rule with ``nodes`` points per dimension
    integrates it, and autograd of the quadrature sum is the exact gradient.
    """
    points, weights = np.polynomial.hermite_e.hermegauss(nodes)
    eps_1d = torch.tensor(points, dtype=torch.float64)
    w_1d = torch.tensor(weights / np.sqrt(2 * np.pi), dtype=torch.float64)
    grid = torch.tensor(list(itertools.product(range(nodes), repeat=k)))
    eps, w = eps_1d[grid], w_1d[grid].prod(-1)  # [nodes^k, k], [nodes^k]
    p = leaves(problem)
    x = torch.tensor(problem.x, dtype=torch.float64)
    z = p["a"] * x + p["b"] + p["c"] * eps
    log_w = (
        dist.Normal(p["mu"], 1.0).log_prob(z)
        + dist.Normal(z, p["s"]).log_prob(x)
        - dist.Normal(p["a"] * x + p["b"], p["c"]).log_prob(z)
    )
    bound = (w * (torch.logsumexp(log_w, -1) - np.log(k))).sum()
    return gradient(bound, p)
