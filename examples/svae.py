"""An S-VAE in your own model: codes on the unit sphere, a von Mises-Fisher posterior.

The hyperspherical VAE of Davidson et al. (2018): the prior is uniform on the
sphere S^(d-1) in R^d (``HypersphericalUniform``), the posterior is
``VonMisesFisher(mean direction, concentration)``, and the KL between them has a
closed form that ``torch.distributions.kl_divergence`` finds once
``reparam.distributions`` is imported. ``VonMisesFisher.rsample`` has implicit
reparameterization gradients, unbiased in every dimension, so the pathwise
estimator applies as for a Gaussian.

Run it::

    python examples/svae.py                 # synthetic data, codes on S^2
    python examples/svae.py --steps 10      # as the tests run it
"""

from __future__ import annotations

import argparse

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.distributions import Bernoulli, Independent, kl_divergence

import reparam
from reparam.distributions import HypersphericalUniform, VonMisesFisher


class SVAE(nn.Module):
    def __init__(self, data_dim: int, latent_dim: int = 3, hidden: int = 128) -> None:
        super().__init__()
        self.latent_dim = latent_dim
        self.body = nn.Sequential(nn.Linear(data_dim, hidden), nn.ReLU())
        self.direction = nn.Linear(hidden, latent_dim)  # normalised to the mean direction
        self.concentration = nn.Linear(hidden, 1)  # softplus(.) + 1 > 0
        self.decoder = nn.Sequential(
            nn.Linear(latent_dim, hidden), nn.ReLU(), nn.Linear(hidden, data_dim)
        )

    def posterior(self, x: Tensor) -> VonMisesFisher:
        h = self.body(x)
        loc = F.normalize(self.direction(h), dim=-1)  # unit vectors [B, d]
        kappa = F.softplus(self.concentration(h)).squeeze(-1) + 1.0  # [B]
        return VonMisesFisher(loc, kappa)  # batch shape [B], event shape [d]

    def elbo(self, x: Tensor) -> Tensor:
        q = self.posterior(x)
        prior = HypersphericalUniform(self.latent_dim, dtype=x.dtype)

        def log_likelihood(z: Tensor) -> Tensor:  # codes [S, B, d] -> [S, B]
            return Independent(Bernoulli(logits=self.decoder(z)), 1).log_prob(x)

        return reparam.expectation(log_likelihood, q, "pathwise") - kl_divergence(q, prior)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=600)
    parser.add_argument("--latent-dim", type=int, default=3, help="d: codes on S^(d-1)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    generator = torch.Generator().manual_seed(args.seed)
    # Data: 6 binary patterns of 64 pixels, each pixel flipped with probability 0.05.
    patterns = torch.rand(6, 64, generator=generator) < 0.5
    which = torch.randint(6, (4096,), generator=generator)
    data = (patterns[which] ^ (torch.rand(4096, 64, generator=generator) < 0.05)).float()

    torch.manual_seed(args.seed)
    model = SVAE(data.shape[1], args.latent_dim)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    for step in range(1, args.steps + 1):
        batch = data[torch.randint(len(data), (64,), generator=generator)]
        loss = -model.elbo(batch).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if step % max(1, args.steps // 5) == 0:
            print(f"step {step:5d}: training ELBO {-loss.item():8.3f} nats")

    with torch.no_grad():
        q = model.posterior(data[:512])
        kappa = q.concentration
        codes = q.loc
    print(f"concentrations: median {kappa.median().item():.1f}, max {kappa.max().item():.1f}")
    print(
        f"codes on the sphere: norms {codes.norm(dim=-1).min().item():.6f} to "
        f"{codes.norm(dim=-1).max().item():.6f}"
    )


if __name__ == "__main__":
    main()
