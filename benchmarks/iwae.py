"""VAE and IWAE on dynamically binarized MNIST with the standard, STL and DReG gradients.

Burda, Grosse and Salakhutdinov (2016, "Importance Weighted Autoencoders", ICLR,
section 5), one stochastic layer: encoder 784-200-200-(50 means, 50 log
variances), decoder 50-200-200-784, tanh, Bernoulli pixels, pixels redrawn
every epoch (dynamic binarization); Adam with beta = (0.9, 0.999), eps = 1e-4,
batches of 20. They train for 3,280 passes with the learning rate 1e-3 *
10^(-i/7) for 3^i passes, i = 0..7; this benchmark trains every configuration
for the same small number of passes (``--epochs``) at their first rate, 1e-3,
so its figures are far from theirs and only comparable with each other.

Configurations (the same passes, seed and batches for each): VAE (the ELBO,
k = 1), IWAE k = 5 and k = 50 with the standard gradient, IWAE k = 50 with DReG
and with STL. For each: test -log p(x) as the k = 5000 importance-weighted
bound (on the first ``--eval-size`` test images, binarized once), the test
-ELBO on the whole test set, the training seconds, and the encoder's and
decoder's gradient SNR over training (:mod:`reparam.training.monitor`, every
``--snr-every`` steps, 20 replicates on one fixed batch). At the end, on the
models trained with IWAE k = 50, the encoder's gradient SNR of each estimator
at k = 1, 5, 50 (Rainforth et al., 2018; Tucker et al., 2019, figure 1).

Usage: ``python benchmarks/iwae.py [--data-dir DIR] [--epochs N] [--eval-size N]
[--out FILE]``; prints one JSON object (and writes it to ``--out``). Paper
figures: Burda et al. (2016), Table 1, one stochastic layer, test -log p(x) with
k = 5000.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn
from torch.distributions import Independent, Normal

from reparam.models import GaussianVAE
from reparam.runs import MetricsFile, new_run_folder
from reparam.runs.data import load_run_data
from reparam.training import TrainConfig, Trainer, mean_loss, mean_neg_iw_bound
from reparam.training.monitor import GradientMonitor, measure_gradients

REPO = Path(__file__).resolve().parents[1]
PAPER = {"vae": 86.76, "iwae_k5": 85.54, "iwae_k50": 84.78}
"""Burda et al. (2016), Table 1, MNIST, one stochastic layer, test -log p(x) (nats)."""
CONFIGS: dict[str, dict[str, Any]] = {
    "vae": {"objective": "elbo"},
    "iwae_k5": {"objective": "iwae", "iw_k": 5},
    "iwae_k50": {"objective": "iwae", "iw_k": 50},
    "iwae_k50_dreg": {"objective": "iwae", "iw_k": 50, "iw_gradient": "dreg"},
    "iwae_k50_stl": {"objective": "iwae", "iw_k": 50, "iw_gradient": "stl"},
}
REPLICATES = 20


class BurdaVAE(GaussianVAE):
    """:class:`GaussianVAE` with Burda et al.'s networks: two tanh layers of 200 each way."""

    def __init__(self, **options: Any) -> None:
        super().__init__(input_dim=784, hidden=200, latent_dim=50, **options)
        layers = (nn.Linear(784, 200), nn.Tanh(), nn.Linear(200, 200))  # the base has one
        self.encoder = nn.Sequential(*layers)  # type: ignore[assignment]
        self.decoder = nn.Sequential(
            nn.Linear(50, 200), nn.Tanh(), nn.Linear(200, 200), nn.Tanh(), nn.Linear(200, 784)
        )
        for layer in self.modules():  # Glorot and Bengio's initialisation, as in the paper
            if isinstance(layer, nn.Linear):
                nn.init.xavier_uniform_(layer.weight)
                nn.init.zeros_(layer.bias)

    def _hidden(self, x: Tensor) -> Tensor:
        return torch.tanh(self.encoder(x))

    def posterior(self, x: Tensor) -> Independent:
        h = self._hidden(x)
        scale = torch.exp(0.5 * self.to_log_var(h))
        return Independent(Normal(self.to_mean(h), scale, validate_args=False), 1)

    def encode_mean(self, x: Tensor) -> Tensor:
        mean: Tensor = self.to_mean(self._hidden(x))
        return mean


