"""The two step strategies of :class:`~reparam.training.Trainer`: one update per batch.

:class:`LocalSteps` (one process, fused Adam): no step waits for the device.
The losses stay on it, in a :class:`~reparam.training._loss_watch.LossWatch`
whose flag makes fused Adam skip the first step with a non-finite loss and every
later one (its ``found_inf`` input, as under ``torch.amp.GradScaler``); the host
reads the watch only when the trainer asks (:meth:`LocalSteps.read`).

:class:`SyncedSteps` (data-parallel, or an optimizer without a fused kernel):
one small all-reduce per step, before the backward pass, sums the ranks'
losses and stop requests, so every rank sees a non-finite loss or a Ctrl-C on
any rank at the same batch and stops there; the optimizer steps only once every
rank's loss is known to be finite.

Both raise :class:`BadLoss` (the trainer turns it into ``TrainingDiverged``)
and return the stop signal agreed on, if any.
"""

from __future__ import annotations

import math
import signal
from collections.abc import Callable
from typing import cast

import torch
from torch import Tensor, nn

from reparam.estimators import CostError
from reparam.training._compiled import StepLoss
from reparam.training._loss_watch import LossWatch
from reparam.training.distributed import World, share_bounds

__all__ = ["BadLoss", "LocalSteps", "ShareLoss", "StepStrategy", "SyncedSteps", "adam"]

StopRequested = Callable[[], int | None]


class BadLoss(Exception):
    """A non-finite loss (or a failed cost function) at ``batch`` of the epoch (1-based;
    ``None``: the batch being taken)."""

    def __init__(self, what: str, batch: int | None = None) -> None:
        super().__init__(what)
        self.what, self.batch = what, batch


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

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: Tensor) -> Tensor:
        if x.shape[0] == 0:
            return sum((p.sum() * 0.0 for p in self.model.parameters()), x.new_zeros(()))
        loss = cast(Callable[[Tensor], Tensor], self.model.loss)(x)
        return loss.sum()


class LocalSteps:
    """One process with fused Adam: the loss sum stays on the device between reads."""

    def __init__(self, optimizer: torch.optim.Optimizer, step_loss: StepLoss) -> None:
        self.optimizer, self.step_loss = optimizer, step_loss
        self.watch: LossWatch | None = None

    def begin_epoch(self, loss_sum: float, device: torch.device) -> None:
        self.watch = LossWatch(loss_sum, device)

    def __call__(self, x: Tensor, step: int, stop_requested: StopRequested) -> int | None:
        """Update on batch ``step`` (1-based) ``x``; returns any stop signal."""
        assert self.watch is not None
        try:
            loss = self.step_loss(x)
        except CostError as error:  # raised eagerly, on the host: an earlier bad loss first
            self.read()
            raise BadLoss(str(error), step) from None
        self.watch.record(loss, step)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        _step_unless(self.optimizer, self.watch.skip)
        return stop_requested()

    def read(self) -> float | None:
        """The epoch's loss sum so far, brought to the host; a non-finite loss found
        there is a :class:`BadLoss` naming its batch."""
        if self.watch is None:
            return None
        reading = self.watch.read()
        if reading.first_bad_batch:
            raise BadLoss(f"the batch loss is {reading.first_bad_value}", reading.first_bad_batch)
        return reading.loss_sum


class SyncedSteps:
    """Each step reads the loss summed over the ranks before the optimizer steps."""

    def __init__(
        self,
        optimizer: torch.optim.Optimizer,
        step_loss: StepLoss,
        share_loss: nn.Module,
        world: World,
        device: torch.device,
    ) -> None:
        self.optimizer, self.step_loss, self.share_loss = optimizer, step_loss, share_loss
        self.world, self.device = world, device
        self.loss_sum = 0.0

    def begin_epoch(self, loss_sum: float, device: torch.device) -> None:
        self.loss_sum = loss_sum

    def __call__(self, x: Tensor, step: int, stop_requested: StopRequested) -> int | None:
        """One update on the global batch ``x``; a rank whose cost function failed still
        takes part in the gradient all-reduce, with zeros."""
        begin, end = share_bounds(x.shape[0], self.world)
        share, failure = x[begin:end], None
        try:
            loss = self.step_loss(share)
            local = loss.detach().to(torch.float64)
        except CostError as error:
            failure, local = str(error), torch.tensor(math.nan, dtype=torch.float64)
            loss = self.share_loss(share[:0])  # zeros reaching every parameter
        requests = signal_flags(stop_requested(), self.device)
        flags = torch.cat([local.to(self.device).reshape(1), requests])
        summing = self.world.all_reduce_sum_async(flags)
        self.optimizer.zero_grad(set_to_none=True)
        (loss * self.world.size).backward()
        summing.wait()
        value, *agreed = flags.tolist()
        if not math.isfinite(value):
            raise BadLoss(failure or f"the batch loss is {value}", step)
        self.optimizer.step()
        self.loss_sum += value
        return first_signal(agreed)

    def read(self) -> float | None:
        return self.loss_sum


StepStrategy = LocalSteps | SyncedSteps
"""How one batch becomes one update."""


def _step_unless(optimizer: torch.optim.Optimizer, skip: Tensor) -> None:
    """``optimizer.step()``, skipped on the device where ``skip`` is 1 (fused Adam's
    ``found_inf`` input, handed over as ``torch.amp.GradScaler`` hands it)."""
    optimizer.found_inf = skip  # type: ignore[attr-defined]
    try:
        optimizer.step()
    finally:
        del optimizer.found_inf  # type: ignore[attr-defined]


def signal_flags(signum: int | None, device: torch.device) -> Tensor:
    """``[SIGTERM received, SIGINT received]`` as numbers, to be summed over ranks."""
    flags = [float(signum == signal.SIGTERM), float(signum == signal.SIGINT)]
    return torch.tensor(flags, dtype=torch.float64, device=device)


def first_signal(summed: list[float]) -> int | None:
    """The signal the ranks stop on: SIGTERM before SIGINT, ``None`` if neither came."""
    terminations, interrupts = summed
    if terminations:
        return int(signal.SIGTERM)
    return int(signal.SIGINT) if interrupts else None
