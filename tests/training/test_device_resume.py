"""A checkpoint written on another kind of device resumes, with a note, on this one.

A CUDA generator's state (16 bytes: seed and offset of its Philox stream) does
not fit a CPU generator (its Mersenne Twister state), so the data order and
binarization cannot continue the saved stream there; the weights, the
optimizer and the position do. The CUDA side of it runs in ``test_cuda.py``.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from reparam.models import GaussianVAE
from reparam.training import TrainConfig, Trainer, load_checkpoint, save_checkpoint
from tests.training.folders import trainer_folder
from tests.training.test_trainer import TEST, TRAIN
from tests.training.trainers import run_trainer

CUDA_GENERATOR_STATE = torch.zeros(16, dtype=torch.uint8)


def trainer(path: Path, epochs: int, log: list[str], new: bool) -> Trainer:
    run = trainer_folder(path, new)
    torch.manual_seed(0)
    model = GaussianVAE(input_dim=49, hidden=16, latent_dim=2)
    config = TrainConfig(epochs=epochs, batch_size=20, lr=1e-2, seed=5, target="binary")
    return run_trainer(run, model, config, TRAIN, TEST, log=log.append, progress_bar=False)


def test_a_generator_state_of_another_device_starts_a_new_stream(tmp_path: Path) -> None:
    log: list[str] = []
    first = trainer(tmp_path / "run", 1, log, new=True)
    first.fit()
    checkpoint = tmp_path / "run" / "checkpoint.pt"
    state = load_checkpoint(checkpoint)
    state["generator"] = CUDA_GENERATOR_STATE
    save_checkpoint(state, checkpoint)
    resumed = trainer(tmp_path / "run", 2, log, new=False)
    resumed.resume()
    assert any("another kind of device than cpu" in line for line in log), log
    assert [r["epoch"] for r in resumed.fit()] == [1, 2]


def test_a_cpu_generator_refuses_a_cuda_state() -> None:
    """Why the note is needed: the state cannot be set as it is."""
    with pytest.raises(RuntimeError):
        torch.Generator().set_state(CUDA_GENERATOR_STATE)
