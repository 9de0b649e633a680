"""Training settings shared by every model, validated on construction."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

from reparam.data.batches import TARGETS


@dataclass(frozen=True)
class TrainConfig:
    """Settings of a training run (the defaults are the classic PyTorch VAE example's).

    >>> TrainConfig(batch_size=0)
    Traceback (most recent call last):
    ...
    ValueError: batch size must be >= 1, got 0
    """

    epochs: int = 10
    batch_size: int = 128
    lr: float = 1e-3
    seed: int = 0
    target: str = "grayscale"

    def __post_init__(self) -> None:
        if self.epochs < 1:
            raise ValueError(f"epochs must be >= 1, got {self.epochs}")
        if self.batch_size < 1:
            raise ValueError(f"batch size must be >= 1, got {self.batch_size}")
        if not (math.isfinite(self.lr) and self.lr > 0):
            raise ValueError(f"learning rate must be a finite number > 0, got {self.lr}")
        if self.target not in TARGETS:
            raise ValueError(f"target must be one of {', '.join(TARGETS)}, got {self.target!r}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
