"""A Bernoulli-latent model in Pyro whose ELBO is known exactly by enumeration.

``b_d ~ Bernoulli(prior_d)`` for three bits in a plate, ``z ~ N(0, 1)``, and
``x ~ N(w . b + z, 1)`` observed, outside the plate (its cost couples the bits).
The guide draws ``z ~ N(m, 1)`` (reparameterized) and ``b_d ~ Bernoulli(logits=phi_d)``
(not). The exact ELBO sums over the eight values of ``b``, with the Gaussian
expectations in closed form; its gradient, by autograd, is the reference for the
estimators. Parameters are leaf tensors passed in: ``phi`` (3), ``m``, ``w`` (3).
"""

from __future__ import annotations

import itertools
import math

import pyro
import pyro.distributions as dist
import torch
from torch import Tensor

Leaves = dict[str, Tensor]
X = 1.3
PRIOR = (0.3, 0.6, 0.5)


def values() -> Leaves:
    double = torch.float64
    return {
        "phi": torch.tensor([0.4, -0.7, 0.2], dtype=double, requires_grad=True),
        "m": torch.tensor(0.3, dtype=double, requires_grad=True),
        "w": torch.tensor([1.0, -0.5, 0.8], dtype=double, requires_grad=True),
    }


def model(p: Leaves) -> None:
    prior = torch.tensor(PRIOR, dtype=torch.float64)
    z = pyro.sample("z", dist.Normal(torch.tensor(0.0, dtype=torch.float64), 1.0))
    with pyro.plate("bits", 3):
        b = pyro.sample("b", dist.Bernoulli(prior))
    mean = (p["w"] * b).sum(-1) + z
    pyro.sample("x", dist.Normal(mean, 1.0), obs=torch.tensor(X, dtype=torch.float64))


def guide(p: Leaves) -> None:
    pyro.sample("z", dist.Normal(p["m"], 1.0))
    with pyro.plate("bits", 3):
        pyro.sample("b", dist.Bernoulli(logits=p["phi"]))


def exact_elbo(p: Leaves) -> Tensor:
    prior = torch.tensor(PRIOR, dtype=torch.float64)
    q = torch.sigmoid(p["phi"])
    total = -p["m"].square() / 2  # E_q[log p(z) - log q(z)] = -KL(N(m, 1) || N(0, 1))
    for bits in itertools.product((0.0, 1.0), repeat=3):
        b = torch.tensor(bits, dtype=torch.float64)
        q_b = torch.where(b > 0, q, 1 - q).prod()
        log_prior = torch.where(b > 0, prior, 1 - prior).log().sum()
        log_q = torch.where(b > 0, q, 1 - q).log().sum()
        residual = X - (p["w"] * b).sum() - p["m"]
        likelihood = -0.5 * math.log(2 * math.pi) - (residual.square() + 1.0) / 2
        total = total + q_b * (log_prior - log_q + likelihood)
    return total


def flat_gradient(value: Tensor, p: Leaves) -> Tensor:
    """``d value / d (phi, m, w)``: float64 ``[7]``."""
    grads = torch.autograd.grad(value, list(p.values()))
    return torch.cat([g.reshape(-1) for g in grads])
