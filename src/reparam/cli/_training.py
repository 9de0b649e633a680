"""Command-line pieces shared by every model trained on MNIST (``reparam vae``, ...).

A model command adds its own options, then calls :func:`add_train_arguments`
and :func:`add_eval_parser`. The options are parsed into a
:class:`~reparam.training.run.RunSettings` (what the run is) and an
:class:`~reparam.training.run.Execution` (how to carry it out); the library's
:func:`~reparam.training.run.train`, ``resume`` and ``evaluate_run`` do the
rest, and this module prints the summary they return.

Every option is named so that no ``torchrun`` option starts with it: torchrun
takes abbreviations of its own options anywhere on its command line, so a
``--run`` would be read as its ``--run-path``. The run folder is ``--run-dir``
(``--run`` still works for one process).
"""

from __future__ import annotations

import argparse
import contextlib
import inspect
import sys
from collections.abc import Callable, Iterator
from dataclasses import fields
from typing import Any

from reparam._json import to_strict_json
from reparam.cli._parser import (
    UsageError,
    checked,
    finite_float,
    integer,
    is_main_process,
    nonempty_path,
    print_error,
    seed_option,
    threads_option,
)
from reparam.data import DataError
from reparam.data.batches import TARGETS
from reparam.estimators import EstimatorError
from reparam.models import MODEL_FAMILIES
from reparam.training import CheckpointError, RunFolderError, TrainConfig, TrainingDiverged
from reparam.training.distributed import BACKENDS, WorldError
from reparam.training.run import (
    DataSettings,
    Execution,
    RunSettings,
    SettingsError,
    evaluate_run,
    read_settings,
    resume,
    train,
)

FLAGS = {
    "monitor_every": "--snr-every",
    "monitor_replicates": "--snr-replicates",
    "folder": "--data-dir",
    "options": "the model options",
}
"""Python argument -> option, where the option is not ``--`` + the name with dashes."""
TRAIN_KEYS = tuple(f.name for f in fields(TrainConfig))
DATA_KEYS = ("train_size", "test_size")
USAGE_ERRORS: tuple[type[Exception], ...] = (
    UsageError,
    SettingsError,
    RunFolderError,
    CheckpointError,
    DataError,
    WorldError,
    EstimatorError,
)
"""What a training command reports as the user's mistake (one line, exit 2)."""


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


def add_eval_parser(command: argparse.ArgumentParser, name: str) -> None:
    """The action ``COMMAND eval RUN``: re-evaluate a saved run."""
    subcommands = command.add_subparsers(title="actions", metavar="ACTION")
    subcommands._parser_class = type(command)
    parser = subcommands.add_parser(
        "eval", help="re-evaluate a saved run", description="Recompute a run's test bounds."
    )
    parser.add_argument("run_path", metavar="RUN", help="the run folder")
    add_common_arguments(parser)
    parser.add_argument("--debug", action="store_true", default=argparse.SUPPRESS)
    parser.set_defaults(run=lambda args: eval_command(args, name), usage_errors=USAGE_ERRORS)


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
        log=lambda line: print(line, file=stream, flush=True),
    )


@contextlib.contextmanager
def in_options() -> Iterator[None]:
    """The library's :class:`SettingsError` in the options' words (``--eval-k`` for
    ``eval_k``): a one-line usage error."""
    try:
        yield
    except SettingsError as error:
        flags = {name: FLAGS.get(name, "--" + name.replace("_", "-")) for name in error.arguments}
        raise UsageError(error.render(flags)) from None


def settings_from_args(
    args: argparse.Namespace, name: str, model_keys: tuple[str, ...]
) -> RunSettings:
    """The settings of a new run from the options given."""
    given = _given(args, model_keys)
    config = TrainConfig(**{k: given[k] for k in TRAIN_KEYS if k in given})
    return RunSettings(
        model=name,
        options={k: given[k] for k in model_keys if k in given},
        train=config,
        data=DataSettings(args.data_dir, given.get("train_size"), given.get("test_size")),
    )


def _given(args: argparse.Namespace, model_keys: tuple[str, ...]) -> dict[str, Any]:
    given = {k: getattr(args, k) for k in (*model_keys, *TRAIN_KEYS, *DATA_KEYS)}
    return {k: v for k, v in given.items() if v is not None}


