"""A model of one's own through the run layer: a VAE on 2-D points with a 1-D code.

Nothing here is an image: the data are rows of two numbers, the likelihood is
Gaussian. The same ``train``, ``resume``, ``evaluate_run`` and ``load_model``
that run ``reparam vae`` carry it out, with a checkpoint and an exact resume.
The model is the one of ``examples/training_run.py``, so the example's model is
held to the same checks.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from types import ModuleType

import pytest
import torch

from reparam.runs import (
    Execution,
    RunData,
    RunSettings,
    evaluate_run,
    load_model,
    read_settings,
    resume,
    train,
)
from reparam.training import TrainConfig, load_checkpoint, save_checkpoint
from reparam.training._checks import SettingsError


def _example() -> ModuleType:
    """``examples/training_run.py``, whose ``PointVAE`` and ``parabola`` these tests run."""
    path = Path(__file__).resolve().parents[2] / "examples" / "training_run.py"
    spec = importlib.util.spec_from_file_location("training_run_example", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


EXAMPLE = _example()
PointVAE = EXAMPLE.PointVAE
points = EXAMPLE.parabola


DATA = RunData.from_tensors(points(192, seed=0), points(64, seed=1))
SETTINGS = RunSettings(
    model="points", options={"hidden": 8}, train=TrainConfig(epochs=3, batch_size=32, lr=1e-2)
)
QUIET = Execution(device="cpu", eval_k=20, progress_bar=False, log=lambda _: None)


def run(folder: Path, epochs: int) -> dict[str, object]:
    settings = RunSettings(
        SETTINGS.model, SETTINGS.options, TrainConfig(epochs=epochs, batch_size=32, lr=1e-2)
    )
    return train(settings, folder, execution=QUIET, family=PointVAE, data=DATA)


def test_trains_with_a_checkpoint_and_resumes_exactly(tmp_path: Path) -> None:
    straight = run(tmp_path / "straight", epochs=3)
    names = {p.name for p in (tmp_path / "straight").iterdir()}
    assert {"config.json", "checkpoint.pt", "metrics.jsonl", "summary.json"} <= names
    assert not any(name.endswith(".png") for name in names)  # not images: no pictures
    losses = [row["train_loss"] for row in straight["epochs"]]  # type: ignore[union-attr]
    assert losses[-1] < losses[0]  # it learns
    assert straight["test_neg_iw_bound"] <= straight["test_neg_elbo"] + 0.05  # type: ignore[operator]

    run(tmp_path / "resumed", epochs=1)
    resumed = resume(tmp_path / "resumed", epochs=3, execution=QUIET, family=PointVAE, data=DATA)
    assert resumed["epochs"] == [
        {**row, "seconds": new["seconds"]}
        for row, new in zip(straight["epochs"], resumed["epochs"], strict=True)  # type: ignore[arg-type]
    ]
    a = load_checkpoint(tmp_path / "straight" / "checkpoint.pt")["model"]
    b = load_checkpoint(tmp_path / "resumed" / "checkpoint.pt")["model"]
    assert all(torch.equal(a[key], b[key]) for key in a)
    lines = (tmp_path / "resumed" / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(line)["epoch"] for line in lines] == [1, 2, 3]

    again = evaluate_run(tmp_path / "straight", execution=QUIET, family=PointVAE, data=DATA)
    assert again["test_neg_elbo"] == straight["test_neg_elbo"]  # same seed, same numbers


def test_load_model_gives_the_trained_model_in_evaluation_mode(tmp_path: Path) -> None:
    run(tmp_path / "run", epochs=1)
    model = load_model(tmp_path / "run", family=PointVAE)
    assert isinstance(model, PointVAE) and not model.training
    saved = load_checkpoint(tmp_path / "run" / "checkpoint.pt")["model"]
    assert all(torch.equal(saved[k], v) for k, v in model.state_dict().items())
    assert model.decode(model.sample_prior(5)).shape == (5, 2)
    assert model.encode_mean(DATA.test[:3]).shape == (3, 1)


def test_a_family_of_ones_own_must_be_given(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match=r"unknown model family 'points'.*family"):
        train(SETTINGS, tmp_path / "run", execution=QUIET, data=DATA)
    assert not (tmp_path / "run").exists()


def test_a_resume_may_change_the_pace_and_records_each_change(tmp_path: Path) -> None:
    run(tmp_path / "run", epochs=1)
    summary = resume(
        tmp_path / "run", epochs=2, lr=5e-3, execution=QUIET, family=PointVAE, data=DATA
    )
    assert summary["settings"]["train"]["lr"] == 5e-3  # type: ignore[index]
    state = load_checkpoint(tmp_path / "run" / "checkpoint.pt")
    assert [group["lr"] for group in state["optimizer"]["param_groups"]] == [5e-3]
    resume(tmp_path / "run", epochs=3, batch_size=64, execution=QUIET, family=PointVAE, data=DATA)
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    assert config["train"]["epochs"] == 1 and config["train"]["lr"] == 1e-2  # as written
    changes = (tmp_path / "run" / "changes.jsonl").read_text().splitlines()
    assert [json.loads(line) for line in changes] == [
        {"at": "after epoch 1", "epochs": [1, 2], "lr": [1e-2, 5e-3]},
        {"at": "after epoch 2", "epochs": [2, 3], "batch_size": [32, 64]},
    ]
    changed = {"epochs": 3, "lr": 5e-3, "batch_size": 64}
    current = read_settings(tmp_path / "run", own_family=True).train.to_dict()
    assert current == {**SETTINGS.train.to_dict(), **changed}
    lines = (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(line)["epoch"] for line in lines] == [1, 2, 3]


def test_the_batch_size_changes_only_at_an_epochs_end(tmp_path: Path) -> None:
    run(tmp_path / "run", epochs=1)
    path = tmp_path / "run" / "checkpoint.pt"
    state = load_checkpoint(path)
    state["progress"] = {**state["progress"], "epoch": 0, "step": 2, "order": torch.arange(192)}
    save_checkpoint(state, path)
    with pytest.raises(SettingsError, match="batch_size can change only at an epoch's end"):
        resume(tmp_path / "run", batch_size=16, execution=QUIET, family=PointVAE, data=DATA)
    assert not (tmp_path / "run" / "changes.jsonl").exists()
