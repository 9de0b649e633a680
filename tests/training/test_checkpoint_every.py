"""Checkpoints every N steps: a crash loses at most N steps, and the resume is exact."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import Tensor

from reparam.data.examples import ImageExamples
from reparam.models import GaussianVAE
from reparam.runs import new_run_folder
from reparam.training import TrainConfig, Trainer, load_checkpoint
from tests.mnist_files import synthetic_arrays
from tests.training.trainers import run_trainer

TRAIN = synthetic_arrays()["train-images-idx3-ubyte"]  # 96 images: 5 batches of 20
TEST = torch.rand(8, 49)
CONFIG = TrainConfig(epochs=3, batch_size=20, lr=1e-2, seed=5, target="binary")


class Crashing(GaussianVAE):
    """Dies (as a killed process would, without saving) at its 8th training loss."""

    calls = 0

    def loss(self, x: Tensor) -> Tensor:
        if self.training:
            self.calls += 1
            if self.calls == 8:
                raise RuntimeError("the machine went away")
        return super().loss(x)


def model(cls: type[GaussianVAE] = GaussianVAE) -> GaussianVAE:
    torch.manual_seed(0)
    return cls(input_dim=49, hidden=16, latent_dim=2)


def test_a_crash_resumes_from_the_last_step_checkpoint_exactly(tmp_path: Path) -> None:
    straight = Trainer(
        model(),
        ImageExamples(TRAIN, CONFIG.target),
        TEST,
        CONFIG,
        new_run_folder(tmp_path / "a").checkpoint,
        log=_quiet,
    )
    straight.fit()
    run = new_run_folder(tmp_path / "b")
    crashing = run_trainer(run, model(Crashing), CONFIG, TRAIN, TEST, checkpoint_every=3)
    with pytest.raises(RuntimeError, match="went away"):
        crashing.fit()
    saved = load_checkpoint(run.checkpoint)["progress"]
    assert (saved["epoch"], saved["step"]) == (1, 1)  # global step 6 = epoch 2, batch 1
    torch.manual_seed(123)  # a fresh process
    resumed = run_trainer(run, model(), CONFIG, TRAIN, TEST)
    resumed.resume()
    resumed.fit()
    for (name, a), b in zip(
        straight.model.state_dict().items(), resumed.model.state_dict().values(), strict=True
    ):
        assert torch.equal(a, b), name
    # without the step checkpoints the same crash falls back to the end of epoch 1
    other = new_run_folder(tmp_path / "c")
    with pytest.raises(RuntimeError):
        run_trainer(other, model(Crashing), CONFIG, TRAIN, TEST).fit()
    saved = load_checkpoint(other.checkpoint)["progress"]
    assert (saved["epoch"], saved["step"]) == (1, 0)


def _quiet(line: str) -> None:
    """The trainer's log, unused here."""
