"""The run folder under several processes: rank 0 locks and writes it, every rank learns
of a failure; a restarted worker finds its own run; a checkpoint must fit the model.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

from reparam.runs.folder import RunFolder, RunFolderError, existing_run_folder, new_run_folder
from reparam.runs.lock import RunLock
from reparam.runs.settings import RunSettings
from reparam.training import LatentVariableModel
from reparam.training.distributed import World

__all__ = ["after_restart", "check_weights", "locked", "prepare_folder"]


def after_restart(settings: RunSettings, path: Path, overwrite: bool) -> tuple[bool, bool]:
    """A worker restarted by torchrun: continue this run's folder, never another's."""
    run = RunFolder(path)
    if not run.config.is_file():
        return False, overwrite
    saved = RunSettings.from_dict(run.read_config(), str(run.config), own_family=True)
    if replace(saved, data=replace(saved.data, folder=None)) != replace(
        settings, data=replace(settings.data, folder=None)
    ):
        return False, overwrite  # not ours: the usual checks refuse it
    return run.checkpoint.is_file(), True


class _NoLock:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None


def locked(path: Path, world: World) -> RunLock | _NoLock:
    """Rank 0 takes the folder's lock; every rank learns whether it could."""
    lock: RunLock | _NoLock = _NoLock()
    error = None
    if world.is_main:
        try:
            lock = RunLock.acquire(path)
        except RunFolderError as failure:
            error = failure
    _raise_first(error, world)
    return lock


def prepare_folder(
    path: Path, settings: RunSettings, resuming: bool, overwrite: bool, world: World
) -> RunFolder:
    if resuming:
        return existing_run_folder(path)
    error = None
    if world.is_main:
        try:
            run = new_run_folder(path, overwrite)
            config = {**settings.to_dict(), "world_size": world.size, "backend": world.backend}
            run.write_json(run.config, config)
        except RunFolderError as failure:
            error = failure
    _raise_first(error, world)
    return RunFolder(path)


def _raise_first(error: RunFolderError | None, world: World) -> None:
    """Rank 0's error on every rank (the others get its message)."""
    first = world.gather_objects(None if error is None else str(error))[0]
    if error is not None:
        raise error
    if first is not None:
        raise RunFolderError(first)


def check_weights(model: LatentVariableModel, state: dict[str, Any], run: RunFolder) -> None:
    """Refuse, in one line, a checkpoint whose weights do not fit ``model``."""
    expected = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    try:
        found = {k: tuple(v.shape) for k, v in state["model"].items()}
    except (KeyError, AttributeError, TypeError):
        raise RunFolderError(f"{run.checkpoint} has no model weights") from None
    if found != expected:
        reason = model.explain_weights(found.keys())
        raise RunFolderError(
            f"{run.checkpoint} holds the weights of another model than the one described "
            f"in {run.config} ({reason or f'{len(found)} tensors, expected {len(expected)}'}"
            f"{_first_difference(found, expected)}); was the folder written by another "
            "command or version?"
        )


def _first_difference(found: dict[str, Any], expected: dict[str, Any]) -> str:
    for key in sorted(set(found) | set(expected)):
        if found.get(key) != expected.get(key):
            return f"; first difference: {key} {found.get(key)} vs {expected.get(key)}"
    return ""