def check_resume_options(
    args: argparse.Namespace, saved: RunSettings, model_keys: tuple[str, ...]
) -> None:
    """A resumed run keeps its settings: only ``--epochs`` may differ from the saved ones."""
    if args.overwrite or args.run_dir:
        raise UsageError(
            "--resume RUN continues RUN: it cannot be combined with --run-dir/--overwrite"
        )
    config = saved.to_dict()
    flat = {**config["model"], **config["train"], **config["data"]}
    defaults = _option_defaults(saved.model)
    for key, value in _given(args, model_keys).items():
        kept = flat[key] if key in flat else defaults.get(key)
        if key != "epochs" and kept != value:
            option = "--" + key.replace("_", "-")
            if key in flat:
                what = f"the run's saved {kept}"
            elif kept is None:
                what = "the run's, which it left at the model's default"
            else:
                what = f"the run's {kept} (the default, not given when it was trained)"
            raise UsageError(
                f"{option} {value} differs from {what}; a resumed run keeps its settings "
                "(only --epochs may change)"
            )


def _option_defaults(family: str) -> dict[str, Any]:
    """The model family's options left out of a saved run take these values."""
    parameters = inspect.signature(MODEL_FAMILIES[family]).parameters.values()
    return {p.name: p.default for p in parameters if p.default is not inspect.Parameter.empty}


def _same_command(settings: RunSettings, name: str, path: str) -> None:
    if settings.model != name:
        raise UsageError(
            f"{path} is a run of `reparam {settings.model}`, not `reparam {name}`; "
            f"use reparam {settings.model} with it"
        )


def train_command(args: argparse.Namespace, name: str, model_keys: tuple[str, ...]) -> int:
    """Train a new run, or resume one; evaluate, draw pictures, report."""
    try:
        with in_options():
            return _train_or_resume(args, name, model_keys)
    except TrainingDiverged as error:
        return report_failure(str(error))


def _train_or_resume(args: argparse.Namespace, name: str, model_keys: tuple[str, ...]) -> int:
    execution = execution_from_args(args)
    if args.resume:
        saved = read_settings(args.resume)
        _same_command(saved, name, args.resume)
        check_resume_options(args, saved, model_keys)
        summary = resume(
            args.resume, epochs=args.epochs, data_folder=args.data_dir, execution=execution
        )
    else:
        settings = settings_from_args(args, name, model_keys)
        run_dir = args.run_dir or f"runs/{name}"
        summary = train(settings, run_dir, overwrite=args.overwrite, execution=execution)
    return report(args, summary)


def eval_command(args: argparse.Namespace, name: str) -> int:
    """Rebuild a saved run's model from its last checkpoint and evaluate it."""
    with in_options():
        saved = read_settings(args.run_path)
        _same_command(saved, name, args.run_path)
        execution = execution_from_args(args)
        summary = evaluate_run(args.run_path, data_folder=args.data_dir, execution=execution)
    return report(args, summary)


def report(args: argparse.Namespace, summary: dict[str, Any]) -> int:
    """Print the summary (rank 0 only under torchrun)."""
    if is_main_process():
        print(to_strict_json(summary) if args.json else describe(summary), flush=True)
    return 0


def report_failure(message: str) -> int:
    print_error(message)
    return 1


def describe(summary: dict[str, Any]) -> str:
    """The summary in a few lines of text."""
    lines = [f"test -ELBO: {summary['test_neg_elbo']:.2f} nats per example"]
    if summary["test_neg_iw_bound"] is not None:
        lines.append(
            f"test -log p(x) bound (importance-weighted, k={summary['eval_k']}): "
            f"{summary['test_neg_iw_bound']:.2f} nats"
        )
    if summary["settings"]["train"]["target"] == "grayscale":
        lines.append("(grayscale target: BCE on intensities, not a normalised likelihood)")
    seconds = summary["seconds_per_epoch"]
    timing = "no full epoch timed" if seconds is None else f"{seconds:.1f} s per epoch"
    world = f" on {summary['world_size']} processes" if summary["world_size"] > 1 else ""
    lines.append(f"{timing}{world}; run folder {summary['run']}")
    return "\n".join(lines)
