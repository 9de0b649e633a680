"""How to carry a run out this time: device, threads, evaluation, progress, logging.

Nothing in an :class:`Execution` changes a run's results, and it is never saved.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass

import torch

from reparam.training._checks import (
    SettingsError,
    check_choice,
    check_flag,
    check_integer,
    check_optional_integer,
    check_threads,
)
from reparam.training.config import TrainConfig
from reparam.training.distributed import (
    BACKENDS,
    World,
    check_device_name,
    check_global_batch,
    choose_device,
    join_world,
)
from reparam.training.monitor import check_replicates

__all__ = ["Execution", "join"]


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
        pictures: draw the run's pictures into its folder (image data only).
        tensorboard: a folder to write TensorBoard events into (scalars and pictures,
            see :mod:`reparam.runs.tensorboard`; ``None``: none).
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
    pictures: bool = True
    tensorboard: str | None = None
    log: Callable[[str], None] | None = None

    def __post_init__(self) -> None:
        check_device_name(self.device)
        check_choice(self.backend, "backend", BACKENDS)
        check_threads(self.threads)
        check_integer(self.eval_k, "eval_k", 0, why=" (0 skips the importance-weighted bound)")
        check_optional_integer(self.checkpoint_every, "checkpoint_every", 1)
        check_optional_integer(self.monitor_every, "monitor_every", 1)
        check_replicates(self.monitor_replicates, self.monitor_every)
        for name in ("download", "compile", "progress_bar", "pictures"):
            check_flag(getattr(self, name), name)
        if isinstance(self.tensorboard, os.PathLike):
            object.__setattr__(self, "tensorboard", os.fspath(self.tensorboard))
        if self.tensorboard is not None and not (
            isinstance(self.tensorboard, str) and self.tensorboard.strip()
        ):
            raise SettingsError(
                "{0} must name a folder (or be None), got {got}",
                "tensorboard",
                got=repr(self.tensorboard),
            )
        if self.log is not None and not callable(self.log):
            raise SettingsError("{0} must be a function of one line, or None", "log")

    def print(self, line: str) -> None:
        (self.log or _stdout)(line)


def _stdout(line: str) -> None:
    print(line, flush=True)


def join(execution: Execution, config: TrainConfig) -> tuple[torch.device, World]:
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
