"""The training loop: Adam on the summed per-example loss, checkpointed every epoch.

Randomness is explicit: a ``torch.Generator`` on the data's device draws each
epoch's order and the binarization of each batch; the global torch generator
drives the model's own sampling (``torch.distributions`` takes no generator).
Both states go into every checkpoint, with the model's and the optimizer's, so
a resumed run continues bit for bit: two epochs and then two resumed epochs
equal four straight epochs.

Ctrl-C or SIGTERM finishes the current batch, saves a checkpoint that also
records the position in the epoch, and stops (a second one stops at once). A
non-finite loss stops the run before the optimizer takes the bad step, keeping
the last good checkpoint.

In one process with fused Adam, no step waits for the device: the losses stay
on it, in a :class:`~reparam.training._loss_watch.LossWatch` whose flag makes
fused Adam skip the first step with a non-finite loss and every later one (its
``found_inf`` input, as under ``torch.amp.GradScaler``). The host reads the
watch every :data:`READ_EVERY` steps (the progress bar's running loss), before
every checkpoint and at the end of each epoch; a non-finite loss found there
stops the run naming the batch where it happened, with the model as it was
before that batch and the last good checkpoint kept. (Without fused Adam, the
loss is read at every step.) ``compile_backend`` runs each step's forward and
backward passes compiled (see :mod:`reparam.training._compiled`).

Data-parallel (see :mod:`reparam.training.distributed`): every rank draws the
same order and binarizes the same global batch, then trains on its share
through ``DistributedDataParallel``. One small all-reduce per step, before the
backward pass, sums the ranks' losses and stop requests, so every rank sees a
non-finite loss or a Ctrl-C on any rank at the same batch and stops there.
Rank 0 alone writes the run folder; the random state of every rank goes into
the checkpoint, so a resume at the same world size is exact.
"""

from __future__ import annotations

import math
import signal
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor, nn
from torch.nn.parallel import DistributedDataParallel
from tqdm import tqdm

from reparam.data.batches import batch_slices, epoch_order, num_batches, present
from reparam.estimators import CostError
from reparam.training._compiled import Backend, StepLoss
from reparam.training._interrupt import Stopped, deferred_interrupt
from reparam.training._loss_watch import LossWatch
from reparam.training._model import LatentVariableModel
from reparam.training._rng import capture_rng, restore_rng
from reparam.training.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from reparam.training.config import TrainConfig
from reparam.training.distributed import World, noise_seed, share_bounds
from reparam.training.evaluation import mean_loss
from reparam.training.monitor import GradientMonitor
from reparam.training.run_folder import RunFolder

Log = Callable[[str], None]
CHECKPOINT_KEYS = ("model", "optimizer", "rng", "generator", "progress")
"""What :meth:`Trainer.resume` needs from a checkpoint."""
READ_EVERY = 20
"""Steps between two host reads of the running loss (and of the non-finite flag)."""


class TrainingDiverged(RuntimeError):
    """The loss became nan or infinite; the run stopped."""


@dataclass
class Progress:
    """Where training stands: finished epochs, and the position inside the next one."""

    epoch: int = 0
    step: int = 0
    order: Tensor | None = None
    loss_sum: float = 0.0
    count: int = 0
    seconds: float = 0.0
    history: list[dict[str, Any]] = field(default_factory=list)

    def position(self) -> str:
        """``after epoch 1``, or ``in epoch 2 after batch 275`` inside an epoch."""
        if self.step == 0:
            return f"after epoch {self.epoch}"
        return f"in epoch {self.epoch + 1} after batch {self.step}"


def adam(model: torch.nn.Module, lr: float) -> torch.optim.Adam:
    """Adam, with the fused kernel where this torch has it for the device (same update
    rule, one pass over each parameter instead of several: ~10x less time on a CPU)."""
    try:
        return torch.optim.Adam(model.parameters(), lr=lr, fused=True)
    except (RuntimeError, TypeError):  # older torch: fused Adam is CUDA-only
        return torch.optim.Adam(model.parameters(), lr=lr)


class ShareLoss(nn.Module):
    """``forward(x)`` = the summed loss of one rank's share ``x``, for DDP to wrap.

    An empty share (the last batch of an epoch can have fewer examples than
    there are ranks) gives a zero that still reaches every parameter, so the
    rank takes part in the gradient all-reduce with zeros.
    """

    def __init__(self, model: LatentVariableModel) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: Tensor) -> Tensor:
        if x.shape[0] == 0:
            return sum((p.sum() * 0.0 for p in self.model.parameters()), x.new_zeros(()))
        return self.model.loss(x).sum()


