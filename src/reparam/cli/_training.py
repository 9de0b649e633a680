"""Command-line pieces shared by every model trained on MNIST (``reparam vae``, ...).

A model command adds its own options, then calls :func:`add_train_arguments`
and :func:`add_eval_parser`, and runs :func:`train_command` / :func:`eval_command`
with a function building its model from a dict of model options. Settings are
saved in the run folder's ``config.json``; ``--resume`` and ``eval`` rebuild
the model from them.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from dataclasses import fields
from pathlib import Path
from typing import Any

import torch

from reparam.cli._parser import UsageError, int_at_least, positive_float, print_error
from reparam.cli._report import finish, load_data
from reparam.data.batches import TARGETS
from reparam.training import (
    LatentVariableModel,
    TrainConfig,
    Trainer,
    TrainingDiverged,
    existing_run_folder,
    load_checkpoint,
    new_run_folder,
)
from reparam.training.run_folder import check_new_run_folder

ModelFactory = Callable[[dict[str, Any]], LatentVariableModel]
TRAIN_KEYS = tuple(f.name for f in fields(TrainConfig))
DATA_KEYS = ("train_size", "test_size")


def add_train_arguments(parser: argparse.ArgumentParser, name: str) -> None:
    """Training, data and output options (defaults: the classic PyTorch VAE example)."""
    d = TrainConfig()
    train = parser.add_argument_group("training")
    train.add_argument("--epochs", type=int_at_least(1), help=f"total epochs (default {d.epochs})")
    train.add_argument("--batch-size", type=int_at_least(1), help=f"default {d.batch_size}")
    train.add_argument("--lr", type=positive_float, help=f"Adam learning rate (default {d.lr})")
    train.add_argument("--seed", type=int_at_least(0), help=f"default {d.seed}")
    train.add_argument(
        "--target",
        choices=TARGETS,
        help="grayscale: BCE on intensities (classic); binary: pixels ~ Bernoulli(intensity), "
        "redrawn every epoch (default grayscale)",
    )
    runs = parser.add_argument_group("run folder")
    runs.add_argument("--run", dest="run_dir", metavar="DIR", help=f"default runs/{name}")
    runs.add_argument("--resume", metavar="RUN", help="continue the run in folder RUN exactly")
    runs.add_argument("--overwrite", action="store_true", help="replace an existing run folder")
    add_common_arguments(parser)
    data = parser.add_argument_group("data subset (for quick trials)")
    data.add_argument("--train-size", type=int_at_least(1), help="use the first N train images")
    data.add_argument("--test-size", type=int_at_least(1), help="use the first N test images")


def add_common_arguments(parser: argparse.ArgumentParser) -> None:
    """Options for both training and evaluation."""
    group = parser.add_argument_group("data, device and output")
    group.add_argument("--data-dir", help="folder with the MNIST idx files ($REPARAM_DATA_DIR)")
    group.add_argument("--download", action="store_true", help="fetch missing MNIST files")
    group.add_argument("--device", default="auto", help="cpu, cuda, cuda:N or auto (default)")
    group.add_argument(
        "--eval-k",
        type=int_at_least(0),
        default=1000,
        help="samples for the importance-weighted bound on the test set; 0 skips it (default 1000)",
    )
    group.add_argument(
        "--threads", type=int_at_least(1), help="CPU threads for torch (default: torch's choice)"
    )
    group.add_argument("--json", action="store_true", help="print one JSON summary")


def add_eval_parser(command: argparse.ArgumentParser, build: ModelFactory) -> None:
    """The action ``COMMAND eval RUN``: re-evaluate a saved run."""
    subcommands = command.add_subparsers(title="actions", metavar="ACTION")
    subcommands._parser_class = type(command)
    parser = subcommands.add_parser(
        "eval", help="re-evaluate a saved run", description="Recompute a run's test bounds."
    )
    parser.add_argument("run_path", metavar="RUN", help="the run folder")
    add_common_arguments(parser)
    parser.add_argument("--debug", action="store_true", default=argparse.SUPPRESS)
    parser.set_defaults(run=lambda args: eval_command(args, build))


def resolve_device(name: str, threads: int | None = None) -> torch.device:
    """``auto`` is CUDA when present, else the CPU."""
    if threads is not None:
        torch.set_num_threads(threads)
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise UsageError(f"--device: unknown device {name!r}; use cpu, cuda or auto") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise UsageError("--device cuda: no CUDA device is available here; use --device cpu")
    return device


def settings_from_args(args: argparse.Namespace, model_keys: tuple[str, ...]) -> dict[str, Any]:
    """The run's settings: saved ones on ``--resume`` (only ``--epochs`` may change)."""
    given = {k: getattr(args, k) for k in (*model_keys, *TRAIN_KEYS, *DATA_KEYS)}
    given = {k: v for k, v in given.items() if v is not None}
    if not args.resume:
        train = TrainConfig(**{k: given[k] for k in TRAIN_KEYS if k in given})
        model = {k: given[k] for k in model_keys if k in given}
        data = {k: given.get(k) for k in DATA_KEYS}
        return {"model": model, "train": train.to_dict(), "data": data}
    if args.overwrite or args.run_dir:
        raise UsageError("--resume RUN continues RUN: it cannot be combined with --run/--overwrite")
    saved = existing_run_folder(args.resume).read_config()
    flat = {**saved["model"], **saved["train"], **saved["data"]}
    for key, value in given.items():
        if key != "epochs" and flat.get(key) != value:
            option = "--" + key.replace("_", "-")
            raise UsageError(
                f"{option} {value} differs from the run's saved {flat.get(key)}; "
                "a resumed run keeps its settings (only --epochs may change)"
            )
    if "epochs" in given:
        saved["train"]["epochs"] = given["epochs"]
    return dict(saved)


