"""Loading the data for a run, and the end of a run: bounds, pictures, summary."""

from __future__ import annotations

import argparse
import json
import math
import os
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from reparam.data import ENV_VAR, load_mnist, present
from reparam.data.mnist import resolve_data_dir
from reparam.training import LatentVariableModel, RunFolder, evaluate, save_pictures, seeded

TEST_BINARIZATION_SEED = 0
"""The binary target's test set is binarized once, with this seed, for every run."""


@dataclass(frozen=True)
class RunData:
    """Tensors on the run's device: uint8 train images, the test set as the model sees it."""

    train_images: Tensor
    test_pixels: Tensor
    test_labels: Tensor
    image_shape: tuple[int, int]


def load_data(
    args: argparse.Namespace, subset: dict[str, Any], target: str, device: torch.device
) -> RunData:
    """Load and verify MNIST, keep the requested subset, move it to ``device``.

    The folder is ``--data-dir``, else ``$REPARAM_DATA_DIR``, else the one the run
    was trained from (``subset["dir"]``, saved in ``config.json``); the folder
    used is written back into ``subset``.
    """
    folder = args.data_dir
    if folder is None and not os.environ.get(ENV_VAR):
        folder = subset.get("dir")
    resolved = resolve_data_dir(folder).resolve()
    mnist = load_mnist(resolved, download=args.download)
    subset["dir"] = str(resolved)
    train = mnist.train_images[: subset.get("train_size")].to(device)
    test = mnist.test_images[: subset.get("test_size")].to(device)
    generator = torch.Generator(device=device).manual_seed(TEST_BINARIZATION_SEED)
    return RunData(
        train_images=train,
        test_pixels=present(test, target, generator),
        test_labels=mnist.test_labels[: subset.get("test_size")].long(),
        image_shape=(int(train.shape[1]), int(train.shape[2])),
    )


def finish(
    args: argparse.Namespace,
    run: RunFolder,
    model: LatentVariableModel,
    data: RunData,
    settings: dict[str, Any],
    history: list[dict[str, Any]],
) -> int:
    """Evaluate on the test set, draw the pictures, write and print the summary."""
    seed = int(settings["train"]["seed"])
    device = data.test_pixels.device
    with seeded(seed, device):
        result = evaluate(model, data.test_pixels, args.eval_k, progress_bar=True)
    pictures = save_pictures(
        model, data.test_pixels, data.test_labels, run.path, data.image_shape, seed=seed
    )
    seconds = [row["seconds"] for row in history]
    summary = {
        "run": str(run.path),
        "settings": settings,
        "device": str(device),
        "epochs": history,
        "test_neg_elbo": result.neg_elbo,
        "test_neg_iw_bound": result.neg_iw_bound,
        "eval_k": result.k,
        "seconds_per_epoch": sum(seconds) / len(seconds) if seconds else math.nan,
        "pictures": [str(p) for p in pictures],
    }
    run.write_json(run.summary, summary)
    if args.json:
        print(json.dumps(summary))
    else:
        print(describe(summary))
    return 0


def describe(summary: dict[str, Any]) -> str:
    """The summary in a few lines of text."""
    lines = [f"test -ELBO: {summary['test_neg_elbo']:.2f} nats per example"]
    if summary["test_neg_iw_bound"] is not None:
        lines.append(
            f"test -log p(x) bound (importance-weighted, k={summary['eval_k']}): "
            f"{summary['test_neg_iw_bound']:.2f} nats"
        )
    if summary["settings"]["train"]["target"] == "grayscale":
        lines.append("(grayscale target: BCE on intensities, not a normalised likelihood)")
    lines.append(f"{summary['seconds_per_epoch']:.1f} s per epoch; run folder {summary['run']}")
    return "\n".join(lines)
