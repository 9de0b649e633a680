"""A training run as a library call: describe it, train it into a run folder, evaluate it.

:class:`RunSettings` is the run's frozen, JSON-serialisable description (the
model family and its options, the :class:`~reparam.training.TrainConfig`, the
data subset); ``config.json`` in the run folder is written from it, once.
:class:`Execution` says how to run it this time (device, threads, evaluation,
progress); it changes nothing in the results and is never saved.

>>> settings = RunSettings(
...     model="vae",
...     options={"latent_dim": 2},
...     train=TrainConfig(epochs=1),
...     data=DataSettings(train_size=640, test_size=200),
... )
>>> RunSettings.from_dict(settings.to_dict()) == settings
True

Train it with ``train(settings, "runs/small")`` (the MNIST folder is
``DataSettings.folder`` or ``$REPARAM_DATA_DIR``), continue it with
``resume("runs/small", epochs=5)`` and re-evaluate it with
``evaluate_run("runs/small")``; each returns the summary that ``reparam vae
--json`` prints. Launched by ``torchrun``, the same calls train data-parallel
(see :mod:`reparam.training.distributed`), and a worker restarted by torchrun
continues from the run's last checkpoint by itself.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import MappingProxyType
from typing import Any

import torch

from reparam.data.batches import num_batches, present
from reparam.models import MODEL_FAMILIES
from reparam.training._checks import SettingsError as SettingsError
from reparam.training._checks import (
    check_choice,
    check_flag,
    check_integer,
    check_optional_integer,
    check_threads,
    is_integer,
)
from reparam.training._model import LatentVariableModel
from reparam.training.checkpoint import load_checkpoint
from reparam.training.config import TrainConfig
from reparam.training.distributed import (
    BACKENDS,
    World,
    check_device_name,
    check_global_batch,
    choose_device,
    join_world,
    leave_world,
    noise_seed,
    rank_noise_seed,
)
from reparam.training.evaluation import evaluate
from reparam.training.monitor import (
    REPLICATES,
    GradientMonitor,
    check_monitor_work,
    check_replicates,
    plot_gradients,
)
from reparam.training.pictures import save_pictures
from reparam.training.run_data import RunData, choose_data_folder, load_run_data
from reparam.training.run_folder import (
    RunFolder,
    RunFolderError,
    check_new_run_folder,
    discarded_on_failure,
    existing_run_folder,
    new_run_folder,
    run_folder_path,
)
from reparam.training.run_lock import RunLock
from reparam.training.run_memory import TooLarge, check_evaluation, check_fits
from reparam.training.trainer import Trainer

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
    """What a run is: ``model`` names a family of :data:`reparam.models.MODEL_FAMILIES`
    (``"vae"``, ``"dvae"``), ``options`` are its keyword arguments (JSON values)."""

    model: str = "vae"
    options: Mapping[str, Any] = field(default_factory=dict)
    train: TrainConfig = field(default_factory=TrainConfig)
    data: DataSettings = field(default_factory=DataSettings)

    def __post_init__(self) -> None:
        if not (isinstance(self.model, str) and self.model in MODEL_FAMILIES):
            raise SettingsError(
                f"unknown model family {self.model!r}; choose one of: {', '.join(MODEL_FAMILIES)}"
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

    def build_model(self) -> LatentVariableModel:
        """A fresh model of this family with these options (draws from the global RNG)."""
        try:
            return MODEL_FAMILIES[self.model](**self.options)
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
    def from_dict(cls, saved: Any, source: str = "the settings") -> RunSettings:
        """Undo :meth:`to_dict`; a wrong shape is a :class:`SettingsError` naming ``source``."""
        try:
            version = saved.get("format", 1)
            if not (is_integer(version) and version in (1, 2, FORMAT)):
                raise SettingsError(f"unknown format {version!r}")
            for section in ("model", "train", "data"):
                if not isinstance(saved[section], Mapping):
                    raise SettingsError(f'"{section}" is not a JSON object')
            data = saved["data"]
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


@dataclass(frozen=True)
class Execution:
    """How to carry a run out this time: nothing here changes its results.

    Args:
        device: ``auto`` (CUDA when present), ``cpu``, ``cuda`` or ``cuda:N``.
        backend: ``auto``, ``gloo`` or ``nccl`` (used under torchrun only).
        threads: CPU threads for torch (``None``: torch's choice).
        eval_k: samples of the test set's importance-weighted bound (0 skips it).
        download: fetch missing MNIST files from the public mirrors.
        checkpoint_every: also checkpoint every this many steps.
        monitor_every: measure the gradients' SNR every this many steps
            (:mod:`reparam.training.monitor`; ``None``: never).
        monitor_replicates: gradient estimates per measurement (>= 2; ``None``:
            :data:`~reparam.training.monitor.REPLICATES`); only with ``monitor_every``.
        compile: compile each training step (forward and backward) with
            ``torch.compile`` (Inductor); where that is not available the run
            warns once and trains eagerly. The numbers then differ from an
            eager run's by rounding, so resume a run as it was trained.
        progress_bar: a bar per epoch on a terminal.
        log: receives the progress lines (default: stdout).
    """

    device: str = "auto"
    backend: str = "auto"
    threads: int | None = None
    eval_k: int = 1000
    download: bool = False
    checkpoint_every: int | None = None
    monitor_every: int | None = None
    monitor_replicates: int | None = None
    compile: bool = False
    progress_bar: bool = True
    log: Callable[[str], None] | None = None

    def __post_init__(self) -> None:
        check_device_name(self.device)
        check_choice(self.backend, "backend", BACKENDS)
        check_threads(self.threads)
        check_integer(self.eval_k, "eval_k", 0, why=" (0 skips the importance-weighted bound)")
        check_optional_integer(self.checkpoint_every, "checkpoint_every", 1)
        check_optional_integer(self.monitor_every, "monitor_every", 1)
        check_replicates(self.monitor_replicates, self.monitor_every)
        for name in ("download", "compile", "progress_bar"):
            check_flag(getattr(self, name), name)
        if self.log is not None and not callable(self.log):
            raise SettingsError("{0} must be a function of one line, or None", "log")

    def print(self, line: str) -> None:
        (self.log or _stdout)(line)


def _stdout(line: str) -> None:
    print(line, flush=True)


def read_settings(run_dir: str | Path) -> RunSettings:
    """The settings saved in a run folder's ``config.json``."""
    run = existing_run_folder(run_dir)
    return RunSettings.from_dict(run.read_config(), source=str(run.config))


def train(
    settings: RunSettings,
    run_dir: str | Path,
    *,
    overwrite: bool = False,
    execution: Execution | None = None,
) -> dict[str, Any]:
    """Train a new run into ``run_dir``, evaluate it, draw its pictures; returns the summary.

    ``run_dir`` must be new or empty, or a run folder when ``overwrite``.
    """
    path = run_folder_path(run_dir)
    return _carry_out(settings, path, overwrite, False, execution or Execution())


def resume(
    run_dir: str | Path,
    *,
    epochs: int | None = None,
    data_folder: str | None = None,
    execution: Execution | None = None,
) -> dict[str, Any]:
    """Continue the run in ``run_dir`` from its checkpoint, up to ``epochs`` in all.

    The MNIST files are read from ``data_folder``, else ``$REPARAM_DATA_DIR``,
    else the folder the run was trained from.
    """
    path = run_folder_path(run_dir)
    settings = _with_data_folder(read_settings(path), data_folder)
    if epochs is not None:
        settings = replace(settings, train=replace(settings.train, epochs=epochs))
    return _carry_out(settings, path, False, True, execution or Execution())


def evaluate_run(
    run_dir: str | Path, *, data_folder: str | None = None, execution: Execution | None = None
) -> dict[str, Any]:
    """Recompute a saved run's test bounds and pictures from its last checkpoint
    (data as in :func:`resume`)."""
    execution = execution or Execution()
    path = run_folder_path(run_dir)
    settings = _with_data_folder(read_settings(path), data_folder)
    device, world = _join(execution, settings.train)
    try:
        model = settings.build_model().to(device)
        data = _load_data(settings, execution, device, world)
        settings = replace(settings, data=replace(settings.data, folder=str(data.folder)))
        check_evaluation(settings.build_model, execution.eval_k, data.test_pixels.shape[0])
        with _lock(path, world):
            run = existing_run_folder(path)
            state = load_checkpoint(run.checkpoint)
            _check_weights(model, state, run)
            model.load_state_dict(state["model"])
            history = state["progress"]["history"]
            return _finish(run, model, data, settings, history, execution, world)
    finally:
        leave_world(world)


def _with_data_folder(settings: RunSettings, given: str | None) -> RunSettings:
    folder = choose_data_folder(given, settings.data.folder)
    return replace(settings, data=replace(settings.data, folder=folder))


def _carry_out(
    settings: RunSettings, path: Path, overwrite: bool, resuming: bool, execution: Execution
) -> dict[str, Any]:
    device, world = _join(execution, settings.train)
    try:
        if world.restart_count > 0 and not resuming:
            resuming, overwrite = _after_restart(settings, path, overwrite)
        _check_memory(settings, world)
        if not resuming:
            check_new_run_folder(path, overwrite)
        torch.manual_seed(settings.train.seed)
        model = settings.build_model().to(device)
        torch.manual_seed(rank_noise_seed(settings.train.seed, world.rank))
        data = _load_data(settings, execution, device, world)
        settings = replace(settings, data=replace(settings.data, folder=str(data.folder)))
        _check_work(settings, execution, data)
        new, created = world.is_main and not resuming, not path.exists()
        with _lock(path, world), discarded_on_failure(path, created, discard=new):
            run = _prepare_folder(path, settings, resuming, overwrite, world)
            trainer = Trainer(
                model,
                data.train_images,
                data.test_pixels,
                settings.train,
                run,
                log=execution.print,
                progress_bar=execution.progress_bar,
                world=world,
                checkpoint_every=execution.checkpoint_every,
                monitor=_monitor(execution, data, settings.train),
                compile_backend="inductor" if execution.compile else None,
            )
            if resuming:
                _check_weights(model, load_checkpoint(run.checkpoint), run)
                trainer.resume()
                trainer.log(f"resuming {run.path} {trainer.progress.position()}")
            history = trainer.fit()
            del trainer  # its DDP wrapper goes before the process group it uses
            return _finish(run, model, data, settings, history, execution, world)
    finally:
        leave_world(world)


def _check_work(settings: RunSettings, execution: Execution, data: RunData) -> None:
    """Evaluation and monitoring that could not finish in reasonable time are refused."""
    check_evaluation(settings.build_model, execution.eval_k, data.test_pixels.shape[0])
    if execution.monitor_every is not None:
        batches = num_batches(data.train_images.shape[0], settings.train.batch_size)
        replicates = execution.monitor_replicates or REPLICATES
        check_monitor_work(execution.monitor_every, replicates, settings.train.epochs * batches)


def _monitor(execution: Execution, data: RunData, config: TrainConfig) -> GradientMonitor | None:
    """The gradient monitor on the first ``batch_size`` training images (binarized once)."""
    if execution.monitor_every is None:
        return None
    images = data.train_images[: config.batch_size]
    seed = noise_seed(config.seed, "monitor-batch")
    generator = torch.Generator(device=images.device).manual_seed(seed)
    batch = present(images, config.target, generator)
    replicates = execution.monitor_replicates or REPLICATES
    return GradientMonitor(batch, execution.monitor_every, replicates, seed=config.seed)


def _check_memory(settings: RunSettings, world: World) -> None:
    """Sizes that cannot fit are a :class:`SettingsError`, before anything is allocated."""
    options = settings.options
    samples = int(options.get("num_samples") or 1) * int(options.get("iw_k") or 1)
    share = -(-settings.train.batch_size // world.size)
    try:
        check_fits(settings.build_model, samples, share)
    except TooLarge as error:
        raise SettingsError(str(error)) from None


def _join(execution: Execution, config: TrainConfig) -> tuple[torch.device, World]:
    """Threads, device and (under torchrun) the process group; bad set-ups fail here."""
    if execution.threads is not None:
        torch.set_num_threads(execution.threads)
    device, backend = choose_device(execution.device)
    if backend is None and execution.backend != "auto":
        raise SettingsError(
            "{0}={got!r} applies to runs launched by torchrun, and this run is one process; "
            "leave {0} out",
            "backend",
            got=execution.backend,
        )
    if backend is not None:
        check_global_batch(config.batch_size, int(os.environ["WORLD_SIZE"]))
    world = join_world(device, execution.backend)
    return device, world


def _after_restart(settings: RunSettings, path: Path, overwrite: bool) -> tuple[bool, bool]:
    """A worker restarted by torchrun: continue this run's folder, never another's."""
    run = RunFolder(path)
    if not run.config.is_file():
        return False, overwrite
    saved = RunSettings.from_dict(run.read_config(), source=str(run.config))
    if replace(saved, data=replace(saved.data, folder=None)) != replace(
        settings, data=replace(settings.data, folder=None)
    ):
        return False, overwrite  # not ours: the usual checks refuse it
    return run.checkpoint.is_file(), True


def _load_data(
    settings: RunSettings, execution: Execution, device: torch.device, world: World
) -> RunData:
    data = settings.data
    return load_run_data(
        data.folder,
        data.train_size,
        data.test_size,
        settings.train.target,
        device,
        download=execution.download,
        world=world,
    )


class _NoLock:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None


def _lock(path: Path, world: World) -> RunLock | _NoLock:
    """Rank 0 takes the folder's lock; every rank learns whether it could."""
    lock: RunLock | _NoLock = _NoLock()
    error = None
    if world.is_main:
        try:
            lock = RunLock.acquire(path)
        except RunFolderError as failure:
            error = str(failure)
    first = world.gather_objects(error)[0]
    if first is not None:
        raise RunFolderError(first)
    return lock


def _prepare_folder(
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
            error = str(failure)
    first = world.gather_objects(error)[0]
    if first is not None:
        raise RunFolderError(first)
    return RunFolder(path)


def _check_weights(model: LatentVariableModel, state: dict[str, Any], run: RunFolder) -> None:
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


def _finish(
    run: RunFolder,
    model: LatentVariableModel,
    data: RunData,
    settings: RunSettings,
    history: list[dict[str, Any]],
    execution: Execution,
    world: World,
) -> dict[str, Any]:
    """Evaluate on the test set (sharded), draw the pictures, write the summary (rank 0)."""
    seed = settings.train.seed
    result = evaluate(
        model, data.test_pixels, execution.eval_k, progress_bar=True, seed=seed, world=world
    )
    pictures: list[Path] = []
    seconds = [row["seconds"] for row in history]
    summary = {
        "run": str(run.path),
        "settings": settings.to_dict(),
        "device": str(data.test_pixels.device),
        "world_size": world.size,
        "backend": world.backend,
        "epochs": history,
        "test_neg_elbo": result.neg_elbo,
        "test_neg_iw_bound": result.neg_iw_bound,
        "eval_k": result.k,
        "seconds_per_epoch": sum(seconds) / len(seconds) if seconds else None,
        "pictures": [],
    }
    if world.is_main:
        pictures = save_pictures(
            model, data.test_pixels, data.test_labels, run.path, data.image_shape, seed=seed
        )
        snr_plot = plot_gradients(history, run.path / "gradients.png")
        pictures += [] if snr_plot is None else [snr_plot]
        summary["pictures"] = [str(p) for p in pictures]
        run.write_json(run.summary, summary)
    world.barrier()
    return summary
