"""Train, resume and evaluate a run, and load its model: the orchestration.

Each call joins the world (device, threads and, under ``torchrun``, the process
group), checks what would fail late (memory, the work of the evaluation and of
the gradient monitor), takes the run folder's lock on rank 0, and hands the
model and its data to a :class:`~reparam.training.Trainer`. The evaluation and
the pictures end every call; each returns the summary that ``reparam vae
--json`` prints.

A model of your own follows :class:`~reparam.training.LatentVariableModel`
(``loss``, and ``log_weights`` for the importance-weighted bound; the picture
methods only for image data) and is passed as ``family`` (its class, built as
``family(**settings.options)``), with its data as a :class:`~reparam.runs.RunData`
(``RunData.from_tensors(train, test)``). Launched by ``torchrun``, the same calls
train data-parallel, and a worker restarted by torchrun continues from the
run's last checkpoint by itself.

This module is a little over 300 lines: the four entry points share one
:class:`_Job` (join, checks, data, trainer, evaluation and pictures) so that
train, resume and evaluate cannot drift apart; the folder guards, settings,
execution and metrics live in their own modules.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch

from reparam.runs._guards import after_restart, check_weights, locked, prepare_folder
from reparam.runs.data import RunData, choose_data_folder, load_run_data
from reparam.runs.execution import Execution, join
from reparam.runs.folder import (
    RunFolder,
    check_new_run_folder,
    discarded_on_failure,
    existing_run_folder,
    run_folder_path,
)
from reparam.runs.memory import check_evaluation, check_fits, samples_per_example
from reparam.runs.metrics import MetricsFile
from reparam.runs.pictures import save_pictures
from reparam.runs.settings import (
    Family,
    RunSettings,
    check_changes,
    describe,
    family_of,
    read_settings,
    record_changes,
)
from reparam.runs.tensorboard import TensorBoard
from reparam.training import Callback, LatentVariableModel, Trainer, evaluate
from reparam.training._checks import SettingsError
from reparam.training.checkpoint import load_checkpoint
from reparam.training.config import TrainConfig
from reparam.training.distributed import (
    World,
    leave_world,
    noise_seed,
    rank_noise_seed,
)
from reparam.training.monitor import (
    REPLICATES,
    GradientMonitor,
    check_monitor_work,
    plot_gradients,
)

__all__ = ["evaluate_run", "load_model", "resume", "train"]


def train(
    settings: RunSettings,
    run_dir: str | Path,
    *,
    overwrite: bool = False,
    execution: Execution | None = None,
    family: Family | None = None,
    data: RunData | None = None,
    callbacks: Sequence[Callback] = (),
) -> dict[str, Any]:
    """Train a new run into ``run_dir``, evaluate it, draw its pictures; returns the summary.

    ``run_dir`` must be new or empty, or a run folder when ``overwrite``. ``family``
    and ``data`` are the model class and the data of a model of your own (default:
    the built-in family ``settings.model`` on the MNIST subset of ``settings.data``).
    """
    path = run_folder_path(run_dir)
    job = _Job(settings, execution or Execution(), family, data, callbacks)
    return job.carry_out(path, overwrite, resuming=False)


def resume(
    run_dir: str | Path,
    *,
    epochs: int | None = None,
    lr: float | None = None,
    batch_size: int | None = None,
    data_folder: str | None = None,
    execution: Execution | None = None,
    family: Family | None = None,
    data: RunData | None = None,
    callbacks: Sequence[Callback] = (),
) -> dict[str, Any]:
    """Continue the run in ``run_dir`` from its checkpoint, up to ``epochs`` in all.

    What does not change the model may change: ``epochs``, ``lr``, ``batch_size``
    (at an epoch's end only), and the evaluation (``execution``). Each change is
    recorded in the run's ``config.json`` (``"changes"``, see
    ``reparam.runs.settings.record_changes``); the model, its options and the
    seed stay. The MNIST files are read from ``data_folder``, else
    ``$REPARAM_DATA_DIR``, else the folder the run was trained from. ``family`` and
    ``data`` as in :func:`train` (the same as the run was trained with).
    """
    path = run_folder_path(run_dir)
    saved = _with_data_folder(read_settings(path, family is not None), data_folder)
    given = {"epochs": epochs, "lr": lr, "batch_size": batch_size}
    changes = {k: v for k, v in given.items() if v is not None and v != getattr(saved.train, k)}
    settings = replace(saved, train=TrainConfig(**{**saved.train.to_dict(), **changes}))
    job = _Job(settings, execution or Execution(), family, data, callbacks)
    old = {k: getattr(saved.train, k) for k in changes}
    return job.carry_out(path, overwrite=False, resuming=True, changes=(old, changes))


def evaluate_run(
    run_dir: str | Path,
    *,
    data_folder: str | None = None,
    execution: Execution | None = None,
    family: Family | None = None,
    data: RunData | None = None,
) -> dict[str, Any]:
    """Recompute a saved run's test bounds and pictures from its last checkpoint
    (data and ``family`` as in :func:`resume`)."""
    path = run_folder_path(run_dir)
    settings = _with_data_folder(read_settings(path, family is not None), data_folder)
    return _Job(settings, execution or Execution(), family, data, ()).evaluate(path)


def load_model(
    run_dir: str | Path, *, device: str | torch.device = "cpu", family: Family | None = None
) -> LatentVariableModel:
    """The model of the run in ``run_dir`` with the weights of its last checkpoint, on
    ``device``, in evaluation mode: ready to ``encode_mean``, ``decode`` and ``sample_prior``.

    ``family`` is the model's class for a model of your own (default: the built-in
    family the run names).
    """
    path = run_folder_path(run_dir)
    settings = read_settings(path, family is not None)
    run = existing_run_folder(path)
    model = settings.build_model(family)
    state = load_checkpoint(run.checkpoint)
    check_weights(model, state, run)
    model.load_state_dict(state["model"])
    return model.to(device).eval()


def _with_data_folder(settings: RunSettings, given: str | None) -> RunSettings:
    folder = choose_data_folder(given, settings.data.folder)
    return replace(settings, data=replace(settings.data, folder=folder))


class _Job:
    """One call's settings, execution, model family, data and callbacks."""

    def __init__(
        self,
        settings: RunSettings,
        execution: Execution,
        family: Family | None,
        data: RunData | None,
        callbacks: Sequence[Callback],
    ) -> None:
        if data is not None and not isinstance(data, RunData):
            raise SettingsError(
                "{0} must be a RunData, got a {got}", "data", got=type(data).__name__
            )
        self.settings, self.execution = settings, execution
        self.family, self.data, self.callbacks = family, data, tuple(callbacks)
        self.board: TensorBoard | None = None
        family_of(settings.model, family)  # an unknown family fails before any work

    def build(self) -> LatentVariableModel:
        return self.settings.build_model(self.family)

    def carry_out(
        self,
        path: Path,
        overwrite: bool,
        resuming: bool,
        changes: tuple[dict[str, Any], dict[str, Any]] = ({}, {}),
    ) -> dict[str, Any]:
        settings, execution = self.settings, self.execution
        device, world = join(execution, settings.train)
        try:
            if world.restart_count > 0 and not resuming:
                resuming, overwrite = after_restart(settings, path, overwrite)
            self._check_memory(world)
            if not resuming:
                check_new_run_folder(path, overwrite)
            torch.manual_seed(settings.train.seed)
            model = self.build().to(device)
            torch.manual_seed(rank_noise_seed(settings.train.seed, world.rank))
            data = self._load_data(device, world)
            self._check_work(data)
            new, created = world.is_main and not resuming, not path.exists()
            with locked(path, world), discarded_on_failure(path, created, discard=new):
                run = prepare_folder(path, self.settings, resuming, overwrite, world)
                trainer = Trainer(
                    model,
                    data.train,
                    data.test,
                    settings.train,
                    run.checkpoint,
                    log=execution.print,
                    progress_bar=execution.progress_bar,
                    world=world,
                    checkpoint_every=execution.checkpoint_every,
                    monitor=self._monitor(data),
                    compile_backend="inductor" if execution.compile else None,
                    callbacks=(MetricsFile(run), *self.callbacks, *self._board(world)),
                )
                if resuming:
                    state = load_checkpoint(run.checkpoint)
                    check_weights(model, state, run)
                    check_changes(changes[1], state["progress"])
                    trainer.load_state_dict(state)
                    position = trainer.progress.position()
                    if changes[1] and world.is_main:
                        record_changes(run, *changes, position)
                    trainer.log(f"resuming {run.path} {position}{describe(*changes)}")
                history = trainer.fit()
                del trainer  # its DDP wrapper goes before the process group it uses
                return self._finish(run, model, data, history, world)
        finally:
            leave_world(world)

    def evaluate(self, path: Path) -> dict[str, Any]:
        device, world = join(self.execution, self.settings.train)
        try:
            model = self.build().to(device)
            data = self._load_data(device, world)
            check_evaluation(self.build, self.execution.eval_k, data.test.shape[0])
            with locked(path, world):
                run = existing_run_folder(path)
                state = load_checkpoint(run.checkpoint)
                check_weights(model, state, run)
                model.load_state_dict(state["model"])
                history = state["progress"]["history"]
                return self._finish(run, model, data, history, world)
        finally:
            leave_world(world)

    def _board(self, world: World) -> list[TensorBoard]:
        """The TensorBoard writer of this call (rank 0, when asked for), made once."""
        if self.execution.tensorboard is None or not world.is_main:
            return []
        if self.board is None:
            self.board = TensorBoard(self.execution.tensorboard)
        return [self.board]

    def _load_data(self, device: torch.device, world: World) -> RunData:
        """The data given, or the MNIST subset of the settings; on ``device``."""
        if self.data is not None:
            return self.data.to(device)
        data = self.settings.data
        loaded = load_run_data(
            data.folder,
            data.train_size,
            data.test_size,
            self.settings.train.target,
            device,
            download=self.execution.download,
            world=world,
        )
        folder = str(loaded.folder)
        self.settings = replace(self.settings, data=replace(data, folder=folder))
        return loaded

    def _check_work(self, data: RunData) -> None:
        """Evaluation and monitoring that could not finish in reasonable time are refused."""
        execution, config = self.execution, self.settings.train
        check_evaluation(self.build, execution.eval_k, data.test.shape[0])
        if execution.monitor_every is not None:
            batches = -(-len(data.train) // config.batch_size)
            replicates = execution.monitor_replicates or REPLICATES
            check_monitor_work(execution.monitor_every, replicates, config.epochs * batches)

    def _monitor(self, data: RunData) -> GradientMonitor | None:
        """The gradient monitor on the first ``batch_size`` training examples (presented once)."""
        execution, config = self.execution, self.settings.train
        if execution.monitor_every is None:
            return None
        seed = noise_seed(config.seed, "monitor-batch")
        generator = torch.Generator(device=data.train.device).manual_seed(seed)
        first = torch.arange(min(config.batch_size, len(data.train)), device=data.train.device)
        batch = data.train.take(first, generator)
        replicates = execution.monitor_replicates or REPLICATES
        return GradientMonitor(batch, execution.monitor_every, replicates, seed=config.seed)

    def _check_memory(self, world: World) -> None:
        """Sizes that cannot fit are a :class:`SettingsError`, before anything is allocated."""
        share = -(-self.settings.train.batch_size // world.size)
        check_fits(self.build, samples_per_example(self.build), share)

    def _finish(
        self,
        run: RunFolder,
        model: LatentVariableModel,
        data: RunData,
        history: list[dict[str, Any]],
        world: World,
    ) -> dict[str, Any]:
        """Evaluate on the test set (sharded), draw the pictures, write the summary (rank 0)."""
        settings, execution = self.settings, self.execution
        seed = settings.train.seed
        result = evaluate(
            model, data.test, execution.eval_k, progress_bar=True, seed=seed, world=world
        )
        seconds = [row["seconds"] for row in history]
        summary = {
            "run": str(run.path),
            "settings": settings.to_dict(),
            "device": str(data.test.device),
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
            pictures: list[Path] = []
            if execution.pictures and data.image_shape is not None:
                labels = data.test_labels
                assert labels is not None
                pictures = save_pictures(
                    model, data.test, labels, run.path, data.image_shape, seed=seed
                )
            snr_plot = plot_gradients(history, run.path / "gradients.png")
            pictures += [] if snr_plot is None else [snr_plot]
            summary["pictures"] = [str(p) for p in pictures]
            run.write_json(run.summary, summary)
            for board in self._board(world):
                board.on_finish(summary, pictures)
                board.close()
        world.barrier()
        return summary
