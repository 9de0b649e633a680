"""The run folder: settings, checkpoint, metrics and pictures of one training run.

Rules that keep results from being lost:

* a new run refuses a folder that already has content, unless ``overwrite``;
* ``overwrite`` applies only to a run folder: one whose ``config.json`` says
  so, with its layout's ``"format"`` number and the ``"command"`` that wrote
  it. Any other folder is refused and left as it is;
* ``overwrite`` removes only the files a run writes (:data:`RUN_FILES`), never
  another file or a subfolder;
* ``resume`` needs a run folder with a checkpoint.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from reparam._files import write_text_atomically
from reparam._json import to_strict_json
from reparam.training._checks import SettingsError

LOCK_NAME = ".lock"
"""The file a writing run holds locked (see :mod:`reparam.training.run_lock`)."""
PICTURES = ("reconstructions.png", "samples.png", "latent_space.png", "latent_sphere.png")
"""The pictures :func:`reparam.training.save_pictures` draws."""
RUN_FILES = frozenset(
    ("config.json", "checkpoint.pt", "metrics.jsonl", "summary.json", "gradients.png", *PICTURES)
)
"""Every file a run writes into its folder (besides its lock)."""


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
        """The run's settings from ``config.json``: a JSON object with the sections
        ``"model"``, ``"train"`` and ``"data"``, each an object.

        Raises :class:`RunFolderError` naming the file and what is wrong with it.
        """
        path = self.config
        try:
            settings = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise RunFolderError(f"{path} is missing: {self.path} is not a run folder") from None
        except OSError as error:
            raise RunFolderError(f"cannot read {path}: {error.strerror}") from None
        except UnicodeDecodeError as error:
            raise _damaged(path, f"it is not UTF-8 text (byte {error.start})") from None
        except json.JSONDecodeError as error:
            where = f"line {error.lineno}, column {error.colno}"
            raise _damaged(path, f"it is not valid JSON ({error.msg} at {where})") from None
        if not isinstance(settings, dict):
            raise _damaged(path, f"it holds a JSON {_json_kind(settings)}, not an object")
        for section in CONFIG_SECTIONS:
            if section not in settings:
                raise _damaged(path, f'it has no "{section}" section')
            if not isinstance(settings[section], dict):
                kind = _json_kind(settings[section])
                raise _damaged(path, f'its "{section}" section is a JSON {kind}, not an object')
        return settings

    def write_json(self, path: Path, content: Any) -> None:
        """Write ``content`` as JSON, atomically."""
        write_text_atomically(path, to_strict_json(content, indent=2) + "\n")

    def write_metrics(self, history: list[dict[str, Any]]) -> None:
        """Rewrite ``metrics.jsonl``, one JSON object per epoch."""
        lines = (to_strict_json(row) + "\n" for row in history)
        write_text_atomically(self.metrics, "".join(lines))


CONFIG_SECTIONS = ("model", "train", "data")
"""The objects every ``config.json`` holds (besides the ``"command"`` that wrote it)."""


def _damaged(path: Path, what: str) -> RunFolderError:
    return RunFolderError(
        f"{path} holds the run's settings but {what}; the file is damaged or was edited by "
        'hand: restore it (a JSON object with "model", "train" and "data" objects), or start '
        "the run again"
    )


def _json_kind(value: Any) -> str:
    names = {dict: "object", list: "array", str: "string", bool: "boolean", type(None): "null"}
    return names.get(type(value), "number")


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
    why = _not_a_run(folder / "config.json")
    if why is not None:
        raise RunFolderError(
            f"refusing to overwrite {folder}: it is not empty and not a run folder ({why}); "
            "nothing was changed; choose another --run folder"
        )


def _not_a_run(config: Path) -> str | None:
    """Why ``config`` does not describe a run (``None`` when it does)."""
    try:
        content = json.loads(config.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return "no config.json"
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return "its config.json is not a readable JSON file"
    if not isinstance(content, dict):
        return "its config.json is not a JSON object"
    version, command = content.get("format"), content.get("command")
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        return 'its config.json has no "format" number of a run'
    if not (isinstance(command, str) and command):
        return 'its config.json names no "command" that wrote a run'
    return None


def new_run_folder(path: str | Path, overwrite: bool = False) -> RunFolder:
    """A folder for a new run: created, or with the files of the run in it removed when
    ``overwrite`` allows it (:data:`RUN_FILES`: other files stay)."""
    check_new_run_folder(path, overwrite)
    folder = Path(path)
    folder.mkdir(parents=True, exist_ok=True)
    remove_run_files(folder)
    return RunFolder(folder)


def remove_run_files(folder: Path) -> None:
    """Remove the files a run writes in ``folder`` (and their unfinished temporary copies)."""
    for entry in folder.iterdir():
        if _written_by_a_run(entry.name) and (entry.is_symlink() or entry.is_file()):
            entry.unlink()


def run_folder_path(run_dir: object) -> Path:
    """``run_dir`` as a path; an empty name (which would be the current folder) is refused."""
    name = os.fspath(run_dir) if isinstance(run_dir, os.PathLike) else run_dir
    if not (isinstance(name, str) and name.strip()):
        raise SettingsError(
            "{0} must name a folder, e.g. 'runs/vae'; got {got}", "run_dir", got=repr(name)
        )
    return Path(name)


@contextlib.contextmanager
def discarded_on_failure(folder: Path, created: bool, discard: bool = True) -> Iterator[None]:
    """Around a new run (``discard``): if it fails before its first checkpoint, it leaves
    nothing half-written (:func:`discard_unfinished_run`)."""
    try:
        yield
    except BaseException:
        if discard:
            discard_unfinished_run(folder, created)
        raise


def discard_unfinished_run(folder: Path, created: bool) -> None:
    """After a new run failed before its first checkpoint: remove what it wrote, and the
    folder itself when the run ``created`` it and nothing else is in it."""
    if (folder / "checkpoint.pt").is_file():
        return
    try:
        remove_run_files(folder)
        if created and not _contents(folder):
            (folder / LOCK_NAME).unlink(missing_ok=True)
            folder.rmdir()
    except OSError:
        pass  # what cannot be removed stays; the run's own error says what went wrong


def _written_by_a_run(name: str) -> bool:
    """A name of :data:`RUN_FILES`, or a temporary file of one (``<name>.<hex>.tmp``)."""
    return name in RUN_FILES or (name.endswith(".tmp") and name.rsplit(".", 2)[0] in RUN_FILES)


def _contents(folder: Path) -> list[Path]:
    """What is in ``folder`` apart from its lock file."""
    return [entry for entry in folder.iterdir() if entry.name != LOCK_NAME]


def existing_run_folder(path: str | Path) -> RunFolder:
    """A run folder to resume or evaluate: it must have its settings and a checkpoint."""
    run = RunFolder(Path(path))
    if run.path.exists() and not run.path.is_dir():
        raise RunFolderError(f"run folder {run.path} exists but is not a folder")
    if not run.path.is_dir():
        raise RunFolderError(f"run folder {run.path} does not exist")
    for needed in (run.config, run.checkpoint):
        if not needed.is_file():
            raise RunFolderError(
                f"{run.path} is not a complete run folder: {needed.name} is missing"
            )
    return run
