"""The trainer on a GPU: no synchronisation per step, exact resume, checkpoints read on a CPU.

Every test here needs CUDA and is skipped without it (``benchmarks/gpu.sh`` runs
them on a GPU machine). Synchronisations are counted with
``torch.cuda.set_sync_debug_mode("warn")`` (through :mod:`tests.cuda_sync`), which
warns at every call that makes the host wait for the device.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest
import torch
from torch import Tensor

from reparam.data import present
from reparam.estimators import finite_check
from reparam.models import GaussianVAE
from reparam.models.dvae import DiscreteVAE
from reparam.training import TrainConfig, Trainer, load_checkpoint
from tests.cuda_sync import sync_debug_mode
from tests.mnist_files import synthetic_arrays
from tests.training.folders import trainer_folder
from tests.training.trainers import run_trainer

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="CUDA not available")

ARRAYS = synthetic_arrays()
TRAIN = ARRAYS["train-images-idx3-ubyte"]
TEST = present(ARRAYS["t10k-images-idx3-ubyte"], "binary", torch.Generator().manual_seed(0))


def trainer(
    path: Path, epochs: int, device: str, batch_size: int = 20, new: bool = True, seed: int = 0
) -> Trainer:
    run = trainer_folder(path, new)
    torch.manual_seed(seed)
    model = GaussianVAE(input_dim=49, hidden=16, latent_dim=2).to(device)
    config = TrainConfig(epochs=epochs, batch_size=batch_size, lr=1e-2, seed=5, target="binary")
    return run_trainer(run, model, config, TRAIN.to(device), TEST.to(device), progress_bar=False)


def synchronisations(t: Trainer) -> int:
    """How many times one training epoch (no evaluation, no checkpoint) waits for the GPU."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with sync_debug_mode("warn"):
            t._train_epoch(1, lambda: None)
    return sum("synchroniz" in str(w.message) for w in caught)


def test_an_epoch_does_not_synchronise_per_step(tmp_path: Path) -> None:
    long = synchronisations(trainer(tmp_path / "long", 1, "cuda", batch_size=2))  # 48 steps
    short = synchronisations(trainer(tmp_path / "short", 1, "cuda", batch_size=4))  # 24 steps
    # the loss is read every 20 steps and at the end: 3 reads against 2; one per step
    # would add 24
    assert long - short <= 2, (long, short)


def test_the_counter_sees_a_synchronisation_per_step() -> None:
    """The check above can fail: reading each step's loss is counted."""
    x = torch.ones(3, device="cuda")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with sync_debug_mode("warn"):
            for _ in range(5):
                x.sum().item()
    assert sum("synchroniz" in str(w.message) for w in caught) >= 5


def test_a_discrete_vae_training_step_never_synchronises() -> None:
    model = DiscreteVAE("bernoulli", "gumbel-softmax", anneal_rate=0.1, input_dim=49).cuda()
    x = (torch.rand(8, 49, device="cuda") < 0.3).float()
    with sync_debug_mode("error"), finite_check(False):
        for _ in range(3):
            model.loss(x).sum().backward()
    assert int(model.steps) == 3


def same_state(a: dict[str, Tensor], b: dict[str, Tensor]) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k].cpu(), b[k].cpu()) for k in a)


def test_two_epochs_then_two_resumed_on_cuda_equal_four_straight(tmp_path: Path) -> None:
    straight = trainer(tmp_path / "straight", 4, "cuda")
    history = straight.fit()
    trainer(tmp_path / "split", 2, "cuda").fit()
    torch.manual_seed(12345)
    torch.cuda.manual_seed(12345)
    second = trainer(tmp_path / "split", 4, "cuda", new=False, seed=99)
    second.resume()
    resumed = second.fit()
    assert same_state(straight.model.state_dict(), second.model.state_dict())
    assert [r["train_loss"] for r in resumed] == [r["train_loss"] for r in history]


def test_a_checkpoint_saved_on_cuda_loads_and_resumes_on_a_cpu(tmp_path: Path) -> None:
    on_gpu = trainer(tmp_path / "run", 1, "cuda")
    on_gpu.fit()
    state = load_checkpoint(tmp_path / "run" / "checkpoint.pt")
    assert all(v.device.type == "cpu" for v in state["model"].values())
    assert same_state(state["model"], on_gpu.model.state_dict())
    notes: list[str] = []
    on_cpu = trainer(tmp_path / "run", 2, "cpu", new=False)
    on_cpu.log = notes.append
    on_cpu.resume()
    assert same_state(on_cpu.model.state_dict(), on_gpu.model.state_dict())
    history = on_cpu.fit()
    assert [r["epoch"] for r in history] == [1, 2]
    assert any("another kind of device" in note for note in notes), notes