def train_command(
    args: argparse.Namespace, name: str, model_keys: tuple[str, ...], build: ModelFactory
) -> int:
    """Train a new run, or resume one; evaluate, draw pictures, report."""
    settings = settings_from_args(args, model_keys)
    config = TrainConfig(**settings["train"])
    device = resolve_device(args.device, args.threads)
    run_path = Path(args.resume or args.run_dir or f"runs/{name}")
    if not args.resume:
        check_new_run_folder(run_path, args.overwrite)
    torch.manual_seed(config.seed)
    # Bad model options (e.g. arm with categorical codes) fail here, before the
    # data is read or anything is written.
    model = build(settings["model"]).to(device)
    data = load_data(args, settings["data"], config.target, device)
    run = existing_run_folder(run_path) if args.resume else new_run_folder(run_path, True)
    if not args.resume:
        run.write_json(run.config, {"command": name, **settings})
    log = _logger(args.json)
    trainer = Trainer(model, data.train_images, data.test_pixels, config, run, log=log)
    if args.resume:
        trainer.resume()
        log(f"resuming {run.path} after epoch {trainer.progress.epoch}")
    try:
        history = trainer.fit()
    except TrainingDiverged as error:
        print_error(str(error))
        return 1
    return finish(args, run, model, data, settings, history)


def eval_command(args: argparse.Namespace, build: ModelFactory) -> int:
    """Rebuild a saved run's model from its last checkpoint and evaluate it."""
    run = existing_run_folder(args.run_path)
    settings = run.read_config()
    device = resolve_device(args.device, args.threads)
    data = load_data(args, settings["data"], settings["train"]["target"], device)
    model = build(settings["model"]).to(device)
    state = load_checkpoint(run.checkpoint)
    model.load_state_dict(state["model"])
    return finish(args, run, model, data, settings, state["progress"]["history"])


def _logger(to_stderr: bool) -> Callable[[str], None]:
    stream = sys.stderr if to_stderr else sys.stdout
    return lambda line: print(line, file=stream, flush=True)
