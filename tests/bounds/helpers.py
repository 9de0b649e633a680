"""Gradient estimates on the linear-Gaussian model, with any bound function."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor
from torch.distributions import Distribution, Normal

from reparam.bounds._iwae import LogJoint
from reparam.lab import LinearGaussian

Bound = Callable[[LogJoint, Distribution, int], Tensor]


def gaussian_gradients(
    model: LinearGaussian, bound: Bound, num_samples: int, trials: int, seed: int
) -> tuple[Tensor, Tensor]:
    """``(bounds [trials], gradients [trials, 5])`` with columns ``a, b, c, mu, s``."""
    torch.manual_seed(seed)
    leaves = {n: v.expand(trials).clone().requires_grad_(True) for n, v in model.values().items()}
    x = torch.tensor(model.x, dtype=torch.float64)
    q = Normal(leaves["a"] * x + leaves["b"], leaves["c"])

    def log_joint(z: Tensor) -> Tensor:
        prior = Normal(leaves["mu"], torch.ones_like(leaves["mu"]))
        return prior.log_prob(z) + Normal(z, leaves["s"]).log_prob(x)

    values = bound(log_joint, q, num_samples)
    grads = torch.autograd.grad(values.sum(), list(leaves.values()))
    return values.detach(), torch.stack(grads, 1)
