"""An S-VAE written in Pyro: reparam's von Mises-Fisher and the IWAE bound with DReG under SVI.

The hyperspherical VAE of Davidson et al. (2018) as a Pyro model and guide: the
prior is uniform on the sphere S^(d-1) in R^d, the posterior
``VonMisesFisher(mean direction, concentration)``, both from
``reparam.pyro.distributions`` (reparam's samplers with Pyro's mixin, so
``pyro.sample`` and ``pyro.plate`` work and the pathwise gradient is kept). The
objective is ``reparam.pyro.ImportanceWeightedELBO``: the K-sample bound of
Burda et al. (2016), one per data point, with the doubly reparameterized (DReG)
gradient of Tucker et al. (2019), run by Pyro's ``SVI`` as any Pyro ELBO.

Run it::

    python examples/pyro_svae.py                 # synthetic data, codes on S^2
    python examples/pyro_svae.py --steps 10      # as the tests run it
"""

from __future__ import annotations

import argparse

import pyro
import pyro.distributions as dist
import torch
import torch.nn.functional as F
from pyro.infer import SVI
from torch import Tensor, nn

import reparam.pyro.distributions as rdist
from reparam.pyro import ImportanceWeightedELBO


class PyroSVAE(nn.Module):
    def __init__(self, data_dim: int, latent_dim: int = 3, hidden: int = 128) -> None:
        super().__init__()
        self.latent_dim = latent_dim
        self.body = nn.Sequential(nn.Linear(data_dim, hidden), nn.ReLU())
        self.direction = nn.Linear(hidden, latent_dim)  # normalised to the mean direction
        self.concentration = nn.Linear(hidden, 1)  # softplus(.) + 1 > 0
        self.decoder = nn.Sequential(
            nn.Linear(latent_dim, hidden), nn.ReLU(), nn.Linear(hidden, data_dim)
        )

    def posterior(self, x: Tensor) -> tuple[Tensor, Tensor]:
        h = self.body(x)
        loc = F.normalize(self.direction(h), dim=-1)  # unit vectors [B, d]
        kappa = F.softplus(self.concentration(h)).squeeze(-1) + 1.0  # [B]
        return loc, kappa

    def model(self, x: Tensor) -> None:
        pyro.module("decoder", self.decoder)
        prior = rdist.HypersphericalUniform(self.latent_dim, dtype=x.dtype)
        with pyro.plate("data", x.shape[0]):
            z = pyro.sample("z", prior.expand([x.shape[0]]))  # [B, d] (or [K, B, d])
            pyro.sample("x", dist.Bernoulli(logits=self.decoder(z)).to_event(1), obs=x)

    def guide(self, x: Tensor) -> None:
        pyro.module("encoder", nn.ModuleList([self.body, self.direction, self.concentration]))
        loc, kappa = self.posterior(x)
        with pyro.plate("data", x.shape[0]):
            pyro.sample("z", rdist.VonMisesFisher(loc, kappa))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=1500)
    parser.add_argument("--latent-dim", type=int, default=3, help="d: codes on S^(d-1)")
    parser.add_argument("--k", type=int, default=10, help="K: particles of the IWAE bound")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    generator = torch.Generator().manual_seed(args.seed)
    # Data: 6 binary patterns of 64 pixels, each pixel flipped with probability 0.05.
    patterns = torch.rand(6, 64, generator=generator) < 0.5
    which = torch.randint(6, (4096,), generator=generator)
    data = (patterns[which] ^ (torch.rand(4096, 64, generator=generator) < 0.05)).float()

    pyro.set_rng_seed(args.seed)
    pyro.clear_param_store()
    svae = PyroSVAE(data.shape[1], args.latent_dim)
    elbo = ImportanceWeightedELBO(num_particles=args.k, gradient="dreg", max_plate_nesting=1)
    optimizer = pyro.optim.PyroOptim(torch.optim.Adam, {"lr": 1e-3})  # pyro.optim.Adam
    svi = SVI(svae.model, svae.guide, optimizer, loss=elbo)
    for step in range(1, args.steps + 1):
        batch = data[torch.randint(len(data), (64,), generator=generator)]
        loss = svi.step(batch) / len(batch)  # -L_K per data point
        if step % max(1, args.steps // 5) == 0:
            print(f"step {step:5d}: training bound L_{args.k} {-loss:8.3f} nats per data point")

    test = data[:512]
    with torch.no_grad():
        bound = -elbo.loss(svae.model, svae.guide, test) / len(test)
        loc, kappa = svae.posterior(test)
    print(f"dreg: test bound L_{args.k} {bound:.3f} nats per data point")
    print(f"concentrations: median {kappa.median().item():.1f}, max {kappa.max().item():.1f}")
    print(
        f"codes on the sphere: norms {loc.norm(dim=-1).min().item():.6f} to "
        f"{loc.norm(dim=-1).max().item():.6f}"
    )


if __name__ == "__main__":
    main()
