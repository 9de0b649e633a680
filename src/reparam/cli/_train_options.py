"""The options shared by the training commands: training, run folder, data, device, output.

Each is parsed here and checked once, by the library's own check of the
:class:`~reparam.training.TrainConfig`, :class:`~reparam.runs.DataSettings` or
:class:`~reparam.runs.Execution` field it fills (its error is the option's).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import Any

from reparam.cli._parser import (
    checked,
    finite_float,
    integer,
    nonempty_path,
    seed_option,
    threads_option,
)
from reparam.data.batches import TARGETS
from reparam.runs import DataSettings, Execution
from reparam.training import TrainConfig
from reparam.training.distributed import BACKENDS

__all__ = ["add_common_arguments", "add_train_arguments", "execution_from_args", "execution_option"]


def add_train_arguments(parser: argparse.ArgumentParser, name: str) -> None:
    """Training, data and output options (defaults: the classic PyTorch VAE example)."""
    d = TrainConfig()
    train_group = parser.add_argument_group("training")
    train_group.add_argument(
        "--epochs", type=_train(integer, "epochs"), help=f"total epochs (default {d.epochs})"
    )
    train_group.add_argument(
        "--batch-size",
        type=_train(integer, "batch_size"),
        help=f"global batch, shared by all processes under torchrun (default {d.batch_size})",
    )
    train_group.add_argument(
        "--lr", type=_train(finite_float, "lr"), help=f"Adam learning rate (default {d.lr})"
    )
    train_group.add_argument("--seed", type=seed_option, help=f"default {d.seed}")
    train_group.add_argument(
        "--target",
        choices=TARGETS,
        help="grayscale: BCE on intensities (classic); binary: pixels ~ Bernoulli(intensity), "
        "redrawn every epoch (default grayscale)",
    )
    runs = parser.add_argument_group("run folder")
    runs.add_argument(
        "--run-dir",
        "--run",
        dest="run_dir",
        type=nonempty_path,
        metavar="DIR",
        help=f"default runs/{name}",
    )
    runs.add_argument(
        "--resume",
        type=nonempty_path,
        metavar="RUN",
        help="continue the run in folder RUN exactly",
    )
    runs.add_argument("--overwrite", action="store_true", help="replace an existing run folder")
    runs.add_argument(
        "--checkpoint-every",
        type=execution_option("checkpoint_every"),
        metavar="N",
        help="also checkpoint every N steps (default: at the end of each epoch only)",
    )
    train_group.add_argument(
        "--compile",
        action="store_true",
        help="compile each training step with torch.compile (Inductor); where that is not "
        "available, one warning and eager training",
    )
    add_common_arguments(parser)
    data = parser.add_argument_group("data subset (for quick trials)")
    data.add_argument("--train-size", type=_data("train_size"), help="use the first N train images")
    data.add_argument("--test-size", type=_data("test_size"), help="use the first N test images")


def _train(parse: Callable[[str], Any], name: str) -> Callable[[str], Any]:
    """An option of :class:`TrainConfig`, checked as the library checks it."""
    return checked(parse, lambda value: TrainConfig(**{name: value}))


def _data(name: str) -> Callable[[str], Any]:
    """An option of :class:`DataSettings`, checked as the library checks it."""
    return checked(integer, lambda value: DataSettings(**{name: value}))


def execution_option(name: str) -> Callable[[str], int]:
    """An integer option of :class:`Execution`, checked as the library checks it (with
    the gradient measurements on, for their own options)."""

    def check(value: int) -> None:
        given: dict[str, Any] = {"monitor_every": 1, name: value}
        Execution(**given)

    return checked(integer, check)


def add_common_arguments(parser: argparse.ArgumentParser) -> None:
    """Options for both training and evaluation."""
    group = parser.add_argument_group("data, device and output")
    group.add_argument(
        "--data-dir", type=nonempty_path, help="folder with the MNIST idx files ($REPARAM_DATA_DIR)"
    )
    group.add_argument("--download", action="store_true", help="fetch missing MNIST files")
    group.add_argument(
        "--device",
        default="auto",
        help="cpu, cuda, cuda:N or auto (default); under torchrun, rank r uses cuda:LOCAL_RANK",
    )
    group.add_argument(
        "--backend",
        choices=BACKENDS,
        default="auto",
        help="torch.distributed backend under torchrun (default auto: nccl on CUDA, else gloo)",
    )
    group.add_argument(
        "--eval-k",
        type=execution_option("eval_k"),
        default=1000,
        help="samples for the importance-weighted bound on the test set; 0 skips it (default 1000)",
    )
    group.add_argument(
        "--threads", type=threads_option, help="CPU threads for torch (default: torch's choice)"
    )
    group.add_argument("--json", action="store_true", help="print one JSON summary")
    group.add_argument(
        "--no-pictures",
        dest="pictures",
        action="store_false",
        help="draw no pictures into the run folder",
    )
    group.add_argument(
        "--tensorboard",
        type=nonempty_path,
        metavar="DIR",
        help="also write TensorBoard events (losses, test bounds, pictures) into DIR "
        "(needs the tensorboard package)",
    )


def execution_from_args(args: argparse.Namespace) -> Execution:
    """How to run: device, threads, evaluation, logging (stderr under --json)."""
    stream = sys.stderr if args.json else sys.stdout
    return Execution(
        device=args.device,
        backend=args.backend,
        threads=args.threads,
        eval_k=args.eval_k,
        download=args.download,
        checkpoint_every=getattr(args, "checkpoint_every", None),
        monitor_every=getattr(args, "snr_every", None),
        monitor_replicates=getattr(args, "snr_replicates", None),
        compile=getattr(args, "compile", False),
        pictures=args.pictures,
        tensorboard=args.tensorboard,
        log=lambda line: print(line, file=stream, flush=True),
    )