def default_data_dir() -> str:
    return os.environ.get("REPARAM_DATA_DIR") or str(REPO.parent / "shared" / "data" / "mnist")


def train_one(name: str, args: argparse.Namespace, folder: Path) -> dict[str, Any]:
    """Train configuration ``name``; returns its figures."""
    device = torch.device("cpu")
    data = load_run_data(args.data_dir, None, None, "binary", device)
    config = TrainConfig(
        epochs=args.epochs, batch_size=20, lr=1e-3, seed=args.seed, target="binary"
    )
    torch.manual_seed(args.seed)
    model = BurdaVAE(**CONFIGS[name])
    fixed = torch.Generator().manual_seed(args.seed + 1)
    batch = data.train.take(torch.arange(20, device=data.train.device), fixed)
    monitor = GradientMonitor(batch, args.snr_every, REPLICATES, seed=args.seed)
    run = new_run_folder(folder / name)
    trainer = Trainer(
        model,
        data.train,
        data.test,
        config,
        run.checkpoint,
        log=lambda line: print(f"{name}: {line}", file=sys.stderr, flush=True),
        progress_bar=False,
        monitor=monitor,
        callbacks=[MetricsFile(run)],
        optimizer=torch.optim.Adam(model.parameters(), lr=1e-3, betas=(0.9, 0.999), eps=1e-4),
    )
    started = time.perf_counter()
    history = trainer.fit()
    seconds = time.perf_counter() - started
    evaluated = time.perf_counter()
    test = data.test
    neg_log_px = mean_neg_iw_bound(model, test[: args.eval_size], args.eval_k, seed=args.seed)
    figures = {
        "options": CONFIGS[name],
        "test_neg_log_px": neg_log_px,
        "test_neg_elbo": mean_loss(model, test, seed=args.seed),
        "paper_neg_log_px": PAPER.get(name),
        "seconds_training_and_monitoring": seconds,
        "seconds_evaluation": time.perf_counter() - evaluated,
        "train_loss_by_epoch": [row["train_loss"] for row in history],
        "gradients": [
            {
                "step": r["step"],
                "encoder_snr": r["encoder"]["snr"],
                "decoder_snr": r["decoder"]["snr"],
            }
            for row in history
            for r in row["gradients"]
        ],
    }
    if CONFIGS[name].get("iw_k") == 50:
        figures["encoder_snr_by_k"] = snr_by_k(model, batch, args.seed)
    return figures


def snr_by_k(model: GaussianVAE, batch: Tensor, seed: int) -> dict[str, dict[str, float | None]]:
    """The trained model's encoder SNR of each estimator at k = 1, 5, 50 (same batch)."""
    saved = (model.objective, model.iw_k, model.iw_gradient)
    model.train()
    result: dict[str, dict[str, float | None]] = {}
    for gradient in ("standard", "stl", "dreg"):
        result[gradient] = {}
        for k in (1, 5, 50):
            model.objective, model.iw_k, model.iw_gradient = "iwae", k, gradient
            figures = measure_gradients(model, batch, REPLICATES * 5, seed)
            result[gradient][str(k)] = figures["encoder"]["snr"]
    model.objective, model.iw_k, model.iw_gradient = saved
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default=default_data_dir())
    parser.add_argument("--epochs", type=int, default=1, help="passes per configuration")
    parser.add_argument("--eval-k", type=int, default=5000)
    parser.add_argument("--eval-size", type=int, default=1000, help="test images for k=5000")
    parser.add_argument("--snr-every", type=int, default=500, help="steps between SNR figures")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--only", nargs="*", default=list(CONFIGS), choices=list(CONFIGS))
    parser.add_argument("--out", type=Path, default=None, help="also write the JSON here")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    folder = Path(tempfile.mkdtemp(prefix="iwae-bench-"))
    results = {name: train_one(name, args, folder) for name in args.only}
    report = {
        "budget": {
            "epochs": args.epochs,
            "batch_size": 20,
            "lr": 1e-3,
            "threads": args.threads,
            "eval_k": args.eval_k,
            "eval_test_images": args.eval_size,
        },
        "paper": PAPER,
        "results": results,
        "torch": torch.__version__,
    }
    text = json.dumps(report, indent=2)
    if args.out is not None:
        args.out.write_text(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
