"""The generic trainer: exact resume, Ctrl-C, atomic checkpoints, NaN stop, run folders."""

from __future__ import annotations

import json
import math
import os
import signal
from pathlib import Path

import pytest
import torch
from torch import Tensor

from reparam.cli._training import in_words
from reparam.data import present
from reparam.models import GaussianVAE
from reparam.runs import RunFolderError, existing_run_folder, new_run_folder
from reparam.training import (
    TrainConfig,
    Trainer,
    TrainingDiverged,
    load_checkpoint,
    save_checkpoint,
)
from tests.mnist_files import synthetic_arrays
from tests.training.folders import trainer_folder
from tests.training.trainers import run_trainer

ARRAYS = synthetic_arrays()
TRAIN = ARRAYS["train-images-idx3-ubyte"]
TEST = present(ARRAYS["t10k-images-idx3-ubyte"], "binary", torch.Generator().manual_seed(0))


def tiny_model(seed: int = 0, cls: type[GaussianVAE] = GaussianVAE) -> GaussianVAE:
    torch.manual_seed(seed)
    return cls(input_dim=49, hidden=16, latent_dim=2)


def trainer(path: Path, epochs: int, model: GaussianVAE | None = None, new: bool = True) -> Trainer:
    run = trainer_folder(path, new)
    config = TrainConfig(epochs=epochs, batch_size=20, lr=1e-2, seed=5, target="binary")
    return run_trainer(run, model or tiny_model(), config, TRAIN, TEST)


def same_state(a: dict[str, Tensor], b: dict[str, Tensor]) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def without_seconds(history: list[dict[str, float]]) -> list[dict[str, float]]:
    return [{k: v for k, v in row.items() if k != "seconds"} for row in history]


def test_two_epochs_then_two_resumed_equal_four_straight(tmp_path: Path) -> None:
    straight = trainer(tmp_path / "straight", 4)
    history = straight.fit()
    first = trainer(tmp_path / "split", 2)
    first.fit()
    torch.manual_seed(12345)  # a fresh process: the global generator is elsewhere
    second = trainer(tmp_path / "split", 4, model=tiny_model(seed=99), new=False)
    second.resume()
    resumed = second.fit()
    assert same_state(straight.model.state_dict(), second.model.state_dict())
    assert without_seconds(history) == without_seconds(resumed)
    assert len((tmp_path / "split" / "metrics.jsonl").read_text().splitlines()) == 4
    # and the check can fail: one more epoch changes the weights
    assert not same_state(first.model.state_dict(), second.model.state_dict())


class InterruptedVAE(GaussianVAE):
    """Sends itself Ctrl-C during its 7th training loss (epoch 2, batch 2)."""

    calls = 0

    def loss(self, x: Tensor) -> Tensor:
        if self.training:
            self.calls += 1
            if self.calls == 7:
                os.kill(os.getpid(), signal.SIGINT)
        return super().loss(x)


def test_ctrl_c_saves_a_checkpoint_that_resumes_exactly(tmp_path: Path) -> None:
    straight = trainer(tmp_path / "straight", 3)
    straight.fit()
    interrupted = trainer(tmp_path / "run", 3, model=tiny_model(cls=InterruptedVAE))
    with pytest.raises(KeyboardInterrupt):
        interrupted.fit()
    saved = load_checkpoint(tmp_path / "run" / "checkpoint.pt")["progress"]
    assert (saved["epoch"], saved["step"]) == (1, 2)
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    resumed = trainer(tmp_path / "run", 3, model=tiny_model(seed=7), new=False)
    resumed.resume()
    resumed.fit()
    assert same_state(straight.model.state_dict(), resumed.model.state_dict())


class InterruptedInEvaluation(GaussianVAE):
    """Sends itself Ctrl-C while the first epoch is being scored on the test set."""

    def loss(self, x: Tensor) -> Tensor:
        if not self.training and not getattr(self, "sent", False):
            self.sent = True
            os.kill(os.getpid(), signal.SIGINT)
        return super().loss(x)


