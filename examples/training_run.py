"""Train, load and continue a run from Python, with a model of your own.

The run layer (``reparam.runs``) gives any model the run folder that
``reparam vae`` has: a checkpoint, an exact resume, the test bounds and a
``load_model`` that gives the trained model back. Here the model is a small VAE
on 2-D points (a noisy parabola) with a 1-D code; nothing about it is an image.

    python examples/training_run.py                 # 20 epochs, then 10 more at a lower lr
    python examples/training_run.py --epochs 2      # a quick look
"""

from __future__ import annotations

import argparse
import math
import tempfile
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.distributions import Independent, Normal

import reparam
from reparam.runs import Execution, RunData, RunSettings, load_model, resume, train
from reparam.training import LatentVariableModel, TrainConfig

HALF_LOG_2PI = 0.5 * math.log(2 * math.pi)


class PointVAE(LatentVariableModel):
    """p(z) = N(0, 1), p(x | z) = N(decoder(z), diag exp(2 s)), q(z | x) = N(mu(x), sigma(x)^2).

    The trainer needs ``loss``; the run layer's evaluation needs ``log_weights``;
    ``decode``, ``encode_mean`` and ``sample_prior`` are for you, after loading.
    """

    def __init__(self, hidden: int = 16) -> None:
        super().__init__()
        self.latent_dim = 1
        self.encoder = nn.Sequential(nn.Linear(2, hidden), nn.Tanh(), nn.Linear(hidden, 2))
        self.decoder = nn.Sequential(nn.Linear(1, hidden), nn.Tanh(), nn.Linear(hidden, 2))
        self.log_scale = nn.Parameter(torch.zeros(2))

    def posterior(self, x: Tensor) -> Independent:
        mean, raw_scale = self.encoder(x).unbind(-1)
        scale = F.softplus(raw_scale)
        return Independent(Normal(mean.unsqueeze(-1), scale.unsqueeze(-1)), 1)

    def neg_log_likelihood(self, z: Tensor, x: Tensor) -> Tensor:
        scaled = (x - self.decoder(z)) * torch.exp(-self.log_scale)
        return (0.5 * scaled.square() + self.log_scale + HALF_LOG_2PI).sum(-1)

    def loss(self, x: Tensor) -> Tensor:
        """-ELBO per point: a one-sample pathwise reconstruction term plus the exact KL."""
        q = self.posterior(x)
        reconstruction = reparam.expectation(lambda z: self.neg_log_likelihood(z, x), q, "pathwise")
        mean, scale = q.base_dist.loc, q.base_dist.scale
        kl = (0.5 * (mean.square() + scale.square() - 1.0) - scale.log()).sum(-1)
        return reconstruction + kl

    def log_weights(self, x: Tensor, k: int) -> Tensor:
        """log p(x, z) - log q(z | x) for k posterior samples: [k, B]."""
        q = self.posterior(x)
        z = q.sample(torch.Size([k]))
        log_prior = (-0.5 * z.square() - HALF_LOG_2PI).sum(-1)
        return -self.neg_log_likelihood(z, x) + log_prior - q.log_prob(z)

    def decode(self, z: Tensor) -> Tensor:
        decoded: Tensor = self.decoder(z)
        return decoded

    def encode_mean(self, x: Tensor) -> Tensor:
        return self.posterior(x).mean

    def sample_prior(self, n: int) -> Tensor:
        return torch.randn(n, 1, device=self.log_scale.device)


def parabola(n: int, seed: int) -> Tensor:
    """Points (t, t^2 / 2) + noise with t ~ N(0, 1)."""
    g = torch.Generator().manual_seed(seed)
    t = torch.randn(n, 1, generator=g)
    return torch.cat([t, 0.5 * t.square()], dim=1) + 0.1 * torch.randn(n, 2, generator=g)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=20, help="epochs of the first run")
    parser.add_argument("--run-dir", type=Path, help="the run folder (default: a temporary one)")
    args = parser.parse_args()

    data = RunData.from_tensors(parabola(2048, seed=0), parabola(512, seed=1))
    settings = RunSettings(
        model="points",  # a name of your choice for your own family
        options={"hidden": 16},  # PointVAE's keyword arguments, saved in config.json
        train=TrainConfig(epochs=args.epochs, batch_size=64, lr=1e-2, seed=0),
    )
    quiet = Execution(device="cpu", eval_k=50, progress_bar=False)

    with tempfile.TemporaryDirectory() as scratch:
        folder = args.run_dir or Path(scratch) / "points"
        # 1. Train: the folder gets config.json, checkpoint.pt, metrics.jsonl, summary.json.
        summary = train(settings, folder, execution=quiet, family=PointVAE, data=data)
        print(f"trained {args.epochs} epochs: test -ELBO {summary['test_neg_elbo']:.3f}")

        # 2. Continue at another pace: 50% more epochs at a tenth of the learning rate.
        #    The change is recorded in changes.jsonl; the model itself cannot change.
        more = args.epochs + max(1, args.epochs // 2)
        summary = resume(folder, epochs=more, lr=1e-3, execution=quiet, family=PointVAE, data=data)
        print(f"resumed to {more} epochs: test -ELBO {summary['test_neg_elbo']:.3f}")
        print("changes:", (folder / "changes.jsonl").read_text().strip())

        # 3. Load the trained model, in evaluation mode, and use it.
        model = load_model(folder, family=PointVAE)
        with torch.no_grad():
            codes = model.encode_mean(data.test[:5])
            curve = model.decode(torch.linspace(-2, 2, 5).unsqueeze(-1))
        print("codes of five test points:", [round(c, 2) for c in codes.squeeze(-1).tolist()])
        print("decoded curve (x, y):", [[round(v, 2) for v in row] for row in curve.tolist()])


if __name__ == "__main__":
    main()
