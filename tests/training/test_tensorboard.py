"""Metrics as data: callbacks get dicts; TensorBoard events hold the run's scalars and
pictures (read back from the event files); pictures can be turned off."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest
import torch

from reparam.cli import build_parser
from reparam.data import present
from reparam.data.examples import ImageExamples
from reparam.models import GaussianVAE
from reparam.runs import Execution, RunData, RunSettings, load_model, train
from reparam.training import Callback, TrainConfig, load_checkpoint
from tests.mnist_files import synthetic_arrays

pytest.importorskip("tensorboard")
from tensorboard.backend.event_processing.event_accumulator import (
    EventAccumulator,
)

ARRAYS = synthetic_arrays()  # 96 train and 40 test images of 7 x 7
DATA = RunData(
    ImageExamples(ARRAYS["train-images-idx3-ubyte"], "binary"),
    present(ARRAYS["t10k-images-idx3-ubyte"], "binary", torch.Generator().manual_seed(0)),
    ARRAYS["t10k-labels-idx1-ubyte"].long(),
    (7, 7),
)
SETTINGS = RunSettings(
    model="vae",
    options={"input_dim": 49, "hidden": 16, "latent_dim": 2},
    train=TrainConfig(epochs=2, batch_size=4, lr=1e-2, seed=3, target="binary"),
)


class Recorder(Callback):
    def __init__(self) -> None:
        self.steps: list[dict[str, float]] = []
        self.epochs: list[dict[str, Any]] = []

    def on_step(self, metrics: Mapping[str, float]) -> None:
        self.steps.append(dict(metrics))

    def on_epoch(self, record: Mapping[str, Any], history: Sequence[Mapping[str, Any]]) -> None:
        assert list(history)[-1] == record
        self.epochs.append(dict(record))


def execution(**given: Any) -> Execution:
    return Execution(device="cpu", eval_k=5, progress_bar=False, log=lambda _: None, **given)


def test_callbacks_and_tensorboard_receive_the_runs_numbers(tmp_path: Path) -> None:
    recorder = Recorder()
    board = tmp_path / "board"
    summary = train(
        SETTINGS,
        tmp_path / "run",
        execution=execution(tensorboard=str(board)),
        data=DATA,
        callbacks=[recorder],
    )
    assert recorder.epochs == summary["epochs"]
    assert [row["step"] for row in recorder.steps] == [20, 44]  # 24 steps per epoch
    assert all(math.isfinite(row["train_loss"]) for row in recorder.steps)

    events = EventAccumulator(str(board), size_guidance={"images": 0, "scalars": 0})
    events.Reload()
    scalars = {tag: events.Scalars(tag) for tag in events.Tags()["scalars"]}
    train_loss = [(e.step, e.value) for e in scalars["train/loss"]]
    assert train_loss == [
        (row["epoch"], pytest.approx(row["train_loss"], rel=1e-6)) for row in summary["epochs"]
    ]
    assert [e.step for e in scalars["test/loss"]] == [1, 2]
    assert [e.step for e in scalars["train/running_loss"]] == [20, 44]
    assert scalars["test/neg_elbo"][0].value == pytest.approx(summary["test_neg_elbo"], rel=1e-6)
    assert scalars["test/neg_iw_bound"][0].value == pytest.approx(
        summary["test_neg_iw_bound"], rel=1e-6
    )
    pictures = {Path(p).stem for p in summary["pictures"]}
    assert {"reconstructions", "samples", "latent_space"} <= pictures
    assert set(events.Tags()["images"]) == pictures
    image = events.Images("samples")[0]
    assert image.width > 100 and image.height > 100


def test_no_pictures(tmp_path: Path) -> None:
    summary = train(SETTINGS, tmp_path / "run", execution=execution(pictures=False), data=DATA)
    assert summary["pictures"] == []
    assert not list((tmp_path / "run").glob("*.png"))
    model = load_model(tmp_path / "run")  # a built-in family: no class to pass
    assert isinstance(model, GaussianVAE) and not model.training
    saved = load_checkpoint(tmp_path / "run" / "checkpoint.pt")["model"]
    assert all(torch.equal(saved[k], v) for k, v in model.state_dict().items())


def test_the_options_reach_the_execution() -> None:
    from reparam.cli._training import execution_from_args

    args = build_parser().parse_args(["vae", "--no-pictures", "--tensorboard", "tb", "--json"])
    made = execution_from_args(args)
    assert made.pictures is False and made.tensorboard == "tb"
    default = execution_from_args(build_parser().parse_args(["vae"]))
    assert default.pictures is True and default.tensorboard is None