def test_ctrl_c_during_evaluation_stops_after_saving_the_epoch(tmp_path: Path) -> None:
    t = trainer(tmp_path / "run", 3, model=tiny_model(cls=InterruptedInEvaluation))
    with pytest.raises(KeyboardInterrupt):
        t.fit()
    saved = load_checkpoint(tmp_path / "run" / "checkpoint.pt")["progress"]
    assert (saved["epoch"], saved["step"], len(saved["history"])) == (1, 0, 1)


def test_a_crash_while_saving_leaves_the_previous_checkpoint_intact(tmp_path: Path) -> None:
    path = tmp_path / "checkpoint.pt"
    good = {"weights": torch.arange(1000.0)}
    save_checkpoint(good, path)
    before = path.read_bytes()
    broken = {"weights": torch.zeros(1000), "unpicklable": lambda: None}  # cannot be saved
    with pytest.raises(Exception, match="pickle"):
        save_checkpoint(broken, path)
    assert path.read_bytes() == before
    assert torch.equal(load_checkpoint(path)["weights"], good["weights"])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["checkpoint.pt"]


class DivergingVAE(GaussianVAE):
    """Its training loss becomes nan at the 8th batch (epoch 2)."""

    calls = 0

    def loss(self, x: Tensor) -> Tensor:
        value = super().loss(x)
        if self.training:
            self.calls += 1
            if self.calls == 8:
                return value * math.nan
        return value


def test_nan_loss_stops_and_keeps_the_last_good_checkpoint(tmp_path: Path) -> None:
    t = trainer(tmp_path / "run", 3, model=tiny_model(cls=DivergingVAE))
    with pytest.raises(TrainingDiverged) as error:
        t.fit()
    message = str(error.value)
    assert "epoch 2, batch 3" in message and "nan" in message
    assert "last good checkpoint (after epoch 1)" in message and "smaller lr." in message
    assert "--lr" not in message and "smaller --lr." in in_words(error.value)  # the CLI's words
    state = load_checkpoint(tmp_path / "run" / "checkpoint.pt")
    assert state["progress"]["epoch"] == 1 and state["progress"]["step"] == 0
    assert len((tmp_path / "run" / "metrics.jsonl").read_text().splitlines()) == 1


def test_nan_weights_stop_before_any_checkpoint(tmp_path: Path) -> None:
    model = tiny_model()
    with torch.no_grad():
        model.decoder[2].bias.fill_(math.nan)
    with pytest.raises(TrainingDiverged, match=r"non-finite.*no checkpoint had been written"):
        trainer(tmp_path / "run", 1, model=model).fit()
    assert not (tmp_path / "run" / "checkpoint.pt").exists()


def test_run_folder_rules(tmp_path: Path) -> None:
    run = new_run_folder(tmp_path / "run")
    saved = {"format": 3, "command": "vae", "model": {}, "train": {}, "data": {}}
    run.write_json(run.config, saved)
    with pytest.raises(RunFolderError, match=r"resume\('.*'\), .*overwrite=True"):
        new_run_folder(tmp_path / "run")
    assert json.loads(run.config.read_text()) == saved
    assert list(new_run_folder(tmp_path / "run", overwrite=True).path.iterdir()) == []
    run.write_json(run.config, {"a": 2})
    other = tmp_path / "photos"
    other.mkdir()
    (other / "keep.jpg").write_text("precious")
    with pytest.raises(RunFolderError, match="not a run folder"):
        new_run_folder(other, overwrite=True)
    assert (other / "keep.jpg").read_text() == "precious"
    with pytest.raises(RunFolderError, match=r"checkpoint\.pt is missing"):
        existing_run_folder(other.parent / "run")
    with pytest.raises(RunFolderError, match="does not exist"):
        existing_run_folder(tmp_path / "none")


def test_config_validation() -> None:
    for bad, match in [
        ({"batch_size": 0}, "batch_size"),
        ({"lr": 0.0}, "lr"),
        ({"lr": math.nan}, "lr"),
        ({"epochs": 0}, "epochs"),
        ({"target": "color"}, "target"),
    ]:
        with pytest.raises(ValueError, match=match):
            TrainConfig(**bad)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="latent_dim"):
        GaussianVAE(latent_dim=0)
