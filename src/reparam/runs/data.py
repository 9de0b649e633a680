"""The data of a run: training examples and a test set, on the run's device.

:class:`RunData` holds any data (``RunData.from_tensors`` for tensors of your
own); :func:`load_run_data` reads the MNIST subset of a built-in run, verified.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from pathlib import Path

import torch
from torch import Tensor

from reparam.data import ENV_VAR, load_mnist, present
from reparam.data.examples import Examples, ImageExamples, TensorExamples
from reparam.data.mnist import resolve_data_dir
from reparam.training._checks import SettingsError
from reparam.training.distributed import World

__all__ = ["TEST_BINARIZATION_SEED", "RunData", "choose_data_folder", "load_run_data"]

TEST_BINARIZATION_SEED = 0
"""The binary target's test set is binarized once, with this seed, for every run."""


@dataclass(frozen=True)
class RunData:
    """What a run trains and evaluates on.

    Attributes:
        train: the training examples (drawn by the trainer, batch by batch).
        test: ``[M, ...]`` the test examples as the model sees them.
        test_labels: ``[M]`` labels of the test examples (colours in pictures), or ``None``.
        image_shape: ``(H, W)`` when the examples are flattened images: the run then
            draws pictures of the model; ``None``: no pictures.
        folder: where the data was read from (recorded in the run's settings), or ``None``.
    """

    train: Examples
    test: Tensor
    test_labels: Tensor | None = None
    image_shape: tuple[int, int] | None = None
    folder: Path | None = None

    @classmethod
    def from_tensors(cls, train: Tensor, test: Tensor) -> RunData:
        """Training and test examples used as they are (rows of features, say)."""
        return cls(TensorExamples(train), test)

    def to(self, device: torch.device) -> RunData:
        labels = None if self.test_labels is None else self.test_labels.to(device)
        return replace(
            self, train=self.train.to(device), test=self.test.to(device), test_labels=labels
        )


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
    _check_size("train_size", train_size, mnist.train_images.shape[0])
    _check_size("test_size", test_size, mnist.test_images.shape[0])
    train = mnist.train_images[:train_size].to(device)
    test = mnist.test_images[:test_size].to(device)
    generator = torch.Generator(device=device).manual_seed(TEST_BINARIZATION_SEED)
    return RunData(
        train=ImageExamples(train, target),
        test=present(test, target, generator),
        test_labels=mnist.test_labels[:test_size].long(),
        image_shape=(int(train.shape[1]), int(train.shape[2])),
        folder=resolved,
    )


def _check_size(argument: str, asked: int | None, available: int) -> None:
    if asked is not None and asked > available:
        raise SettingsError(
            "{0} {asked} is more than the {available} images there are; use at most "
            "{available} (or leave it out for all of them)",
            argument,
            asked=asked,
            available=available,
        )
