"""The saved description of a run (``config.json``) and its migration from older formats.

:class:`RunSettings` is a run's frozen, JSON-serialisable description: the model
family and its options, the :class:`~reparam.training.TrainConfig`, the data
subset. ``config.json`` in the run folder is written from it, once, with the
format number :data:`FORMAT`; :meth:`RunSettings.from_dict` reads every earlier
format (1 to 3) under today's names.

>>> settings = RunSettings(
...     model="vae",
...     options={"latent_dim": 2},
...     train=TrainConfig(epochs=1),
...     data=DataSettings(train_size=640, test_size=200),
... )
>>> RunSettings.from_dict(settings.to_dict()) == settings
True
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from types import MappingProxyType
from typing import Any

from reparam.models import CONFIGS, MODEL_FAMILIES
from reparam.runs.folder import RunFolder, existing_run_folder
from reparam.training import LatentVariableModel, TrainConfig
from reparam.training._checks import SettingsError, check_optional_integer, is_integer

__all__ = [
    "CHANGEABLE",
    "FORMAT",
    "RENAMED_OPTIONS",
    "DataSettings",
    "Family",
    "RunSettings",
    "apply_changes",
    "check_changes",
    "check_kept",
    "describe",
    "family_of",
    "read_settings",
    "record_changes",
]

Family = Callable[..., LatentVariableModel]
"""A model family: its class, or any function of its options that builds a model."""


def family_of(name: str, family: Family | None = None) -> Family:
    """``family`` when given, else the built-in family called ``name``."""
    if family is not None:
        if not callable(family):
            raise SettingsError(
                "{0} must be a model class or function, got {got}", "family", got=repr(family)
            )
        return family
    if name not in MODEL_FAMILIES:
        raise SettingsError(
            "unknown model family {got}; choose one of: {known}, or pass its class as {0}",
            "family",
            got=repr(name),
            known=", ".join(MODEL_FAMILIES),
        )
    return MODEL_FAMILIES[name]


FORMAT = 3
"""Version of ``config.json``'s layout. 3: the number of samples is the model option
``num_samples``; 2 called it ``samples``, and 1 is 2 before the version was recorded."""

RENAMED_OPTIONS: Mapping[str, str] = MappingProxyType({"samples": "num_samples"})
"""Model options renamed in format 3: the name in formats 1 and 2 -> the name now."""


@dataclass(frozen=True)
class DataSettings:
    """Which MNIST images a run uses: the first ``train_size`` / ``test_size`` of each split.

    ``folder`` is the folder with the idx files (``None``: ``$REPARAM_DATA_DIR``);
    a run records the folder it read.
    """

    folder: str | None = None
    train_size: int | None = None
    test_size: int | None = None

    def __post_init__(self) -> None:
        if isinstance(self.folder, os.PathLike):
            object.__setattr__(self, "folder", os.fspath(self.folder))
        if self.folder is not None and not (isinstance(self.folder, str) and self.folder.strip()):
            raise SettingsError(
                "{0} must name a folder (or be None), got {got}", "folder", got=repr(self.folder)
            )
        check_optional_integer(self.train_size, "train_size", 1)
        check_optional_integer(self.test_size, "test_size", 1)


@dataclass(frozen=True)
class RunSettings:
    """What a run is: ``model`` names its model family (``"vae"`` and ``"dvae"`` are
    :data:`reparam.models.MODEL_FAMILIES`; a family of your own is any name, given with
    its class to :func:`~reparam.runs.train`), ``options`` are the keyword arguments
    of the family's class (JSON values)."""

    model: str = "vae"
    options: Mapping[str, Any] = field(default_factory=dict)
    train: TrainConfig = field(default_factory=TrainConfig)
    data: DataSettings = field(default_factory=DataSettings)

    def __post_init__(self) -> None:
        if not (isinstance(self.model, str) and self.model.strip()):
            raise SettingsError(
                "{0} must name a model family, e.g. 'vae'; got {got}", "model", got=repr(self.model)
            )
        options = self.options
        if not (isinstance(options, Mapping) and all(isinstance(k, str) for k in options)):
            raise SettingsError(
                "{0} must map option names to values, got {got}", "options", got=repr(options)
            )
        object.__setattr__(self, "options", MappingProxyType(dict(self.options)))
        for name, kind in (("train", TrainConfig), ("data", DataSettings)):
            if not isinstance(getattr(self, name), kind):
                raise SettingsError(
                    "{0} must be a {kind}, got a {got}",
                    name,
                    kind=kind.__name__,
                    got=type(getattr(self, name)).__name__,
                )

    def build_model(self, family: Family | None = None) -> LatentVariableModel:
        """A fresh model with these options (draws from the global RNG); ``family`` is
        the model's class, by default the built-in family named by ``model``."""
        build = family_of(self.model, family)
        try:
            return build(**self.options)
        except SettingsError:
            raise
        except (TypeError, ValueError) as error:
            raise SettingsError(str(error)) from None

    def to_dict(self) -> dict[str, Any]:
        """The content of ``config.json`` (without the world it ran on)."""
        data = {"train_size": self.data.train_size, "test_size": self.data.test_size}
        return {
            "format": FORMAT,
            "command": self.model,
            "model": dict(self.options),
            "train": self.train.to_dict(),
            "data": {**data, "dir": self.data.folder},
        }

    @classmethod
    def from_dict(
        cls, saved: Any, source: str = "the settings", own_family: bool = False
    ) -> RunSettings:
        """Undo :meth:`to_dict`; a wrong shape is a ``SettingsError`` naming ``source``.

        The model must be a built-in family unless ``own_family`` (the caller has its class).
        """
        try:
            version = saved.get("format", 1)
            if not (is_integer(version) and version in (1, 2, FORMAT)):
                raise SettingsError(f"unknown format {version!r}")
            for section in ("model", "train", "data"):
                if not isinstance(saved[section], Mapping):
                    raise SettingsError(f'"{section}" is not a JSON object')
            data = saved["data"]
            if not own_family and saved["command"] not in MODEL_FAMILIES:
                known = ", ".join(MODEL_FAMILIES)
                raise SettingsError(
                    f"unknown model family {saved['command']!r}; not one of {known}"
                )
            return cls(
                model=saved["command"],
                options=_current_options(saved["model"], version),
                train=TrainConfig(**saved["train"]),
                data=DataSettings(data.get("dir"), data.get("train_size"), data.get("test_size")),
            )
        except (AttributeError, KeyError, TypeError, ValueError) as error:
            raise SettingsError(
                f"{source} does not describe a reparam run ({_describe(error)}); it may be "
                "damaged or from another program"
            ) from None


