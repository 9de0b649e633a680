"""Seconds per training epoch: ``reparam vae`` against the classic PyTorch VAE pipeline.

Both train the same model (784-400-20, ReLU, Adam 1e-3, batch 128, grayscale
BCE + analytic KL) on MNIST for ``--epochs`` epochs from the same seed, in this
one process, and report seconds per epoch and the test loss after each epoch.

* classic: a per-item ``Dataset`` that turns each uint8 image into a PIL image
  and then into a float tensor the way torchvision's ``MNIST`` with ``ToTensor``
  does, a ``DataLoader`` with ``shuffle=True`` (no workers, as the example on a
  CPU), the model written as in the example (sigmoid, then BCE);
* reparam: :class:`reparam.training.Trainer` with :class:`reparam.models.GaussianVAE`.

It also measures the machine's float32 matmul rate (the layers' own shapes at
batch 128, and a large square product) and reports how far each epoch is from
the compute bound: FLOPs of one epoch divided by the measured rate.

Usage: ``python benchmarks/vae_speed.py [--epochs 3] [--data-dir DIR] [--threads N]``.
Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch import Tensor, nn
from torch.utils.data import DataLoader, Dataset

from reparam.data import load_mnist, present
from reparam.models import GaussianVAE
from reparam.training import TrainConfig, Trainer, new_run_folder

REPO = Path(__file__).resolve().parents[1]
LAYERS = ((784, 400), (400, 20), (400, 20), (20, 400), (400, 784))
BATCH = 128


def flops_per_example() -> float:
    """Forward 2*MACs; backward 2*MACs for weights + 2*MACs for inputs (none for layer 1)."""
    macs = sum(i * o for i, o in LAYERS)
    first = LAYERS[0][0] * LAYERS[0][1]
    return 2.0 * macs + 2.0 * macs + 2.0 * (macs - first)


class ClassicMNIST(Dataset[tuple[Tensor, int]]):
    """One item at a time: uint8 array -> PIL image -> float tensor in [0, 1], as ToTensor."""

    def __init__(self, images: Tensor, labels: Tensor) -> None:
        self.images = images.numpy()
        self.labels = labels.numpy()

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int) -> tuple[Tensor, int]:
        picture = Image.fromarray(self.images[index])  # mode "L" for a 2-D uint8 array
        array = np.array(picture, np.uint8, copy=True)
        tensor = torch.from_numpy(array).view(picture.size[1], picture.size[0], 1)
        tensor = tensor.permute(2, 0, 1).contiguous().to(torch.float32).div(255)
        return tensor, int(self.labels[index])


class ClassicVAE(nn.Module):
    """The example's model, written as there: sigmoid output, reparameterize by hand."""

    def __init__(self) -> None:
        super().__init__()
        self.fc1, self.fc21, self.fc22 = nn.Linear(784, 400), nn.Linear(400, 20), nn.Linear(400, 20)
        self.fc3, self.fc4 = nn.Linear(20, 400), nn.Linear(400, 784)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        h = F.relu(self.fc1(x.view(-1, 784)))
        mu, logvar = self.fc21(h), self.fc22(h)
        z = mu + torch.randn_like(mu) * torch.exp(0.5 * logvar)
        return torch.sigmoid(self.fc4(F.relu(self.fc3(z)))), mu, logvar


def classic_loss(recon: Tensor, x: Tensor, mu: Tensor, logvar: Tensor) -> Tensor:
    bce = F.binary_cross_entropy(recon, x.view(-1, 784), reduction="sum")
    return bce - 0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp())


def run_classic(data: Any, epochs: int, seed: int) -> dict[str, list[float]]:
    torch.manual_seed(seed)
    model = ClassicVAE()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    train = DataLoader(ClassicMNIST(data.train_images, data.train_labels), BATCH, shuffle=True)
    test = DataLoader(ClassicMNIST(data.test_images, data.test_labels), BATCH)
    seconds, test_losses = [], []
    for _ in range(epochs):
        model.train()
        start = time.perf_counter()
        for x, _label in train:
            optimizer.zero_grad()
            recon, mu, logvar = model(x)
            loss = classic_loss(recon, x, mu, logvar)
            loss.backward()
            optimizer.step()
        seconds.append(time.perf_counter() - start)
        model.eval()
        with torch.no_grad():
            total = sum(classic_loss(*_with_input(model(x), x)).item() for x, _ in test)
        test_losses.append(total / len(test.dataset))  # type: ignore[arg-type]
    return {"seconds": seconds, "test_loss": test_losses}


def _with_input(out: tuple[Tensor, Tensor, Tensor], x: Tensor) -> tuple[Tensor, ...]:
    recon, mu, logvar = out
    return recon, x, mu, logvar


def run_reparam(data: Any, epochs: int, seed: int) -> dict[str, list[float]]:
    torch.manual_seed(seed)
    model = GaussianVAE()
    run = new_run_folder(Path(tempfile.mkdtemp(prefix="vae-speed-")) / "run")
    test = present(data.test_images, "grayscale", None)
    config = TrainConfig(epochs=epochs, seed=seed)
    trainer = Trainer(model, data.train_images, test, config, run, log=lambda _: None)
    history = trainer.fit()
    return {
        "seconds": [r["seconds"] for r in history],
        "test_loss": [r["test_loss"] for r in history],
    }


def matmul_rate(m: int, k: int, n: int, seconds: float = 1.0) -> float:
    """Measured float32 FLOP/s of ``[m, k] @ [k, n]``."""
    a, b = torch.randn(m, k), torch.randn(k, n)
    for _ in range(3):
        a @ b
    count, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        a @ b
        count += 1
    return 2.0 * m * k * n * count / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description="seconds per VAE epoch, classic vs reparam")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default)")
    default_dir = os.environ.get("REPARAM_DATA_DIR") or str(REPO.parent / "shared/data/mnist")
    parser.add_argument("--data-dir", default=default_dir)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    data = load_mnist(args.data_dir)
    rates = {
        "batch128_784x400": matmul_rate(BATCH, 784, 400),
        "batch128_400x784": matmul_rate(BATCH, 400, 784),
        "square_1024": matmul_rate(1024, 1024, 1024),
    }
    classic = run_classic(data, args.epochs, args.seed)
    ours = run_reparam(data, args.epochs, args.seed)
    epoch_flops = flops_per_example() * data.train_images.shape[0]
    best_rate = max(rates.values())
    bound = epoch_flops / best_rate
    median = {
        name: statistics.median(r["seconds"])
        for name, r in (("classic", classic), ("reparam", ours))
    }
    report = {
        "threads": torch.get_num_threads(),
        "epochs": args.epochs,
        "batch_size": BATCH,
        "classic": classic,
        "reparam": ours,
        "median_seconds_per_epoch": median,
        "speedup": median["classic"] / median["reparam"],
        "test_loss_difference": ours["test_loss"][-1] - classic["test_loss"][-1],
        "matmul_gflops": {k: v / 1e9 for k, v in rates.items()},
        "mflop_per_example": flops_per_example() / 1e6,
        "compute_bound_seconds_per_epoch": bound,
        "times_compute_bound": {k: v / bound for k, v in median.items()},
    }
    json.dump(report, sys.stdout, indent=2)
    print()


if __name__ == "__main__":
    main()
