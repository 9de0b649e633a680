"""Seconds per training epoch: ``reparam vae`` against the classic PyTorch VAE pipeline.

Both train the same model (784-400-20, ReLU, Adam 1e-3, batch 128, grayscale
BCE + analytic KL) on MNIST for ``--epochs`` epochs from the same seed, in this
one process, epochs alternating between the two so that both see the same load
on a shared machine; it reports seconds per epoch, their ratio epoch by epoch,
and the test loss after each epoch.

* classic: a per-item ``Dataset`` that turns each uint8 image into a PIL image
  and then into a float tensor the way torchvision's ``MNIST`` with ``ToTensor``
  does, a ``DataLoader`` with ``shuffle=True`` (no workers, as the example on a
  CPU), the model written as in the example (sigmoid, then BCE);
* reparam: :class:`reparam.training.Trainer` with :class:`reparam.models.GaussianVAE`.

A third entry, ``floor``, is the same model on in-memory batches with fused Adam
and nothing else: what eager PyTorch needs, to show the trainer's overhead.
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
from dataclasses import replace
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
    """One item at a time, as torchvision's MNIST: index the uint8 tensor, make a PIL
    image, then convert it as ``ToTensor`` does (array copy, HWC view, CHW, float / 255)."""

    def __init__(self, images: Tensor, labels: Tensor) -> None:
        self.data = images
        self.targets = labels

    def __len__(self) -> int:
        return len(self.data)

    def __getitem__(self, index: int) -> tuple[Tensor, int]:
        img, target = self.data[index], int(self.targets[index])
        picture = Image.fromarray(img.numpy())  # mode "L" for a 2-D uint8 array
        array = np.array(picture, np.uint8, copy=True)
        tensor = torch.from_numpy(array).view(picture.size[1], picture.size[0], 1)
        tensor = tensor.permute((2, 0, 1)).contiguous()
        return tensor.to(dtype=torch.get_default_dtype()).div(255), target


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


class Classic:
    """The example's training and test loops, one epoch per call."""

    def __init__(self, data: Any, seed: int) -> None:
        torch.manual_seed(seed)
        self.model = ClassicVAE()
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=1e-3)
        dataset = ClassicMNIST(data.train_images, data.train_labels)
        self.train = DataLoader(dataset, BATCH, shuffle=True)
        self.test = DataLoader(ClassicMNIST(data.test_images, data.test_labels), BATCH)

    def epoch(self) -> tuple[float, float]:
        """Seconds of training, then the test loss."""
        model, optimizer = self.model, self.optimizer
        model.train()
        start = time.perf_counter()
        train_loss = 0.0
        for x, _label in self.train:
            optimizer.zero_grad()
            recon, mu, logvar = model(x)
            loss = classic_loss(recon, x, mu, logvar)
            loss.backward()
            train_loss += loss.item()  # the example sums it for its log lines
            optimizer.step()
        seconds = time.perf_counter() - start
        model.eval()
        with torch.no_grad():
            total = 0.0
            for x, _label in self.test:
                recon, mu, logvar = model(x)
                total += classic_loss(recon, x, mu, logvar).item()
        return seconds, total / len(self.test.dataset)  # type: ignore[arg-type]


class Floor:
    """What eager PyTorch needs for this model: the example's model on in-memory
    batches with fused Adam, and nothing else (no distributions, checks or
    checkpoints). Not a product; a yardstick for the trainer's overhead."""

    def __init__(self, data: Any, seed: int) -> None:
        torch.manual_seed(seed)
        self.model = ClassicVAE()
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=1e-3, fused=True)
        self.images = data.train_images
        self.test = present(data.test_images, "grayscale", None)
        self.generator = torch.Generator().manual_seed(seed)

    def epoch(self) -> tuple[float, float]:
        start = time.perf_counter()
        order = torch.randperm(self.images.shape[0], generator=self.generator)
        for index in order.split(BATCH):
            x = present(self.images.index_select(0, index), "grayscale", None)
            recon, mu, logvar = self.model(x)
            loss = classic_loss(recon, x, mu, logvar)
            self.optimizer.zero_grad()
            loss.backward()
            self.optimizer.step()
        seconds = time.perf_counter() - start
        with torch.no_grad():
            total = sum(
                classic_loss(*_with_x(self.model(x), x)).item() for x in self.test.split(1000)
            )
        return seconds, total / self.test.shape[0]


def _with_x(out: tuple[Tensor, Tensor, Tensor], x: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    return out[0], x, out[1], out[2]


def _to_stderr(line: str) -> None:
    print(line, file=sys.stderr)


class Ours:
    """reparam's trainer, one epoch per call."""

    def __init__(self, data: Any, seed: int) -> None:
        torch.manual_seed(seed)
        run = new_run_folder(Path(tempfile.mkdtemp(prefix="vae-speed-")) / "run")
        test = present(data.test_images, "grayscale", None)
        self.config = TrainConfig(epochs=1, seed=seed)
        self.trainer = Trainer(
            GaussianVAE(), data.train_images, test, self.config, run, log=_to_stderr
        )

    def epoch(self) -> tuple[float, float]:
        done = self.trainer.progress.epoch
        self.trainer.config = replace(self.config, epochs=done + 1)
        record = self.trainer.fit()[-1]
        return record["seconds"], record["test_loss"]


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
    pipelines = {
        "classic": Classic(data, args.seed),
        "reparam": Ours(data, args.seed),
        "floor": Floor(data, args.seed),
    }
    runs: dict[str, dict[str, list[float]]] = {
        name: {"seconds": [], "test_loss": []} for name in pipelines
    }
    for _ in range(args.epochs):  # alternate, so that both see the same machine load
        for name, pipeline in pipelines.items():
            seconds, test_loss = pipeline.epoch()
            runs[name]["seconds"].append(seconds)
            runs[name]["test_loss"].append(test_loss)
    rates["square_1024_after"] = matmul_rate(1024, 1024, 1024)
    classic, ours = runs["classic"], runs["reparam"]
    ratios = [a / b for a, b in zip(classic["seconds"], ours["seconds"], strict=True)]
    bound = flops_per_example() * data.train_images.shape[0] / max(rates.values())
    fastest = {name: min(r["seconds"]) for name, r in runs.items()}
    median = {name: statistics.median(r["seconds"]) for name, r in runs.items()}
    report = {
        "threads": torch.get_num_threads(),
        "epochs": args.epochs,
        "batch_size": BATCH,
        "classic": classic,
        "reparam": ours,
        "floor": runs["floor"],
        "median_seconds_per_epoch": median,
        "fastest_seconds_per_epoch": fastest,
        "speedup_per_epoch": ratios,
        "speedup_median": statistics.median(ratios),
        "speedup_fastest": fastest["classic"] / fastest["reparam"],
        "test_loss_difference": ours["test_loss"][-1] - classic["test_loss"][-1],
        "reparam_trainer": "fused Adam, in-memory uint8 batches via index_select",
        "matmul_gflops": {k: v / 1e9 for k, v in rates.items()},
        "mflop_per_example": flops_per_example() / 1e6,
        "compute_bound_seconds_per_epoch": bound,
        "times_compute_bound_fastest": {k: v / bound for k, v in fastest.items()},
        "load_average": os.getloadavg(),
    }
    json.dump(report, sys.stdout, indent=2)
    print()


if __name__ == "__main__":
    main()