def _current_options(options: Mapping[str, Any], version: int) -> dict[str, Any]:
    """A saved run's model options under today's names (formats 1 and 2 used older ones).

    >>> _current_options({"latent": "bernoulli", "samples": 2}, version=2)
    {'latent': 'bernoulli', 'num_samples': 2}
    """
    if version == FORMAT:
        return dict(options)
    return {RENAMED_OPTIONS.get(key, key): value for key, value in options.items()}


def _describe(error: Exception) -> str:
    return f"missing {error}" if isinstance(error, KeyError) else str(error)


def read_settings(run_dir: str | Path, own_family: bool = False) -> RunSettings:
    """The settings saved in a run folder's ``config.json`` (of a built-in model family,
    unless ``own_family``), with the changes of its resumes (``changes.jsonl``)."""
    run = existing_run_folder(run_dir)
    settings = RunSettings.from_dict(run.read_config(), str(run.config), own_family=own_family)
    return apply_changes(settings, run.read_changes(), str(run.changes))


CHANGEABLE = ("epochs", "lr", "batch_size")
"""What a resume may change: the training's length and pace, never the model."""


def check_kept(saved: RunSettings, given: Mapping[str, Any]) -> None:
    """Settings given again for a resume (model options, training, data subset) must be
    the run's: only :data:`CHANGEABLE` may differ. A model option the run left out is
    compared with its family's default."""
    config = saved.to_dict()
    flat = {**config["model"], **config["train"], **config["data"]}
    family = CONFIGS.get(saved.model)
    defaults = {} if family is None else {f.name: f.default for f in fields(family)}
    for key, value in given.items():
        kept = flat[key] if key in flat else defaults.get(key)
        if key in CHANGEABLE or kept == value:
            continue
        if key in flat:
            what = f"the run's saved {kept}"
        elif kept is None:
            what = "the run's, which it left at the model's default"
        else:
            what = f"the run's {kept} (the default, not given when it was trained)"
        raise SettingsError(
            "{0} {value} differs from {what}; a resumed run keeps its settings "
            "(only {1}, {2}, {3} may change)",
            key,
            *CHANGEABLE,
            value=value,
            what=what,
        )


def check_changes(changes: Mapping[str, Any], progress: Mapping[str, Any]) -> None:
    """A new ``batch_size`` needs a checkpoint at an epoch's end (the position inside an
    epoch counts batches of the old size)."""
    if "batch_size" in changes and progress.get("step", 0) > 0:
        epoch, step = progress["epoch"] + 1, progress["step"]
        raise SettingsError(
            "{0} can change only at an epoch's end, and this run's checkpoint is in epoch "
            "{epoch} after batch {step}; resume it with epochs={epoch} first, then with the "
            "new {0}",
            "batch_size",
            epoch=epoch,
            step=step,
        )


def record_changes(
    run: RunFolder, old: Mapping[str, Any], new: Mapping[str, Any], position: str
) -> None:
    """Add one line to the run's ``changes.jsonl``: ``{"at": "after epoch 2", "lr":
    [0.001, 0.0005], ...}`` (old, new). ``config.json`` stays as it was written;
    :func:`read_settings` applies the changes to it in order."""
    entry = {"at": position, **{name: [old[name], new[name]] for name in new}}
    run.write_changes([*run.read_changes(), entry])


def apply_changes(settings: RunSettings, changes: list[dict[str, Any]], source: str) -> RunSettings:
    """``settings`` with each recorded change's new value, in order."""
    values = settings.train.to_dict()
    for entry in changes:
        if not isinstance(entry, Mapping):
            raise SettingsError(f"{source} is damaged: a line is not a JSON object")
        for name, change in entry.items():
            if name == "at":
                continue
            if name not in CHANGEABLE or not (isinstance(change, list) and len(change) == 2):
                raise SettingsError(f"{source} is damaged: it changes {name!r} as {change!r}")
            values[name] = change[1]
    return replace(settings, train=TrainConfig(**values))


def describe(old: Mapping[str, Any], new: Mapping[str, Any]) -> str:
    """``; lr 0.001 -> 0.0005`` for the log line of a resume."""
    return "".join(f"; {name} {old[name]} -> {new[name]}" for name in new)
