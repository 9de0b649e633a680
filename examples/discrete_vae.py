"""A VAE with binary codes, trained with DisARM, then with RELAX and its control-variate loop.

A Bernoulli code has no reparameterized sampler, so the reconstruction term's
gradient needs an estimator for discrete variables. Both used here are unbiased:

* ``"disarm"`` (Dong, Mnih and Tucker, 2020): antithetic pairs of codes, nothing
  to train;
* ``reparam.RELAX()`` (Grathwohl et al., 2018): a learned control variate. Its
  parameters are trained to minimise the variance of the gradient estimate,
  by an optimizer of their own, in the loop below.

Run it::

    python examples/discrete_vae.py             # synthetic binary images
    python examples/discrete_vae.py --steps 10  # as the tests run it
"""

from __future__ import annotations

import argparse

import torch
from torch import Tensor, nn
from torch.distributions import Bernoulli, Independent, kl_divergence

import reparam


def synthetic_images(patterns: Tensor, n: int, generator: torch.Generator) -> Tensor:
    """``n`` binary images: one of the ``patterns``, each pixel flipped with probability 0.05."""
    which = torch.randint(len(patterns), (n,), generator=generator)
    flips = torch.rand(n, patterns.shape[1], generator=generator) < 0.05
    return (patterns[which] ^ flips).float()


class DiscreteVAE(nn.Module):
    """``latent_dim`` Bernoulli(1/2) codes; linear encoder and decoder (the DisARM paper's)."""

    prior_logits: Tensor  # a buffer of zeros: Bernoulli(1/2)

    def __init__(self, data_dim: int, latent_dim: int = 16) -> None:
        super().__init__()
        self.encoder = nn.Linear(data_dim, latent_dim)
        self.decoder = nn.Linear(latent_dim, data_dim)
        self.register_buffer("prior_logits", torch.zeros(latent_dim))

    def elbo(self, x: Tensor, estimator: reparam.EstimatorName | reparam.Estimator) -> Tensor:
        """ELBO per example, ``[B]``, its value at exact codes; the gradient is ``estimator``'s."""
        logits = self.encoder(x)
        q = Independent(Bernoulli(logits=logits), 1)  # batch [B], event [latent_dim]

        def log_likelihood(z: Tensor) -> Tensor:  # codes [S, B, latent_dim] -> [S, B]
            return Independent(Bernoulli(logits=self.decoder(z)), 1).log_prob(x)

        # torch's Bernoulli KL does not broadcast: the prior takes q's shape
        prior = Independent(Bernoulli(logits=self.prior_logits.expand_as(logits)), 1)
        return reparam.expectation(log_likelihood, q, estimator) - kl_divergence(q, prior)


def train_disarm(model: DiscreteVAE, data: Tensor, args: argparse.Namespace) -> None:
    """Plain training: DisARM needs nothing but its name."""
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    generator = torch.Generator().manual_seed(args.seed)
    for step in range(1, args.steps + 1):
        batch = data[torch.randint(len(data), (args.batch_size,), generator=generator)]
        loss = -model.elbo(batch, "disarm").mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if step % max(1, args.steps // 4) == 0:
            print(f"  disarm step {step:5d}: training ELBO {-loss.item():8.3f} nats")


def train_relax(model: DiscreteVAE, data: Tensor, args: argparse.Namespace) -> None:
    """RELAX: the model's step and, beside it, the control variate's own step."""
    relax = reparam.RELAX()  # default control variate: a learned temperature and scale
    params = list(model.parameters())
    optimizer = torch.optim.Adam(params, lr=3e-3)
    cv_optimizer = torch.optim.Adam(relax.control_variate.parameters(), lr=1e-2)
    generator = torch.Generator().manual_seed(args.seed)
    for step in range(1, args.steps + 1):
        batch = data[torch.randint(len(data), (args.batch_size,), generator=generator)]
        loss = -model.elbo(batch, relax).mean()
        # g, the gradient estimate for every parameter, and sum g^2, still differentiable
        grads, variance_loss = relax.gradients(loss, params)
        # E[g] does not depend on the control variate, so d/dpsi E[g^2] = d/dpsi Var(g):
        cv_optimizer.zero_grad()
        variance_loss.backward(inputs=list(relax.control_variate.parameters()))
        cv_optimizer.step()
        # the model's step uses g itself, an unbiased estimate of the ELBO's gradient
        for p, g in zip(params, grads, strict=True):
            p.grad = g
        optimizer.step()
        if step % max(1, args.steps // 4) == 0:
            print(f"  relax  step {step:5d}: training ELBO {-loss.item():8.3f} nats")
    # The same two steps fit in one backward pass, as reparam's own discrete VAE does:
    # (loss + relax.training_term(loss, params)).backward(), with the control variate's
    # parameters given to the model's optimizer.


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=500, help="optimizer steps per estimator")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    generator = torch.Generator().manual_seed(args.seed)
    patterns = torch.rand(8, 64, generator=generator) < 0.5
    train_data = synthetic_images(patterns, 4096, generator)
    test_data = synthetic_images(patterns, 512, generator)
    for name, train in (("disarm", train_disarm), ("relax", train_relax)):
        torch.manual_seed(args.seed)  # the same initial weights for both estimators
        model = DiscreteVAE(train_data.shape[1])
        print(f"training with {name}")
        train(model, train_data, args)
        with torch.no_grad():  # the value is an honest estimate, whatever the estimator
            test_elbo = model.elbo(test_data, "disarm").mean().item()
        print(f"{name}: test ELBO {test_elbo:.3f} nats")


if __name__ == "__main__":
    main()
