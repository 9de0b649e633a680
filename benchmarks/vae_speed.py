"""Seconds per training epoch: ``reparam vae`` (eager and compiled) against the classic pipeline.

Both train the same model (784-400-20, ReLU, Adam 1e-3, batch 128, grayscale
BCE + analytic KL) on MNIST for ``--epochs`` epochs from the same seed, in this
one process, epochs alternating between the two so that both see the same load
on a shared machine; it reports seconds per epoch, their ratio epoch by epoch,
and the test loss after each epoch.

* classic: a per-item ``Dataset`` that turns each uint8 image into a PIL image
  and then into a float tensor the way torchvision's ``MNIST`` with ``ToTensor``
  does, a ``DataLoader`` with ``shuffle=True`` (no workers, as the example on a
  CPU), the model written as in the example (sigmoid, then BCE);
* reparam: :class:`reparam.training.Trainer` with :class:`reparam.models.GaussianVAE`;
* compiled: the same with each training step compiled by ``torch.compile``
  (Inductor), as ``reparam vae --compile``. Compilation happens before its
  first epoch (a forward and backward pass at each batch shape, the random
  state put back after) and is reported apart, as ``compile_seconds``; its
  epochs are then timed like the others.

With ``vmf`` the trainer also trains the same model with a von Mises-Fisher
posterior (``reparam vae --posterior vmf``, the S-VAE), and the report gives its
epoch times over the Gaussian one's, epoch by epoch; ``compiled-vmf`` is that
model compiled, against ``compiled``. ``--hidden`` and ``--latent-dim`` change
the trainer's models (the S-VAE paper's networks are ``--hidden 256,128``); the
classic example and the floor keep their 784-400-20 model, so they run only
with it.

A third entry, ``floor``, is the same model on in-memory batches with fused Adam
and nothing else: what eager PyTorch needs, to show the trainer's overhead.
It also measures the machine's float32 matmul rate (the layers' own shapes at
batch 128, and a large square product) and reports how far each epoch is from
the compute bound: FLOPs of one epoch divided by the measured rate.

On a GPU (``--device cuda``) the classic pipeline is left out (its data loader
is the CPU's), the matmul rates are the GPU's, and the floor synchronises at the
end of each epoch; the trainer's epoch ends with its host read of the loss.

Usage: ``python benchmarks/vae_speed.py [--epochs 3] [--data-dir DIR] [--threads N]
[--device cpu] [--batch-size 128] [--hidden 400] [--latent-dim 20]
[--pipelines classic,reparam,compiled,floor,vmf,compiled-vmf]``. The S-VAE against the Gaussian
VAE at the settings of its speed goal: ``--pipelines reparam,vmf --batch-size 64
--hidden 256,128 --latent-dim 10 --threads 1``.
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
import warnings
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
from reparam.data.examples import ImageExamples
from reparam.models import GaussianVAE
from reparam.runs import MetricsFile, new_run_folder
from reparam.training import TrainConfig, Trainer
from reparam.training._compiled import CompileUnavailable

REPO = Path(__file__).resolve().parents[1]
BATCH = 128
HIDDEN = (400,)
LATENT = 20
PIPELINES = ("classic", "reparam", "compiled", "floor", "vmf", "compiled-vmf")


def gaussian_layers(hidden: tuple[int, ...], latent: int) -> list[tuple[int, int]]:
    """``(inputs, outputs)`` of each linear layer of the Gaussian VAE: encoder, the two
    heads (mean and log-variance), decoder."""
    encoder = list(zip((784, *hidden[:-1]), hidden, strict=True))
    decoder = list(zip((latent, *hidden[::-1]), (*hidden[::-1], 784), strict=True))
    return [*encoder, (hidden[-1], latent), (hidden[-1], latent), *decoder]


def flops_per_example(layers: list[tuple[int, int]]) -> float:
    """Forward 2*MACs; backward 2*MACs for weights + 2*MACs for inputs (none for layer 1)."""
    macs = sum(i * o for i, o in layers)
    first = layers[0][0] * layers[0][1]
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

    def __init__(self, data: Any, seed: int, device: torch.device, batch: int) -> None:
        torch.manual_seed(seed)
        self.model = ClassicVAE().to(device)
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=1e-3, fused=True)
        self.images = data.train_images.to(device)
        self.test = present(data.test_images.to(device), "grayscale", None)
        self.generator = torch.Generator(device).manual_seed(seed)
        self.device, self.batch = device, batch

    def epoch(self) -> tuple[float, float]:
        start = time.perf_counter()
        order = torch.randperm(self.images.shape[0], generator=self.generator, device=self.device)
        for index in order.split(self.batch):
            x = present(self.images.index_select(0, index), "grayscale", None)
            recon, mu, logvar = self.model(x)
            loss = classic_loss(recon, x, mu, logvar)
            self.optimizer.zero_grad()
            loss.backward()
            self.optimizer.step()
        _synchronize(self.device)
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


def _synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


class Ours:
    """reparam's trainer, one epoch per call; ``compiled``: as ``reparam vae --compile``;
    ``model``: the keyword arguments of :class:`GaussianVAE` (``hidden``,
    ``latent_dim``, ``posterior``)."""

    def __init__(
        self,
        data: Any,
        seed: int,
        device: torch.device,
        batch: int,
        compiled: bool = False,
        model: dict[str, Any] | None = None,
    ) -> None:
        torch.manual_seed(seed)
        run = new_run_folder(Path(tempfile.mkdtemp(prefix="vae-speed-")) / "run")
        test = present(data.test_images.to(device), "grayscale", None)
        self.config = TrainConfig(epochs=1, seed=seed, batch_size=batch)
        self.trainer = Trainer(
            GaussianVAE(**(model or {})).to(device),
            ImageExamples(data.train_images.to(device), self.config.target),
            test,
            self.config,
            run.checkpoint,
            log=_to_stderr,
            progress_bar=False,
            compile_backend="inductor" if compiled else None,
            callbacks=[MetricsFile(run)],
        )
        self.compile_seconds = self._compile() if compiled else None

    def _compile(self) -> float:
        """Compile the step at both batch shapes of an epoch (forward and backward);
        the random state and the gradients are put back. Returns the wall-clock time."""
        t, device = self.trainer, self.trainer.device
        n, batch = len(t.train_data), self.config.batch_size
        sizes = [batch] + ([n % batch] if n % batch else [])
        rng = torch.random.get_rng_state()
        cuda_rng = torch.cuda.get_rng_state(device) if device.type == "cuda" else None
        start = time.perf_counter()
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", CompileUnavailable)
            for size in sizes:
                t.step_loss(
                    t.train_data.take(torch.arange(size, device=t.device), t.generator)
                ).backward()
        _synchronize(device)
        seconds = time.perf_counter() - start
        for warning in caught:
            if issubclass(warning.category, CompileUnavailable):
                _to_stderr(f"warning: {warning.message}")
        t.optimizer.zero_grad(set_to_none=True)
        torch.random.set_rng_state(rng)
        if cuda_rng is not None:
            torch.cuda.set_rng_state(cuda_rng, device)
        return seconds

    def epoch(self) -> tuple[float, float]:
        done = self.trainer.progress.epoch
        self.trainer.config = replace(self.config, epochs=done + 1)
        record = self.trainer.fit()[-1]
        return record["seconds"], record["test_loss"]


def matmul_rate(
    m: int, k: int, n: int, device: torch.device, seconds: float = 1.0, inner: int = 10
) -> float:
    """Measured float32 FLOP/s of ``[m, k] @ [k, n]`` on ``device``."""
    a, b = torch.randn(m, k, device=device), torch.randn(k, n, device=device)
    for _ in range(3):
        a @ b
    _synchronize(device)
    count, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        for _ in range(inner):
            a @ b
        _synchronize(device)
        count += inner
    return 2.0 * m * k * n * count / (time.perf_counter() - start)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="seconds per VAE epoch, classic vs reparam")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default)")
    default_dir = os.environ.get("REPARAM_DATA_DIR") or str(REPO.parent / "shared/data/mnist")
    parser.add_argument("--data-dir", default=default_dir)
    parser.add_argument("--device", default="cpu", help="cpu or cuda[:N] (default cpu)")
    parser.add_argument("--batch-size", type=int, default=BATCH)
    parser.add_argument(
        "--hidden",
        type=widths,
        default=HIDDEN,
        help="hidden widths of reparam's models, e.g. 256,128 (default 400)",
    )
    parser.add_argument("--latent-dim", type=int, default=LATENT, help="default 20")
    parser.add_argument(
        "--pipelines",
        default=",".join(PIPELINES),
        help=f"comma list of {', '.join(PIPELINES)} (default all; classic on a CPU only)",
    )
    return parser.parse_args()


def build(names: list[str], data: Any, args: argparse.Namespace) -> dict[str, Any]:
    device, batch = torch.device(args.device), args.batch_size
    shape = {"hidden": args.hidden, "latent_dim": args.latent_dim}
    spherical = {**shape, "posterior": "vmf"}
    makers = {
        "classic": lambda: Classic(data, args.seed),
        "reparam": lambda: Ours(data, args.seed, device, batch, model=shape),
        "compiled": lambda: Ours(data, args.seed, device, batch, compiled=True, model=shape),
        "floor": lambda: Floor(data, args.seed, device, batch),
        "vmf": lambda: Ours(data, args.seed, device, batch, model=spherical),
        "compiled-vmf": lambda: Ours(
            data, args.seed, device, batch, compiled=True, model=spherical
        ),
    }
    unknown = [name for name in names if name not in makers]
    if unknown:
        raise SystemExit(f"--pipelines: unknown {', '.join(unknown)}; choose from {PIPELINES}")
    if device.type != "cpu" or batch != BATCH:  # the classic example: a CPU, batch 128
        names = [name for name in names if name != "classic"]
    if (shape["hidden"], shape["latent_dim"]) != (HIDDEN, LATENT):  # the example's model
        names = [name for name in names if name not in ("classic", "floor")]
    return {name: makers[name]() for name in names}


def widths(text: str) -> tuple[int, ...]:
    """``"256,128"`` -> ``(256, 128)``, for ``--hidden``."""
    try:
        return tuple(int(width) for width in text.split(","))
    except ValueError:
        message = f"comma-separated widths, e.g. 256,128; got {text!r}"
        raise argparse.ArgumentTypeError(message) from None


def main() -> None:
    args = parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    data = load_mnist(args.data_dir)
    rates = {
        f"batch{args.batch_size}_784x400": matmul_rate(args.batch_size, 784, 400, device),
        f"batch{args.batch_size}_400x784": matmul_rate(args.batch_size, 400, 784, device),
        "square_1024": matmul_rate(1024, 1024, 1024, device),
    }
    pipelines = build(args.pipelines.split(","), data, args)
    runs: dict[str, dict[str, list[float]]] = {
        name: {"seconds": [], "test_loss": []} for name in pipelines
    }
    for _ in range(args.epochs):  # alternate, so that all see the same machine load
        for name, pipeline in pipelines.items():
            seconds, test_loss = pipeline.epoch()
            runs[name]["seconds"].append(seconds)
            runs[name]["test_loss"].append(test_loss)
    rates["square_1024_after"] = matmul_rate(1024, 1024, 1024, device)
    layers = gaussian_layers(args.hidden, args.latent_dim)
    bound = flops_per_example(layers) * data.train_images.shape[0] / max(rates.values())
    fastest = {name: min(r["seconds"]) for name, r in runs.items()}
    median = {name: statistics.median(r["seconds"]) for name, r in runs.items()}
    report: dict[str, Any] = {
        "device": str(device),
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "epochs": args.epochs,
        "batch_size": args.batch_size,
        "hidden": list(args.hidden),
        "latent_dim": args.latent_dim,
        **runs,
        "median_seconds_per_epoch": median,
        "fastest_seconds_per_epoch": fastest,
        "reparam_trainer": "fused Adam, in-memory uint8 batches via index_select",
        "matmul_gflops": {k: v / 1e9 for k, v in rates.items()},
        "mflop_per_example": flops_per_example(layers) / 1e6,
        "compute_bound_seconds_per_epoch": bound,
        "times_compute_bound_fastest": {k: v / bound for k, v in fastest.items()},
        "load_average": os.getloadavg(),
    }
    report.update(comparisons(runs, pipelines))
    json.dump(report, sys.stdout, indent=2)
    print()


def comparisons(
    runs: dict[str, dict[str, list[float]]], pipelines: dict[str, Any]
) -> dict[str, Any]:
    """Paired ratios of epoch times, and differences of the final test losses."""
    out: dict[str, Any] = {}

    def paired(a: str, b: str) -> list[float]:
        return [x / y for x, y in zip(runs[a]["seconds"], runs[b]["seconds"], strict=True)]

    if "classic" in runs and "reparam" in runs:
        ratios = paired("classic", "reparam")
        out["speedup_per_epoch"] = ratios
        out["speedup_median"] = statistics.median(ratios)
        out["test_loss_difference"] = (
            runs["reparam"]["test_loss"][-1] - runs["classic"]["test_loss"][-1]
        )
    for vmf, gaussian in (("vmf", "reparam"), ("compiled-vmf", "compiled")):
        if vmf in runs and gaussian in runs:
            ratios = paired(vmf, gaussian)
            out[f"{vmf}_over_gaussian_per_epoch"] = ratios
            out[f"{vmf}_over_gaussian_median"] = statistics.median(ratios)
    if "compiled-vmf" in runs:
        out["compile_seconds_vmf"] = pipelines["compiled-vmf"].compile_seconds
    if "compiled" in runs:
        compiled = pipelines["compiled"]
        out["compile_seconds"] = compiled.compile_seconds
        out["compiled_is_compiled"] = compiled.trainer.step_loss.is_compiled
        if "reparam" in runs:
            ratios = paired("reparam", "compiled")
            out["compiled_speedup_per_epoch"] = ratios
            out["compiled_speedup_median"] = statistics.median(ratios)
            out["compiled_test_loss_difference"] = (
                runs["compiled"]["test_loss"][-1] - runs["reparam"]["test_loss"][-1]
            )
    return out


if __name__ == "__main__":
    main()
