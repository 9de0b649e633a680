"""Mini-batches from tensors held in memory, with explicit randomness.

No Dataset, no per-item Python: an epoch is one permutation drawn from a
``torch.Generator``; a batch is one ``index_select`` per tensor, so it is
contiguous and costs a single copy. Images stay uint8 until a batch is taken.

>>> g = torch.Generator().manual_seed(0)
>>> x = torch.arange(10)
>>> [b.tolist() for (b,) in iterate_batches((x,), batch_size=4, generator=g)]
[[4, 1, 7, 5], [3, 9, 0, 8], [6, 2]]
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import torch
from torch import Tensor

__all__ = [
    "TARGETS",
    "batch_slices",
    "epoch_order",
    "iterate_batches",
    "num_batches",
    "present",
    "to_pixels",
]

TARGETS = ("grayscale", "binary")
"""How pixels are presented to a model: intensities in [0, 1], or Bernoulli draws."""


def epoch_order(n: int, generator: torch.Generator) -> Tensor:
    """A random permutation of ``range(n)`` on the generator's device."""
    return torch.randperm(n, generator=generator, device=generator.device)


def batch_slices(order: Tensor, batch_size: int, start: int = 0) -> Iterator[Tensor]:
    """Consecutive pieces of ``order`` of ``batch_size`` (the last may be smaller).

    ``start`` skips that many batches, to continue an interrupted epoch.
    """
    for begin in range(start * batch_size, order.shape[0], batch_size):
        yield order[begin : begin + batch_size]


def num_batches(n: int, batch_size: int) -> int:
    """How many batches :func:`batch_slices` yields for ``n`` items."""
    return -(-n // batch_size)


def iterate_batches(
    tensors: Sequence[Tensor], batch_size: int, generator: torch.Generator
) -> Iterator[tuple[Tensor, ...]]:
    """One shuffled epoch over tensors sharing their first dimension."""
    order = epoch_order(tensors[0].shape[0], generator)
    for index in batch_slices(order, batch_size):
        yield tuple(t.index_select(0, index) for t in tensors)


def to_pixels(images: Tensor) -> Tensor:
    """uint8 images ``[B, *shape]`` -> float32 intensities ``[B, prod(shape)]`` in [0, 1]."""
    return images.reshape(images.shape[0], -1).to(torch.float32).div_(255.0)


def present(images: Tensor, target: str, generator: torch.Generator | None) -> Tensor:
    """uint8 images as the model sees them under ``target`` (see :data:`TARGETS`).

    ``binary`` draws each pixel as Bernoulli(intensity) from ``generator``: a
    fresh binarization every time (dynamic binarization), so the model's
    Bernoulli likelihood is a proper one and its ELBO bounds a log-likelihood.
    """
    pixels = to_pixels(images)
    if target == "grayscale":
        return pixels
    if target == "binary":
        # u < p with u ~ U[0, 1) is Bernoulli(p), and much faster than torch.bernoulli on a CPU
        uniform = torch.rand(pixels.shape, generator=generator, device=pixels.device)
        return torch.lt(uniform, pixels).to(torch.float32)
    raise ValueError(f"unknown target {target!r}; choose one of: {', '.join(TARGETS)}")
