"""What a trainer's checkpoint holds, and how random states come back from it.

A checkpoint is the trainer's ``state_dict()``: the model's and the optimizer's
state dicts, the global torch RNG state of every rank (``"rng_by_rank"``, with
rank 0's also as ``"rng"``), the data generator's state (``"generator"``), the
monitor's measurements not yet in an epoch record, and the :class:`Progress`.

Random states come back by this policy:

* the same world size: every rank restores its own global RNG state, so the
  run continues bit for bit;
* another world size: rank 0 restores its own, the other ranks start new
  streams from ``noise_seed(seed, "resume", rank, epoch, step)`` (said in the log);
* a data generator saved on another kind of device (a CUDA generator's state
  for a CPU one) cannot be restored: a new stream starts from
  ``noise_seed(seed, "device", rank, epoch, step)`` (said in the log).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor

from reparam.training._rng import restore_rng
from reparam.training.distributed import World, noise_seed

__all__ = ["CHECKPOINT_KEYS", "Progress", "restore_generator", "restore_noise"]

CHECKPOINT_KEYS = ("model", "optimizer", "rng", "generator", "progress")
"""What a trainer's ``load_state_dict`` needs from a checkpoint."""


@dataclass
class Progress:
    """Where training stands: finished epochs, and the position inside the next one."""

    epoch: int = 0
    step: int = 0
    order: Tensor | None = None
    loss_sum: float = 0.0
    count: int = 0
    seconds: float = 0.0
    history: list[dict[str, Any]] = field(default_factory=list)

    def position(self) -> str:
        """``after epoch 1``, or ``in epoch 2 after batch 275`` inside an epoch."""
        if self.step == 0:
            return f"after epoch {self.epoch}"
        return f"in epoch {self.epoch + 1} after batch {self.step}"

    def state_dict(self, seconds: float | None = None) -> dict[str, Any]:
        return {
            "epoch": self.epoch,
            "step": self.step,
            "order": None if self.order is None else self.order.cpu(),
            "loss_sum": self.loss_sum,
            "count": self.count,
            "seconds": self.seconds if seconds is None else seconds,
            "history": self.history,
        }

    @classmethod
    def from_state(cls, saved: dict[str, Any], device: torch.device) -> Progress:
        state = dict(saved)
        if state["order"] is not None:
            state["order"] = state["order"].to(device)
        return cls(**state)


def restore_noise(
    state: dict[str, Any], world: World, device: torch.device, seed: int, log: Callable[[str], None]
) -> None:
    """The global torch RNG of this rank, by the policy above."""
    by_rank = state.get("rng_by_rank", [state["rng"]])
    if len(by_rank) == world.size:
        restore_rng(by_rank[world.rank], device)
        return
    log(
        f"note: the checkpoint was written by {len(by_rank)} process(es) and this run has "
        f"{world.size}; the Monte Carlo noise of ranks other than 0 starts anew, so "
        "the run will not equal an uninterrupted one"
    )
    if world.rank == 0:
        restore_rng(by_rank[0], device)
    else:
        p = state["progress"]
        torch.manual_seed(noise_seed(seed, "resume", world.rank, p["epoch"], p["step"]))


def restore_generator(
    generator: torch.Generator,
    state: dict[str, Any],
    world: World,
    seed: int,
    log: Callable[[str], None],
) -> None:
    """The data generator's state, or a new stream where it was saved on another kind
    of device."""
    try:
        generator.set_state(state["generator"])
    except RuntimeError:
        p = state["progress"]
        generator.manual_seed(noise_seed(seed, "device", world.rank, p["epoch"], p["step"]))
        log(
            f"note: the checkpoint was written on another kind of device than "
            f"{generator.device.type}; the order and binarization of the data start a new "
            "random stream, so the run will not equal an uninterrupted one"
        )
