"""Training examples held in memory, drawn by index: what a trainer takes batches from.

A trainer draws each epoch's order itself (:func:`reparam.data.batches.epoch_order`)
and asks the examples for the batch at those indices, handing over its
``torch.Generator`` for any randomness of the presentation (the binarization of
images). Order and generator both go into its checkpoints, so an interrupted
epoch continues with the very batches it would have had.

:class:`Examples` is the protocol; :class:`TensorExamples` serves any tensor as
it is (rows of 2-D points, say), :class:`ImageExamples` serves uint8 images as
a model of pixels sees them (see :func:`reparam.data.batches.present`).

>>> g = torch.Generator().manual_seed(0)
>>> points = TensorExamples(torch.tensor([[0.0, 1.0], [2.0, 3.0], [4.0, 5.0]]))
>>> len(points), points.take(torch.tensor([2, 0]), g).tolist()
(3, [[4.0, 5.0], [0.0, 1.0]])
>>> images = ImageExamples(torch.full((4, 2, 2), 255, dtype=torch.uint8), "binary")
>>> images.take(torch.tensor([1]), g).shape
torch.Size([1, 4])
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import torch
from torch import Tensor

from reparam.data.batches import TARGETS, present

__all__ = ["Examples", "ImageExamples", "TensorExamples"]


@runtime_checkable
class Examples(Protocol):
    """``len(examples)`` examples on ``examples.device``; ``take(index, generator)`` is the
    batch ``[len(index), ...]`` at the indices ``index`` (a 1-D long tensor on that device),
    drawing any randomness from ``generator`` only; ``to(device)`` moves them."""

    @property
    def device(self) -> torch.device: ...

    def __len__(self) -> int: ...

    def take(self, index: Tensor, generator: torch.Generator) -> Tensor: ...

    def to(self, device: torch.device) -> Examples: ...


class TensorExamples:
    """The rows of ``tensor`` as they are (no randomness)."""

    def __init__(self, tensor: Tensor) -> None:
        if tensor.dim() < 1 or tensor.shape[0] == 0:
            raise ValueError(f"tensor must hold at least one example, got shape {tensor.shape}")
        self.tensor = tensor

    @property
    def device(self) -> torch.device:
        return self.tensor.device

    def __len__(self) -> int:
        return int(self.tensor.shape[0])

    def take(self, index: Tensor, generator: torch.Generator) -> Tensor:
        return self.tensor.index_select(0, index)

    def to(self, device: torch.device) -> TensorExamples:
        return TensorExamples(self.tensor.to(device))


class ImageExamples:
    """uint8 images ``[N, *shape]`` presented as flat pixels ``[B, prod(shape)]`` under
    ``target`` (:data:`~reparam.data.TARGETS`): intensities, or a fresh
    binarization of every batch drawn from the trainer's generator."""

    def __init__(self, images: Tensor, target: str) -> None:
        if target not in TARGETS:
            raise ValueError(f"target must be one of {', '.join(TARGETS)}, got {target!r}")
        if images.dtype != torch.uint8:
            raise ValueError(f"images must be uint8, got {images.dtype}")
        self.images, self.target = images, target

    @property
    def device(self) -> torch.device:
        return self.images.device

    def __len__(self) -> int:
        return int(self.images.shape[0])

    def take(self, index: Tensor, generator: torch.Generator) -> Tensor:
        return present(self.images.index_select(0, index), self.target, generator)

    def to(self, device: torch.device) -> ImageExamples:
        return ImageExamples(self.images.to(device), self.target)
