"""The library's words in the command line's: the one place where Python argument names
become options (``eval_k`` -> ``--eval-k``, ``posterior='vmf'`` -> ``--posterior vmf``).
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator
from dataclasses import fields

from reparam.cli._parser import UsageError
from reparam.estimators import EstimatorError
from reparam.models import CONFIGS
from reparam.runs import DataSettings, Execution, RunFolderError, RunFolderExists
from reparam.training import TrainConfig
from reparam.training._checks import ArgumentError, SettingsError
from reparam.training.distributed import WorldError

__all__ = ["FLAGS", "flag", "in_options", "in_words"]

FLAGS = {
    "monitor_every": "--snr-every",
    "monitor_replicates": "--snr-replicates",
    "folder": "--data-dir",
    "options": "the model options",
}
"""Python argument -> option, where the option is not ``--`` + the name with dashes."""
PYTHON_SPELLING = re.compile(r"(?<![-\w])([a-z][a-z_]*)=('[^']*'|[^\s,;:)]+)")
"""``name=value`` in a library message: ``iw_k=5``, ``posterior='vmf'``, ``overwrite=True``."""


def _option_names() -> frozenset[str]:
    """The Python names that are options of the training commands."""
    names = {f.name for f in fields(Execution)} | {f.name for f in fields(TrainConfig)}
    names |= {f.name for f in fields(DataSettings)}
    for config in CONFIGS.values():
        names |= {f.name for f in fields(config)}
    return frozenset(names | {"overwrite", "run_dir", "resume"})


def in_words(error: Exception) -> str:
    """A library error, which names Python arguments, in the options' words: ``{0}``
    arguments of an :class:`ArgumentError` and ``name=value`` spellings become the
    option (``eval_k`` -> ``--eval-k``, ``posterior='vmf'`` -> ``--posterior vmf``,
    ``resume('runs/a')`` -> ``--resume runs/a``). The one place where the command
    line renames the library's words."""
    if isinstance(error, ArgumentError):
        text = error.render({name: flag(name) for name in error.arguments})
    else:
        text = str(error)
    known = _option_names()

    def option(match: re.Match[str]) -> str:
        name, value = match.groups()
        if name not in known:
            return match.group(0)
        return flag(name) if value == "True" else f"{flag(name)} {value.strip(chr(39))}"

    text = re.sub(r"\bresume\('([^']*)'\)", r"--resume \1", text)
    return PYTHON_SPELLING.sub(option, text)


def flag(name: str) -> str:
    """The option of the Python argument ``name``."""
    return FLAGS.get(name, "--" + name.replace("_", "-"))


@contextlib.contextmanager
def in_options() -> Iterator[None]:
    """The library's errors in the options' words: one-line usage errors."""
    try:
        yield
    except RunFolderExists as error:
        if error.folder is None:
            raise UsageError(in_words(error)) from None
        folder = error.folder
        raise UsageError(
            f"run folder {folder} already exists; pass --resume {folder} to continue it, "
            "--overwrite to replace it, or choose another --run folder"
        ) from None
    except (SettingsError, RunFolderError, WorldError, EstimatorError) as error:
        text = in_words(error).replace("choose another run_dir", "choose another --run folder")
        raise UsageError(text) from None
