"""A small hyperspherical VAE written in Pyro with reparam's von Mises-Fisher.

``z ~ Uniform(S^{d-1})``, ``x ~ Bernoulli(decoder(z))``; the guide is
``vMF(mu(x), kappa(x))`` (Davidson et al., 2018). Used by the tests and the
benchmark.
"""

from __future__ import annotations

import pyro
import pyro.distributions as pdist
import torch
from torch import Tensor, nn

import reparam.pyro.distributions as rdist


class SVAE(nn.Module):
    def __init__(self, x_dim: int, z_dim: int = 3, hidden: int = 32) -> None:
        super().__init__()
        self.z_dim = z_dim
        self.encoder = nn.Sequential(
            nn.Linear(x_dim, hidden), nn.Tanh(), nn.Linear(hidden, z_dim + 1)
        )
        self.decoder = nn.Sequential(nn.Linear(z_dim, hidden), nn.Tanh(), nn.Linear(hidden, x_dim))

    def model(self, x: Tensor) -> None:
        pyro.module("decoder", self.decoder)
        prior = rdist.HypersphericalUniform(self.z_dim, dtype=x.dtype)
        with pyro.plate("data", x.shape[0]):
            z = pyro.sample("z", prior.expand(x.shape[:1]))
            pyro.sample("x", pdist.Bernoulli(logits=self.decoder(z)).to_event(1), obs=x)

    def guide(self, x: Tensor) -> None:
        pyro.module("encoder", self.encoder)
        out = self.encoder(x)
        mu = torch.nn.functional.normalize(out[:, : self.z_dim], dim=-1)
        kappa = torch.nn.functional.softplus(out[:, -1]) + 1.0
        with pyro.plate("data", x.shape[0]):
            pyro.sample("z", rdist.VonMisesFisher(mu, kappa))


def binary_data(n: int, x_dim: int, seed: int) -> Tensor:
    """``n`` binary vectors from three noisy prototypes."""
    generator = torch.Generator().manual_seed(seed)
    prototypes = (torch.rand(3, x_dim, generator=generator) < 0.5).float()
    which = torch.randint(0, 3, (n,), generator=generator)
    flips = (torch.rand(n, x_dim, generator=generator) < 0.05).float()
    return (prototypes[which] + flips) % 2
