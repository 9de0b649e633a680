"""The run folder: settings, checkpoint, metrics and pictures of one training run.

Rules that keep results from being lost:

* a new run refuses a folder that already has content, unless ``overwrite``;
* ``overwrite`` empties only a folder that is a run folder (has ``config.json``)
  or is empty, never an unrelated folder;
* ``resume`` needs a run folder with a checkpoint.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

LOCK_NAME = ".lock"
"""The file a writing run holds locked (see :mod:`reparam.training.run_lock`)."""


class RunFolderError(ValueError):
    """A run folder cannot be used as asked."""


@dataclass(frozen=True)
class RunFolder:
    """Paths inside a run folder."""

    path: Path

    @property
    def config(self) -> Path:
        return self.path / "config.json"

    @property
    def checkpoint(self) -> Path:
        return self.path / "checkpoint.pt"

    @property
    def metrics(self) -> Path:
        return self.path / "metrics.jsonl"

    @property
    def summary(self) -> Path:
        return self.path / "summary.json"

    def read_config(self) -> dict[str, Any]:
        settings: dict[str, Any] = json.loads(self.config.read_text())
        return settings

    def write_json(self, path: Path, content: Any) -> None:
        """Write ``content`` as JSON, atomically."""
        write_text_atomically(path, json.dumps(content, indent=2) + "\n")

    def write_metrics(self, history: list[dict[str, Any]]) -> None:
        """Rewrite ``metrics.jsonl``, one JSON object per epoch."""
        write_text_atomically(self.metrics, "".join(json.dumps(row) + "\n" for row in history))


def write_text_atomically(path: Path, text: str) -> None:
    """Write ``text`` to a temporary file, then rename it over ``path``."""
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_text(text)
    os.replace(temporary, path)


def check_new_run_folder(path: str | Path, overwrite: bool = False) -> None:
    """Raise :class:`RunFolderError` unless :func:`new_run_folder` may use ``path``."""
    folder = Path(path)
    if folder.exists() and not folder.is_dir():
        raise RunFolderError(f"run folder {folder} exists and is not a folder")
    if not (folder.is_dir() and _contents(folder)):
        return
    if not overwrite:
        raise RunFolderError(
            f"run folder {folder} already exists; pass --resume {folder} to continue it, "
            "--overwrite to replace it, or choose another --run folder"
        )
    if not (folder / "config.json").is_file():
        raise RunFolderError(
            f"refusing to overwrite {folder}: it is not empty and not a run folder "
            "(no config.json); choose another --run folder"
        )


def new_run_folder(path: str | Path, overwrite: bool = False) -> RunFolder:
    """A folder for a new run: created, or emptied when ``overwrite`` allows it."""
    check_new_run_folder(path, overwrite)
    folder = Path(path)
    folder.mkdir(parents=True, exist_ok=True)
    for entry in _contents(folder):  # the folder itself stays, and so does its lock
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry)
        else:
            entry.unlink()
    return RunFolder(folder)


def _contents(folder: Path) -> list[Path]:
    """What is in ``folder`` apart from its lock file."""
    return [entry for entry in folder.iterdir() if entry.name != LOCK_NAME]


def existing_run_folder(path: str | Path) -> RunFolder:
    """A run folder to resume or evaluate: it must have its settings and a checkpoint."""
    run = RunFolder(Path(path))
    if not run.path.is_dir():
        raise RunFolderError(f"run folder {run.path} does not exist")
    for needed in (run.config, run.checkpoint):
        if not needed.is_file():
            raise RunFolderError(
                f"{run.path} is not a complete run folder: {needed.name} is missing"
            )
    return run
