"""Your own VAE in a plain PyTorch loop: first the ELBO through ``reparam.expectation``,
then the importance-weighted bound with doubly reparameterized gradients.

The model, the data and the loop are yours; reparam supplies two calls:

* ``reparam.expectation(f, q, "pathwise")``: the reconstruction term
  ``E_q[log p(x | z)]``, whose gradient is the reparameterization (pathwise)
  estimator;
* ``reparam.iwae_bound(log_joint, q, num_samples=k, gradient="dreg")``: the
  ``k``-sample bound ``log (1/k) sum_i p(x, z_i) / q(z_i | x)`` (Burda et al.,
  2016) with the doubly reparameterized encoder gradient (Tucker et al., 2019).

Run it::

    python examples/vae.py                   # synthetic binary images (default)
    python examples/vae.py --data-dir DIR    # MNIST: DIR holds the four idx files
    python examples/vae.py --steps 10        # a few steps, as the tests run it
"""

from __future__ import annotations

import argparse
from collections.abc import Callable

import torch
from torch import Tensor, nn
from torch.distributions import Bernoulli, Independent, Normal, kl_divergence

import reparam


def synthetic_images(patterns: Tensor, n: int, generator: torch.Generator) -> Tensor:
    """``n`` binary images: one of the ``patterns``, each pixel flipped with probability 0.05."""
    which = torch.randint(len(patterns), (n,), generator=generator)
    flips = torch.rand(n, patterns.shape[1], generator=generator) < 0.05
    return (patterns[which] ^ flips).float()


def load_data(args: argparse.Namespace, generator: torch.Generator) -> tuple[Tensor, Tensor]:
    """Training and test images ``[N, D]`` in {0, 1}."""
    if args.data_dir is None:
        patterns = torch.rand(8, 64, generator=generator) < 0.5  # 8 random 64-pixel images
        train = synthetic_images(patterns, 4096, generator)
        return train, synthetic_images(patterns, 512, generator)
    mnist = reparam.data.load_mnist(args.data_dir)
    # Binarized once here for brevity; reparam.data.present redraws them per batch if asked.
    train = reparam.data.present(mnist.train_images, "binary", generator)
    test = reparam.data.present(mnist.test_images[:1000], "binary", generator)
    return train, test


class VAE(nn.Module):
    """Gaussian codes, Bernoulli pixels, one-hidden-layer MLPs both ways."""

    zeros: Tensor  # a buffer: moves with the model's device and dtype

    def __init__(self, data_dim: int, latent_dim: int = 8, hidden: int = 128) -> None:
        super().__init__()
        self.encoder = nn.Sequential(
            nn.Linear(data_dim, hidden), nn.ReLU(), nn.Linear(hidden, 2 * latent_dim)
        )
        self.decoder = nn.Sequential(
            nn.Linear(latent_dim, hidden), nn.ReLU(), nn.Linear(hidden, data_dim)
        )
        self.register_buffer("zeros", torch.zeros(latent_dim))

    def posterior(self, x: Tensor) -> Independent:
        """``q(z | x)``: batch shape ``[B]``, event shape ``[latent_dim]``."""
        loc, log_scale = self.encoder(x).chunk(2, dim=-1)
        return Independent(Normal(loc, log_scale.exp()), 1)

    def prior(self) -> Independent:
        return Independent(Normal(self.zeros, torch.ones_like(self.zeros)), 1)

    def log_likelihood(self, x: Tensor, z: Tensor) -> Tensor:
        """``log p(x | z)`` for codes ``[S, B, latent_dim]``: ``[S, B]``."""
        return Independent(Bernoulli(logits=self.decoder(z)), 1).log_prob(x)

    def elbo(self, x: Tensor) -> Tensor:
        """One-sample ELBO per example, ``[B]``; its gradient is the pathwise estimator's."""
        q = self.posterior(x)
        # f maps samples [S, B, latent_dim] to costs [S, B]; the result is [B].
        reconstruction = reparam.expectation(lambda z: self.log_likelihood(x, z), q, "pathwise")
        return reconstruction - kl_divergence(q, self.prior())

    def log_joint(self, x: Tensor) -> Callable[[Tensor], Tensor]:
        """``log p(x, z)`` as a function of codes ``[k, B, latent_dim]``: ``[k, B]``."""
        return lambda z: self.prior().log_prob(z) + self.log_likelihood(x, z)

    def iwae(self, x: Tensor, k: int, gradient: reparam.bounds.Gradient = "dreg") -> Tensor:
        """The ``k``-sample importance-weighted bound per example, ``[B]``."""
        return reparam.iwae_bound(self.log_joint(x), self.posterior(x), k, gradient)


def train(model: VAE, data: Tensor, objective: str, args: argparse.Namespace) -> None:
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    generator = torch.Generator().manual_seed(args.seed)
    for step in range(1, args.steps + 1):
        batch = data[torch.randint(len(data), (args.batch_size,), generator=generator)]
        bound = model.elbo(batch) if objective == "elbo" else model.iwae(batch, args.k)
        loss = -bound.mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if step % max(1, args.steps // 5) == 0 or step == args.steps:
            print(f"  {objective} step {step:5d}: training bound {-loss.item():8.3f} nats")


@torch.no_grad()
def report(model: VAE, test: Tensor, name: str) -> None:
    model.eval()
    elbo = model.elbo(test).mean().item()
    bound = model.iwae(test, 100, gradient="standard").mean().item()
    print(f"{name}: test ELBO {elbo:.3f}, test log-likelihood bound (k = 100) {bound:.3f} nats")
    model.train()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=1000, help="optimizer steps per objective")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--k", type=int, default=10, help="importance samples of the IWAE bound")
    parser.add_argument("--data-dir", help="a folder with the MNIST idx files (default: synthetic)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    torch.manual_seed(args.seed)  # the estimators draw their noise from torch's generator
    train_data, test_data = load_data(args, torch.Generator().manual_seed(args.seed))
    for objective in ("elbo", "iwae"):
        torch.manual_seed(args.seed)
        model = VAE(train_data.shape[1])
        print(f"training on the {'ELBO' if objective == 'elbo' else f'IWAE bound, k = {args.k}'}")
        train(model, train_data, objective, args)
        report(model, test_data, objective)


if __name__ == "__main__":
    main()
