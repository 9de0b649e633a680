"""Training settings shared by every model, validated on construction."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from reparam.data.batches import TARGETS
from reparam.training._checks import (
    check_choice,
    check_integer,
    check_positive_number,
    check_seed,
)


@dataclass(frozen=True)
class TrainConfig:
    """Settings of a training run (the defaults are the classic PyTorch VAE example's).

    Each field is checked on construction; an error names it:

    >>> TrainConfig(batch_size=0)
    Traceback (most recent call last):
    ...
    reparam.training._checks.SettingsError: batch_size must be an integer >= 1, got 0
    """

    epochs: int = 10
    batch_size: int = 128
    lr: float = 1e-3
    seed: int = 0
    target: str = "grayscale"

    def __post_init__(self) -> None:
        check_integer(self.epochs, "epochs", 1)
        check_integer(self.batch_size, "batch_size", 1)
        check_positive_number(self.lr, "lr")
        check_seed(self.seed)
        check_choice(self.target, "target", TARGETS)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
