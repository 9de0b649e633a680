"""Trainers for tests: quiet, over image examples, writing metrics into their run folder."""

from __future__ import annotations

from collections.abc import Callable

from torch import Tensor, nn

from reparam.data.examples import ImageExamples
from reparam.runs import MetricsFile, RunFolder
from reparam.training import TrainConfig, Trainer
from reparam.training._compiled import Backend
from reparam.training.distributed import World
from reparam.training.monitor import GradientMonitor


def _quiet(line: str) -> None:
    """The trainer's log, unused by these tests."""


def run_trainer(
    run: RunFolder,
    model: nn.Module,
    config: TrainConfig,
    train: Tensor,
    test: Tensor,
    *,
    log: Callable[[str], None] = _quiet,
    progress_bar: bool = True,
    world: World | None = None,
    checkpoint_every: int | None = None,
    monitor: GradientMonitor | None = None,
    compile_backend: Backend | None = None,
) -> Trainer:
    """A :class:`Trainer` of ``model`` on ``train`` images (as ``config.target``), tested on
    ``test``, checkpointing to ``run.checkpoint`` and recording metrics in ``run``."""
    return Trainer(
        model,
        ImageExamples(train, config.target),
        test,
        config,
        run.checkpoint,
        log=log,
        progress_bar=progress_bar,
        world=world,
        checkpoint_every=checkpoint_every,
        monitor=monitor,
        compile_backend=compile_backend,
        callbacks=[MetricsFile(run)],
    )
