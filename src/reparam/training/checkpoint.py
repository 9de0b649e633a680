"""Checkpoints written atomically: a crash while saving never damages the last one.

``save_checkpoint`` writes to ``<name>.tmp`` in the same folder, flushes it to
disk, then renames it over the old file with :func:`os.replace` (atomic on POSIX
and Windows). A partial temporary file is removed when the write fails.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

FORMAT = 1
"""Version of the checkpoint layout, stored in every file."""


class CheckpointError(ValueError):
    """A checkpoint is missing or unreadable."""


def save_checkpoint(state: dict[str, Any], path: Path) -> None:
    """Write ``state`` (tensors, numbers, strings, lists, dicts) to ``path`` atomically."""
    temporary = path.with_name(path.name + ".tmp")
    try:
        with open(temporary, "wb") as handle:
            torch.save({"format": FORMAT, **state}, handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def load_checkpoint(path: Path) -> dict[str, Any]:
    """Read a checkpoint written by :func:`save_checkpoint` onto the CPU (tensors only, no code)."""
    if not path.is_file():
        raise CheckpointError(f"no checkpoint at {path}")
    try:
        state: dict[str, Any] = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:
        raise CheckpointError(f"cannot read checkpoint {path}: {error}") from None
    if state.get("format") != FORMAT:
        raise CheckpointError(f"{path}: unknown checkpoint format {state.get('format')!r}")
    return state
