"""Command-line pieces shared by every model trained on MNIST (``reparam vae``, ...).

A model command adds its own options, then calls :func:`add_train_arguments`
and :func:`add_eval_parser`. The options are parsed into a
:class:`~reparam.runs.RunSettings` (what the run is) and an
:class:`~reparam.runs.Execution` (how to carry it out); the library's
:func:`~reparam.runs.train`, ``resume`` and ``evaluate_run`` do the
rest, and this module prints the summary they return.

Every option is named so that no ``torchrun`` option starts with it: torchrun
takes abbreviations of its own options anywhere on its command line, so a
``--run`` would be read as its ``--run-path``. The run folder is ``--run-dir``
(``--run`` still works for one process).
"""

from __future__ import annotations

import argparse
from dataclasses import fields
from pathlib import Path
from typing import Any

from reparam._json import to_strict_json
from reparam.cli._parser import (
    UsageError,
    is_main_process,
    print_error,
)
from reparam.cli._train_options import add_common_arguments as add_common_arguments
from reparam.cli._train_options import add_train_arguments as add_train_arguments
from reparam.cli._train_options import execution_from_args as execution_from_args
from reparam.cli._train_options import execution_option as execution_option
from reparam.cli._words import in_options, in_words
from reparam.data import DataError
from reparam.estimators import EstimatorError
from reparam.runs import (
    DataSettings,
    RunFolderError,
    RunSettings,
    evaluate_run,
    read_settings,
    resume,
    train,
)
from reparam.runs.settings import check_kept
from reparam.training import CheckpointError, TrainConfig, TrainingDiverged
from reparam.training._checks import SettingsError
from reparam.training._interrupt import Stopped
from reparam.training.distributed import WorldError

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
    """``--resume`` with other options: they must be what the run has, except those a
    resume may change (the library's :func:`~reparam.runs.settings.check_kept`)."""
    if args.overwrite or args.run_dir:
        raise UsageError(
            "--resume RUN continues RUN: it cannot be combined with --run-dir/--overwrite"
        )
    with in_options():
        check_kept(saved, _given(args, model_keys))


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
        return report_failure(in_words(error))


def _train_or_resume(args: argparse.Namespace, name: str, model_keys: tuple[str, ...]) -> int:
    execution = execution_from_args(args)
    run_dir = args.resume or args.run_dir or f"runs/{name}"
    try:
        if args.resume:
            saved = read_settings(args.resume)
            _same_command(saved, name, args.resume)
            check_resume_options(args, saved, model_keys)
            summary = resume(
                args.resume,
                epochs=args.epochs,
                lr=args.lr,
                batch_size=args.batch_size,
                data_folder=args.data_dir,
                execution=execution,
            )
        else:
            settings = settings_from_args(args, name, model_keys)
            summary = train(settings, run_dir, overwrite=args.overwrite, execution=execution)
    except Stopped:
        if is_main_process() and (Path(run_dir) / "checkpoint.pt").is_file():
            execution.print(f"continue with --resume {run_dir}")
        raise
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