class Trainer:
    """Train ``model`` on uint8 ``train_images`` and score it on ``test_pixels`` each epoch.

    Args:
        model: any :class:`~reparam.training.LatentVariableModel`, on its device.
        train_images: ``[N, ...]`` uint8, on the model's device.
        test_pixels: ``[M, D]`` float, as the model sees them (already binarized
            for the binary target).
        config: the training settings; ``batch_size`` is the global batch.
        run: the run folder (checkpoint, metrics), written by rank 0 only.
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
    """

    def __init__(
        self,
        model: LatentVariableModel,
        train_images: Tensor,
        test_pixels: Tensor,
        config: TrainConfig,
        run: RunFolder,
        log: Log = print,
        progress_bar: bool = True,
        world: World | None = None,
        checkpoint_every: int | None = None,
        monitor: GradientMonitor | None = None,
        compile_backend: Backend | None = None,
    ) -> None:
        self.model = model
        self.train_images = train_images
        self.test_pixels = test_pixels
        self.config = config
        self.run = run
        self.world = world or World()
        self.log = log if self.world.is_main else _quiet
        self.progress_bar = progress_bar and self.world.is_main
        self.checkpoint_every = checkpoint_every
        self.monitor = monitor
        self.device = train_images.device
        self.optimizer = adam(model, config.lr)
        self.generator = torch.Generator(device=self.device).manual_seed(config.seed)
        self.progress = Progress()
        self.share_loss: nn.Module = ShareLoss(model)
        if self.world.is_distributed:
            ids = [self.device] if self.device.type == "cuda" else None
            self.share_loss = DistributedDataParallel(
                self.share_loss, device_ids=ids, gradient_as_bucket_view=True
            )
        self.step_loss = StepLoss(self.share_loss, model, compile_backend, self.device)
        self.skips_on_device = not self.world.is_distributed and bool(
            self.optimizer.defaults.get("fused")
        )
        self.watch: LossWatch | None = None

    def resume(self) -> None:
        """Load the run folder's checkpoint on every rank: model, optimizer, random states,
        position. At another world size than the checkpoint's, ranks other than 0
        start new noise streams (the run then differs from an uninterrupted one)."""
        state = load_checkpoint(self.run.checkpoint)
        missing = [key for key in CHECKPOINT_KEYS if key not in state]
        if missing:
            raise CheckpointError(
                f"{self.run.checkpoint} lacks {', '.join(missing)}: it is damaged or was not "
                "written by reparam's trainer"
            )
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self._restore_noise(state)
        self._restore_generator(state)
        saved = dict(state["progress"])
        if saved["order"] is not None:
            saved["order"] = saved["order"].to(self.device)
        self.progress = Progress(**saved)
        if self.monitor is not None:
            self.monitor.restore(state.get("monitor", []))

    def _restore_generator(self, state: dict[str, Any]) -> None:
        """The data generator's state; one saved on another kind of device (a CUDA
        generator's for a CPU one, say) cannot be restored, so a new stream starts."""
        try:
            self.generator.set_state(state["generator"])
        except RuntimeError:
            p = state["progress"]
            seed = noise_seed(self.config.seed, "device", self.world.rank, p["epoch"], p["step"])
            self.generator.manual_seed(seed)
            self.log(
                f"note: the checkpoint was written on another kind of device than "
                f"{self.device.type}; the order and binarization of the data start a new "
                "random stream, so the run will not equal an uninterrupted one"
            )

    def _restore_noise(self, state: dict[str, Any]) -> None:
        by_rank = state.get("rng_by_rank", [state["rng"]])
        if len(by_rank) == self.world.size:
            restore_rng(by_rank[self.world.rank], self.device)
            return
        self.log(
            f"note: the checkpoint was written by {len(by_rank)} process(es) and this run has "
            f"{self.world.size}; the Monte Carlo noise of ranks other than 0 starts anew, so "
            "the run will not equal an uninterrupted one"
        )
        if self.world.rank == 0:
            restore_rng(by_rank[0], self.device)
        else:
            p = state["progress"]
            seed = noise_seed(self.config.seed, "resume", self.world.rank, p["epoch"], p["step"])
            torch.manual_seed(seed)

    def fit(self) -> list[dict[str, Any]]:
        """Train up to ``config.epochs`` epochs; returns one record per epoch."""
        with deferred_interrupt() as stop_requested:
            for epoch in range(self.progress.epoch + 1, self.config.epochs + 1):
                self._train_epoch(epoch, stop_requested)
                self._finish_epoch(epoch)
                signum = self._agree_on_stop(stop_requested())
                if signum is not None:  # during the evaluation: the epoch is saved
                    self.log(f"interrupted after epoch {epoch}; continue with --resume")
                    raise Stopped(signum)
        return self.progress.history

    def _train_epoch(self, epoch: int, stop_requested: Callable[[], int | None]) -> None:
        p = self.progress
        n = self.train_images.shape[0]
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
        if self.skips_on_device:
            self.watch = LossWatch(p.loss_sum, self.device)
        if self.monitor is not None and p.step > 0:  # resumed: a measurement left undone?
            self.monitor.catch_up(self.model, (epoch - 1) * batches + p.step, self.world)
        for index in batch_slices(p.order, self.config.batch_size, start=p.step):
            images = self.train_images.index_select(0, index)
            x = present(images, self.config.target, self.generator)
            signum = self._step(x, epoch, stop_requested)
            p.count += x.shape[0]
            p.step += 1
            if self.monitor is not None and signum is None:
                signum = self._measure((epoch - 1) * batches + p.step, stop_requested)
            bar.update()
            if p.step % READ_EVERY == 0:
                self._read_watch(epoch)
                bar.set_postfix_str(f"loss {p.loss_sum / p.count:.2f}", refresh=False)
            if signum is not None:
                self._read_watch(epoch)
                p.seconds += time.perf_counter() - started
                bar.close()
                self._save()
                self.log(
                    f"interrupted: checkpoint saved in {self.run.checkpoint} (epoch {epoch}, "
                    f"batch {p.step}); continue with --resume {self.run.path}"
                )
                raise Stopped(signum)
            if self._checkpoint_due(epoch, batches):
                self._read_watch(epoch)
                self._save(seconds=p.seconds + time.perf_counter() - started)
        self._read_watch(epoch)
        p.seconds += time.perf_counter() - started
        bar.close()

    def _measure(self, step: int, stop_requested: Callable[[], int | None]) -> int | None:
        """The monitor's measurement after ``step``, abandoned on a stop request (every
        rank learns of it); returns the stop signal."""
        assert self.monitor is not None
        if step % self.monitor.every != 0:
            return None
        self.monitor.after_step(self.model, step, self.world, stop_requested)
        return self._agree_on_stop(stop_requested())

    def _read_watch(self, epoch: int) -> None:
        """Bring the device's loss sum to the host; stop at a non-finite loss found there."""
        if self.watch is None:
            return
        reading = self.watch.read()
        if reading.first_bad_batch:
            raise self._diverged(
                epoch, f"the batch loss is {reading.first_bad_value}", reading.first_bad_batch
            )
        self.progress.loss_sum = reading.loss_sum

    def _checkpoint_due(self, epoch: int, batches: int) -> bool:
        every, step = self.checkpoint_every, self.progress.step
        if every is None or step == batches:  # the epoch's end saves anyway
            return False
        return ((epoch - 1) * batches + step) % every == 0

    def _step(self, x: Tensor, epoch: int, stop_requested: Callable[[], int | None]) -> int | None:
        """One update on the global batch ``x``; returns any stop signal."""
        if self.skips_on_device:
            return self._unsynced_step(x, epoch, stop_requested)
        return self._synced_step(x, epoch, stop_requested)

    def _unsynced_step(
        self, x: Tensor, epoch: int, stop_requested: Callable[[], int | None]
    ) -> int | None:
        """One process: the loss goes to the watch, fused Adam skips on its flag."""
        assert self.watch is not None
        try:
            loss = self.step_loss(x)
        except CostError as error:  # raised eagerly, on the host: an earlier bad loss first
            self._read_watch(epoch)
            raise self._diverged(epoch, str(error), self.progress.step + 1) from None
        self.watch.record(loss, self.progress.step + 1)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        _step_unless(self.optimizer, self.watch.skip)
        return stop_requested()

    def _synced_step(
        self, x: Tensor, epoch: int, stop_requested: Callable[[], int | None]
    ) -> int | None:
        """One update that reads the summed loss on the host before the optimizer steps.

        The ranks' losses and stop requests are summed while the backward pass
        (and DDP's gradient all-reduce) runs; the optimizer steps only once every
        rank's loss is known to be finite. A rank whose cost function failed
        still takes part in the gradient all-reduce, with zeros.
        """
        begin, end = share_bounds(x.shape[0], self.world)
        share, failure = x[begin:end], None
        try:
            loss = self.step_loss(share)
            local = loss.detach().to(torch.float64)
        except CostError as error:
            failure, local = str(error), torch.tensor(math.nan, dtype=torch.float64)
            loss = self.share_loss(share[:0])  # zeros reaching every parameter
        requests = _signal_flags(stop_requested(), self.device)
        flags = torch.cat([local.to(self.device).reshape(1), requests])
        summing = self.world.all_reduce_sum_async(flags)
        self.optimizer.zero_grad(set_to_none=True)
        (loss * self.world.size).backward()
        summing.wait()
        value, *agreed = flags.tolist()
        if not math.isfinite(value):
            raise self._diverged(epoch, failure or f"the batch loss is {value}")
        self.optimizer.step()
        self.progress.loss_sum += value
        return _first_signal(agreed)

    def _agree_on_stop(self, signum: int | None) -> int | None:
        """The stop signal of any rank, the same on every rank."""
        if not self.world.is_distributed:
            return signum
        flags = self.world.all_reduce_sum(_signal_flags(signum, self.device))
        return _first_signal(flags.tolist())

    def _diverged(self, epoch: int, what: str, batch: int | None = None) -> TrainingDiverged:
        kept = (
            f"the last good checkpoint (after epoch {self.progress.epoch}) is kept in "
            f"{self.run.checkpoint}"
            if self.run.checkpoint.is_file()
            else "no checkpoint had been written yet"
        )
        return TrainingDiverged(
            f"training diverged at epoch {epoch}, batch {batch or self.progress.step + 1}: {what}; "
            f"stopped, {kept}. Try a smaller --lr."
        )

    def _finish_epoch(self, epoch: int) -> None:
        p = self.progress
        test_loss = mean_loss(self.model, self.test_pixels, seed=self.config.seed, world=self.world)
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
        if self.world.is_main:
            self.run.write_metrics(self.progress.history)
        self.world.barrier()
        self.log(
            f"epoch {epoch:>3}/{self.config.epochs}  train loss {record['train_loss']:8.3f}  "
            f"test loss {test_loss:8.3f}  ({p.seconds:.1f} s)"
        )

    def _save(self, seconds: float | None = None) -> None:
        """Write the checkpoint (rank 0) with every rank's random state; all ranks call it."""
        p = self.progress
        rng_by_rank = self.world.gather_objects(capture_rng(self.device))
        if self.world.is_main:
            save_checkpoint(
                {
                    "model": self.model.state_dict(),
                    "optimizer": self.optimizer.state_dict(),
                    "rng": rng_by_rank[0],
                    "rng_by_rank": rng_by_rank,
                    "generator": self.generator.get_state(),
                    "monitor": [] if self.monitor is None else self.monitor.pending(),
                    "progress": {
                        "epoch": p.epoch,
                        "step": p.step,
                        "order": None if p.order is None else p.order.cpu(),
                        "loss_sum": p.loss_sum,
                        "count": p.count,
                        "seconds": p.seconds if seconds is None else seconds,
                        "history": p.history,
                    },
                },
                self.run.checkpoint,
            )
        self.world.barrier()


def _step_unless(optimizer: torch.optim.Optimizer, skip: Tensor) -> None:
    """``optimizer.step()``, skipped on the device where ``skip`` is 1 (fused Adam's
    ``found_inf`` input, handed over as ``torch.amp.GradScaler`` hands it)."""
    optimizer.found_inf = skip  # type: ignore[attr-defined]
    try:
        optimizer.step()
    finally:
        del optimizer.found_inf  # type: ignore[attr-defined]


def _signal_flags(signum: int | None, device: torch.device) -> Tensor:
    """``[SIGTERM received, SIGINT received]`` as numbers, to be summed over ranks."""
    flags = [float(signum == signal.SIGTERM), float(signum == signal.SIGINT)]
    return torch.tensor(flags, dtype=torch.float64, device=device)


def _first_signal(summed: list[float]) -> int | None:
    """The signal the ranks stop on: SIGTERM before SIGINT, ``None`` if neither came."""
    terminations, interrupts = summed
    if terminations:
        return int(signal.SIGTERM)
    return int(signal.SIGINT) if interrupts else None


def _quiet(line: str) -> None:
    """The log of ranks other than 0."""
