"""Run folders for trainer tests: a new one with an (empty) config, or the one already there."""

from __future__ import annotations

from pathlib import Path

from reparam.runs import RunFolder, existing_run_folder, new_run_folder


def trainer_folder(path: Path, new: bool = True) -> RunFolder:
    """A new run folder at ``path`` with an empty config, or (``new=False``) the existing one."""
    if not new:
        return existing_run_folder(path)
    run = new_run_folder(path)
    run.write_json(run.config, {})
    return run
