"""Metrics as data: what a :class:`~reparam.training.Trainer` tells its callbacks.

A callback is any object with the methods of :class:`Callback` (subclass it to
get no-op defaults). The trainer calls them on rank 0 only:

* ``on_step(metrics)`` each time the running loss is read on the host (every
  :data:`~reparam.training.trainer.READ_EVERY` steps, so that no step waits for
  the device), with ``{"step": s, "epoch": e, "train_loss": running mean}``,
  ``s`` counting optimizer steps over the whole run;
* ``on_epoch(record, history)`` after each epoch's checkpoint, with that
  epoch's record (``"epoch"``, ``"train_loss"``, ``"test_loss"``,
  ``"seconds"``... the numbers of ``metrics.jsonl``) and every record so far.

>>> class Losses(Callback):
...     def __init__(self) -> None:
...         self.seen: list[float] = []
...     def on_epoch(self, record, history) -> None:
...         self.seen.append(record["train_loss"])
>>> Losses().seen
[]
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["Callback"]


class Callback:
    """Receives the trainer's metrics; every method does nothing unless overridden."""

    def on_step(self, metrics: Mapping[str, float]) -> None:
        """The running figures of the epoch under way (see the module docstring)."""

    def on_epoch(self, record: Mapping[str, Any], history: Sequence[Mapping[str, Any]]) -> None:
        """One finished epoch's record, and all of them so far."""
