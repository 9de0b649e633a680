"""The training loop: Adam on the summed per-example loss, checkpointed every epoch.

The trainer knows no model family and no data set. It trains any
``nn.Module`` with a method ``loss(x) -> [B]`` (the per-example surrogate; its
sum is what ``backward`` sees, and in ``eval()`` mode its mean over the test
examples is the epoch's ``test_loss``) on any :class:`~reparam.data.Examples`.
Its whole state is :meth:`Trainer.state_dict` (see :mod:`reparam.training._state`),
written atomically to ``checkpoint`` and read back by :meth:`Trainer.resume`.

Randomness is explicit: a ``torch.Generator`` on the data's device draws each
epoch's order and whatever the examples draw per batch (the binarization of
images); the global torch generator drives the model's own sampling
(``torch.distributions`` takes no generator). Both states go into every
checkpoint, so a resumed run continues bit for bit: two epochs and then two
resumed epochs equal four straight epochs.

Ctrl-C or SIGTERM finishes the current batch, saves a checkpoint that also
records the position in the epoch, and stops (a second one stops at once). A
non-finite loss stops the run before the optimizer takes the bad step, keeping
the last good checkpoint. The step strategy (:mod:`reparam.training._steps`)
is :class:`~reparam.training._steps.LocalSteps` in one process with fused Adam
(the host reads the loss every :data:`READ_EVERY` steps, before every
checkpoint and at the end of each epoch), else
:class:`~reparam.training._steps.SyncedSteps`. ``compile_backend`` runs each
step's forward and backward passes compiled (see :mod:`reparam.training._compiled`).

Data-parallel (see :mod:`reparam.training.distributed`): every rank draws the
same order and the same global batch, then trains on its share through
``DistributedDataParallel``. Rank 0 alone writes the checkpoint and calls the
callbacks; the random state of every rank goes into the checkpoint, so a resume
at the same world size is exact.

This module is over 300 lines on purpose: the epoch loop, its three ways of
stopping (a signal, a non-finite loss, the end) and the checkpoint cadence
share one :class:`~reparam.training._state.Progress`; the step strategies,
the checkpoint contents and the RNG policy live in their own modules.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, cast

import torch
from torch import Tensor, nn
from torch.nn.parallel import DistributedDataParallel
from tqdm import tqdm

from reparam.data.batches import batch_slices, epoch_order, num_batches
from reparam.data.examples import Examples, TensorExamples
from reparam.training._checks import ArgumentError
from reparam.training._compiled import Backend, StepLoss
from reparam.training._interrupt import Stopped, deferred_interrupt
from reparam.training._model import LatentVariableModel
from reparam.training._rng import capture_rng
from reparam.training._state import (
    CHECKPOINT_KEYS,
    Progress,
    restore_generator,
    restore_noise,
)
from reparam.training._steps import (
    BadLoss,
    LocalSteps,
    ShareLoss,
    StepStrategy,
    SyncedSteps,
    adam,
    first_signal,
    signal_flags,
)
from reparam.training.callbacks import Callback
from reparam.training.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from reparam.training.config import TrainConfig
from reparam.training.distributed import World
from reparam.training.evaluation import mean_loss
from reparam.training.monitor import GradientMonitor

__all__ = ["READ_EVERY", "Trainer", "TrainingDiverged"]

Log = Callable[[str], None]
READ_EVERY = 20
"""Steps between two host reads of the running loss (and of the non-finite flag)."""


class TrainingDiverged(ArgumentError, RuntimeError):
    """The loss became nan or infinite; the run stopped (the advice names ``lr``)."""


class Trainer:
    """Train ``model`` on ``train_data`` and score it on ``test_data`` each epoch.

    Args:
        model: an ``nn.Module`` with ``loss(x) -> [B]``, on its device.
        train_data: the training examples (a tensor is taken as it is), on the
            model's device.
        test_data: ``[M, ...]`` test examples as the model sees them.
        config: the training settings; ``batch_size`` is the global batch.
        checkpoint: the checkpoint file, written by rank 0 only.
        log: receives one line per epoch (rank 0 only).
        progress_bar: show a bar per epoch (on a terminal, rank 0 only).
        world: this process's rank among the ranks (default: one process).
        checkpoint_every: also checkpoint every this many steps (``None``: at
            the end of each epoch only).
        monitor: measures the gradients' SNR during training (its rows go into
            each epoch's record as ``"gradients"``); ``None``: no monitoring.
        compile_backend: compile each step's loss, forward and backward, with
            ``torch.compile`` and this backend (``"inductor"``, or a callable);
            ``None``: eagerly. Where compilation fails the run warns once and
            goes on eagerly.
        callbacks: receive the metrics (see :class:`~reparam.training.Callback`).
        optimizer: the optimizer of ``model``'s parameters (default: Adam with
            ``config.lr``, fused where this torch has it).
    """

    def __init__(
        self,
        model: nn.Module,
        train_data: Examples | Tensor,
        test_data: Tensor,
        config: TrainConfig,
        checkpoint: Path,
        log: Log = print,
        progress_bar: bool = True,
        world: World | None = None,
        checkpoint_every: int | None = None,
        monitor: GradientMonitor | None = None,
        compile_backend: Backend | None = None,
        callbacks: Sequence[Callback] = (),
        optimizer: torch.optim.Optimizer | None = None,
    ) -> None:
        self.model = model
        self._protocol = cast(LatentVariableModel, model)  # the methods its callers use
        self.train_data = (
            TensorExamples(train_data) if isinstance(train_data, Tensor) else train_data
        )
        self.test_data = test_data
        self.config = config
        self.checkpoint = Path(checkpoint)
        self.world = world or World()
        self.log = log if self.world.is_main else _quiet
        self.callbacks = tuple(callbacks) if self.world.is_main else ()
        self.progress_bar = progress_bar and self.world.is_main
        self.checkpoint_every = checkpoint_every
        self.monitor = monitor
        self.device = self.train_data.device
        self.optimizer = adam(model, config.lr) if optimizer is None else optimizer
        self._own_optimizer = optimizer is None
        self.generator = torch.Generator(device=self.device).manual_seed(config.seed)
        self.progress = Progress()
        self.share_loss: nn.Module = ShareLoss(model)
        if self.world.is_distributed:
            ids = [self.device] if self.device.type == "cuda" else None
            self.share_loss = DistributedDataParallel(
                self.share_loss, device_ids=ids, gradient_as_bucket_view=True
            )
        self.step_loss = StepLoss(self.share_loss, model, compile_backend, self.device)
        self.steps: StepStrategy = (
            LocalSteps(self.optimizer, self.step_loss)
            if not self.world.is_distributed and self.optimizer.defaults.get("fused")
            else SyncedSteps(
                self.optimizer, self.step_loss, self.share_loss, self.world, self.device
            )
        )

    def state_dict(self, seconds: float | None = None) -> dict[str, Any]:
        """Everything a resume needs (every rank's random state: all ranks call it)."""
        rng_by_rank = self.world.gather_objects(capture_rng(self.device))
        return {
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "rng": rng_by_rank[0],
            "rng_by_rank": rng_by_rank,
            "generator": self.generator.get_state(),
            "monitor": [] if self.monitor is None else self.monitor.pending(),
            "progress": self.progress.state_dict(seconds),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Undo :meth:`state_dict` on this rank. At another world size than the
        checkpoint's, ranks other than 0 start new noise streams (the run then differs
        from an uninterrupted one)."""
        missing = [key for key in CHECKPOINT_KEYS if key not in state]
        if missing:
            raise CheckpointError(
                f"{self.checkpoint} lacks {', '.join(missing)}: it is damaged or was not "
                "written by reparam's trainer"
            )
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        if self._own_optimizer:  # a resume may change the learning rate
            for group in self.optimizer.param_groups:
                group["lr"] = self.config.lr
        seed = self.config.seed
        restore_noise(state, self.world, self.device, seed, self.log)
        restore_generator(self.generator, state, self.world, seed, self.log)
        self.progress = Progress.from_state(state["progress"], self.device)
        if self.monitor is not None:
            self.monitor.restore(state.get("monitor", []))

    def resume(self) -> None:
        """Load the ``checkpoint`` file on every rank: model, optimizer, random states, position."""
        self.load_state_dict(load_checkpoint(self.checkpoint))

    def fit(self) -> list[dict[str, Any]]:
        """Train up to ``config.epochs`` epochs; returns one record per epoch."""
        with deferred_interrupt() as stop_requested:
            for epoch in range(self.progress.epoch + 1, self.config.epochs + 1):
                self._train_epoch(epoch, stop_requested)
                self._finish_epoch(epoch)
                signum = self._agree_on_stop(stop_requested())
                if signum is not None:  # during the evaluation: the epoch is saved
                    self.log(f"interrupted after epoch {epoch}; the checkpoint is saved")
                    raise Stopped(signum)
        return self.progress.history

    def _train_epoch(self, epoch: int, stop_requested: Callable[[], int | None]) -> None:
        p = self.progress
        n = len(self.train_data)
        batches = num_batches(n, self.config.batch_size)
        if p.order is None:
            p.order = epoch_order(n, self.generator)
        bar = tqdm(
            total=batches,
            initial=p.step,
            desc=f"epoch {epoch}/{self.config.epochs}",
            leave=False,
            file=sys.stderr,
            disable=None if self.progress_bar else True,
        )
        started = time.perf_counter()
        self.model.train()
        self.steps.begin_epoch(p.loss_sum, self.device)
        if self.monitor is not None and p.step > 0:  # resumed: a measurement left undone?
            self.monitor.catch_up(self._protocol, (epoch - 1) * batches + p.step, self.world)
        for index in batch_slices(p.order, self.config.batch_size, start=p.step):
            x = self.train_data.take(index, self.generator)
            signum = self._step(x, epoch, stop_requested)
            p.count += x.shape[0]
            p.step += 1
            if self.monitor is not None and signum is None:
                signum = self._measure((epoch - 1) * batches + p.step, stop_requested)
            bar.update()
            if p.step % READ_EVERY == 0:
                self._read(epoch)
                bar.set_postfix_str(f"loss {p.loss_sum / p.count:.2f}", refresh=False)
                step = {"step": (epoch - 1) * batches + p.step, "epoch": epoch}
                for callback in self.callbacks:
                    callback.on_step({**step, "train_loss": p.loss_sum / p.count})
            if signum is not None:
                self._read(epoch)
                p.seconds += time.perf_counter() - started
                bar.close()
                self._save()
                self.log(
                    f"interrupted: checkpoint saved in {self.checkpoint} (epoch {epoch}, "
                    f"batch {p.step})"
                )
                raise Stopped(signum)
            if self._checkpoint_due(epoch, batches):
                self._read(epoch)
                self._save(seconds=p.seconds + time.perf_counter() - started)
        self._read(epoch)
        p.seconds += time.perf_counter() - started
        bar.close()

    def _step(self, x: Tensor, epoch: int, stop_requested: Callable[[], int | None]) -> int | None:
        try:
            return self.steps(x, self.progress.step + 1, stop_requested)
        except BadLoss as bad:
            raise self._diverged(epoch, bad.what, bad.batch) from None

    def _measure(self, step: int, stop_requested: Callable[[], int | None]) -> int | None:
        """The monitor's measurement after ``step``, abandoned on a stop request (every
        rank learns of it); returns the stop signal."""
        assert self.monitor is not None
        if step % self.monitor.every != 0:
            return None
        self.monitor.after_step(self._protocol, step, self.world, stop_requested)
        return self._agree_on_stop(stop_requested())

    def _read(self, epoch: int) -> None:
        """Bring the loss sum to the host; stop at a non-finite loss found there."""
        try:
            loss_sum = self.steps.read()
        except BadLoss as bad:
            raise self._diverged(epoch, bad.what, bad.batch) from None
        if loss_sum is not None:
            self.progress.loss_sum = loss_sum

    def _checkpoint_due(self, epoch: int, batches: int) -> bool:
        every, step = self.checkpoint_every, self.progress.step
        if every is None or step == batches:  # the epoch's end saves anyway
            return False
        return ((epoch - 1) * batches + step) % every == 0

    def _agree_on_stop(self, signum: int | None) -> int | None:
        """The stop signal of any rank, the same on every rank."""
        if not self.world.is_distributed:
            return signum
        flags = self.world.all_reduce_sum(signal_flags(signum, self.device))
        return first_signal(flags.tolist())

    def _diverged(self, epoch: int, what: str, batch: int | None = None) -> TrainingDiverged:
        kept = (
            f"the last good checkpoint (after epoch {self.progress.epoch}) is kept in "
            f"{self.checkpoint}"
            if self.checkpoint.is_file()
            else "no checkpoint had been written yet"
        )
        return TrainingDiverged(
            "training diverged at epoch {epoch}, batch {batch}: {what}; stopped, {kept}. "
            "Try a smaller {0}.",
            "lr",
            epoch=epoch,
            batch=batch or self.progress.step + 1,
            what=what,
            kept=kept,
        )

    def _finish_epoch(self, epoch: int) -> None:
        p = self.progress
        test_loss = mean_loss(
            self._protocol, self.test_data, seed=self.config.seed, world=self.world
        )
        record: dict[str, Any] = {
            "epoch": epoch,
            "train_loss": p.loss_sum / p.count,
            "test_loss": test_loss,
            "seconds": p.seconds,
            "world_size": self.world.size,
            "backend": self.world.backend,
        }
        if self.monitor is not None:
            record["gradients"] = self.monitor.take()
        self.progress = Progress(epoch=epoch, history=[*p.history, record])
        self._save()
        for callback in self.callbacks:
            callback.on_epoch(record, self.progress.history)
        self.world.barrier()
        self.log(
            f"epoch {epoch:>3}/{self.config.epochs}  train loss {record['train_loss']:8.3f}  "
            f"test loss {test_loss:8.3f}  ({p.seconds:.1f} s)"
        )

    def _save(self, seconds: float | None = None) -> None:
        """Write the checkpoint (rank 0) with every rank's random state; all ranks call it."""
        state = self.state_dict(seconds)
        if self.world.is_main:
            save_checkpoint(state, self.checkpoint)
        self.world.barrier()


def _quiet(line: str) -> None:
    """The log of ranks other than 0."""
