"""The data of a run: MNIST verified, the requested subset, on the run's device."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor

from reparam.data import ENV_VAR, DataError, load_mnist, present
from reparam.data.mnist import resolve_data_dir
from reparam.training.distributed import World

TEST_BINARIZATION_SEED = 0
"""The binary target's test set is binarized once, with this seed, for every run."""


@dataclass(frozen=True)
class RunData:
    """Tensors on the run's device: uint8 train images, the test set as the model sees it.

    ``folder`` is the MNIST folder that was read (resolved, absolute).
    """

    train_images: Tensor
    test_pixels: Tensor
    test_labels: Tensor
    image_shape: tuple[int, int]
    folder: Path


def choose_data_folder(given: str | None, saved: str | None) -> str | None:
    """``given`` (``--data-dir``), else ``$REPARAM_DATA_DIR``, else the run's saved folder."""
    if given is not None or os.environ.get(ENV_VAR):
        return given
    return saved


def load_run_data(
    folder: str | None,
    train_size: int | None,
    test_size: int | None,
    target: str,
    device: torch.device,
    download: bool = False,
    world: World | None = None,
) -> RunData:
    """Load and verify MNIST from ``folder`` (or ``$REPARAM_DATA_DIR``), keep the first
    ``train_size`` / ``test_size`` images, move them to ``device``.

    Under data parallelism only rank 0 downloads; the others wait, then read.
    """
    world = world or World()
    resolved = resolve_data_dir(folder).resolve()
    if download and not world.is_main:
        world.barrier()
    mnist = load_mnist(resolved, download=download)
    if download and world.is_main:
        world.barrier()
    _check_size("--train-size", train_size, mnist.train_images.shape[0])
    _check_size("--test-size", test_size, mnist.test_images.shape[0])
    train = mnist.train_images[:train_size].to(device)
    test = mnist.test_images[:test_size].to(device)
    generator = torch.Generator(device=device).manual_seed(TEST_BINARIZATION_SEED)
    return RunData(
        train_images=train,
        test_pixels=present(test, target, generator),
        test_labels=mnist.test_labels[:test_size].long(),
        image_shape=(int(train.shape[1]), int(train.shape[2])),
        folder=resolved,
    )


def _check_size(option: str, asked: int | None, available: int) -> None:
    if asked is not None and asked > available:
        raise DataError(
            f"{option} {asked} is more than the {available} images there are; "
            f"use at most {available} (or leave it out for all of them)"
        )
