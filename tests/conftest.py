"""Shared test settings."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[1]
MNIST_DIR = REPO.parent / "shared" / "data" / "mnist"


@pytest.fixture
def mnist_dir() -> Path:
    """The real MNIST files beside the checkout; skips when they are absent."""
    if not (MNIST_DIR / "train-images-idx3-ubyte.gz").exists():
        pytest.skip(f"real MNIST not found at {MNIST_DIR}")
    return MNIST_DIR


ONE_THREAD_FOLDERS = frozenset({"cli", "data", "models", "pyro", "training"})
"""Test folders whose tiny models run on one intra-op thread (see :func:`one_thread`)."""


@pytest.fixture(autouse=True)
def one_thread(request: pytest.FixtureRequest) -> Iterator[None]:
    """Tiny models on a busy machine: one intra-op thread avoids waiting on the other.

    Applies to the tests in :data:`ONE_THREAD_FOLDERS`; elsewhere it does nothing.
    """
    if request.path.parent.name not in ONE_THREAD_FOLDERS:
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
