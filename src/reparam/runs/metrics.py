"""Where a run's metrics go: ``metrics.jsonl`` in its folder, and any callbacks of yours."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from reparam.runs.folder import RunFolder
from reparam.training import Callback

__all__ = ["MetricsFile"]


class MetricsFile(Callback):
    """Rewrites the run's ``metrics.jsonl`` after each epoch, one JSON object per epoch."""

    def __init__(self, run: RunFolder) -> None:
        self.run = run

    def on_epoch(self, record: Mapping[str, Any], history: Sequence[Mapping[str, Any]]) -> None:
        self.run.write_metrics([dict(row) for row in history])
