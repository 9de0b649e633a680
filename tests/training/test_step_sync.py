"""No host read per training step in one process; a bad step is skipped on the device.

Host reads are counted with a ``TorchFunctionMode`` that records every
``item``, ``tolist``, ``bool``, ``float``, ``int`` and ``numpy`` of a tensor
(each one a device-to-host copy that waits for the GPU on CUDA). The
estimators' own finiteness check reads the costs on a CPU, where that is free
(see ``reparam.estimators._finite``); it is turned off here so that only the
trainer's reads are counted.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import Tensor
from torch.overrides import TorchFunctionMode

from reparam.data import present
from reparam.estimators import finite_check
from reparam.models import GaussianVAE
from reparam.models.dvae import DiscreteVAE
from reparam.training import TrainConfig, Trainer, TrainingDiverged
from reparam.training.trainer import READ_EVERY
from tests.mnist_files import synthetic_arrays
from tests.training.folders import trainer_folder
from tests.training.trainers import run_trainer

ARRAYS = synthetic_arrays()
TRAIN = ARRAYS["train-images-idx3-ubyte"]  # 96 images of 7 x 7
TEST = present(ARRAYS["t10k-images-idx3-ubyte"], "binary", torch.Generator().manual_seed(0))
HOST_READS = {"item", "tolist", "__bool__", "__float__", "__int__", "__index__", "numpy"}


class HostReads(TorchFunctionMode):
    """Records the name of every tensor method that copies data to the host."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[str] = []

    def __torch_function__(
        self,
        func: Callable[..., Any],
        types: Any,
        args: tuple[Any, ...] = (),
        kwargs: dict[str, Any] | None = None,
    ) -> Any:
        name = getattr(func, "__name__", "")
        if name in HOST_READS:
            self.seen.append(name)
        return func(*args, **(kwargs or {}))


def tiny_trainer(path: Path, model: GaussianVAE, batch_size: int, epochs: int = 1) -> Trainer:
    run = trainer_folder(path)
    config = TrainConfig(epochs=epochs, batch_size=batch_size, lr=1e-2, seed=5, target="binary")
    return run_trainer(run, model, config, TRAIN, TEST, progress_bar=False)


def tiny_model(cls: type[GaussianVAE] = GaussianVAE) -> GaussianVAE:
    torch.manual_seed(0)
    return cls(input_dim=49, hidden=16, latent_dim=2)


def test_one_epoch_reads_the_host_every_read_every_steps_only(tmp_path: Path) -> None:
    steps = TRAIN.shape[0] // 2  # 48 steps at batch 2
    trainer = tiny_trainer(tmp_path / "run", tiny_model(), batch_size=2)
    with finite_check(False), HostReads() as reads:
        trainer.fit()
    training_reads = steps // READ_EVERY + 1  # the running loss, and once at the epoch's end
    evaluation_reads = 2  # the test loss of the epoch: its sum over ranks, then its value
    assert len(reads.seen) == training_reads + evaluation_reads, reads.seen
    assert len(reads.seen) < steps / 4  # a read per step would be 48 at least


def test_the_read_counter_sees_a_read_per_step() -> None:
    """The check above can fail: a loop that reads each step's loss is counted."""
    with HostReads() as reads:
        total = 0.0
        for _ in range(5):
            total += torch.ones(3).sum().item()
    assert len(reads.seen) == 5


class NanAtCall(GaussianVAE):
    """Training loss nan from the 8th call on (epoch 2, batch 3 at batch 20);
    remembers the weights as they were when that call began."""

    calls = 0
    weights_before_bad: dict[str, Tensor] | None = None

    def loss(self, x: Tensor) -> Tensor:
        value = super().loss(x)
        if self.training:
            self.calls += 1
            if self.calls == 8:
                self.weights_before_bad = {k: v.clone() for k, v in self.state_dict().items()}
            if self.calls >= 8:
                return value * math.nan
        return value


def test_the_bad_step_and_later_ones_are_never_applied(tmp_path: Path) -> None:
    model = tiny_model(NanAtCall)
    trainer = tiny_trainer(tmp_path / "run", model, batch_size=20, epochs=3)
    with pytest.raises(TrainingDiverged, match=r"epoch 2, batch 3: the batch loss is nan"):
        trainer.fit()
    assert model.calls == 10  # the epoch ran to its end (5 batches) before the read
    assert model.weights_before_bad is not None
    for key, value in model.state_dict().items():
        assert torch.equal(value, model.weights_before_bad[key]), key
    steps = {float(s["step"]) for s in trainer.optimizer.state_dict()["state"].values()}
    assert steps == {7.0}  # Adam's step count: the 7 good steps only


def test_discrete_vae_training_loss_reads_nothing_on_the_host() -> None:
    """Tensors on the meta device have no data: any host read raises on them."""
    model = DiscreteVAE("bernoulli", "gumbel-softmax", anneal_rate=0.1, input_dim=49).to("meta")
    x = torch.empty(4, 49, device="meta")
    with finite_check(False):
        for _ in range(2):
            model.loss(x).sum().backward()
    assert model.schedule is not None  # its step: the model's counter, on the device
    assert isinstance(model.schedule.step, Tensor) and model.schedule.step.is_meta
    with pytest.raises(RuntimeError, match="meta"):  # and a host read there does fail
        int(model.steps)


def test_discrete_vae_annealing_continues_from_a_loaded_state() -> None:
    x = (torch.rand(4, 49, generator=torch.Generator().manual_seed(1)) < 0.3).float()
    trained = DiscreteVAE("bernoulli", "gumbel-softmax", anneal_rate=0.1, input_dim=49)
    for _ in range(3):
        trained.loss(x).sum().backward()
    loaded = DiscreteVAE("bernoulli", "gumbel-softmax", anneal_rate=0.1, input_dim=49)
    loaded.load_state_dict(trained.state_dict())
    for model in (trained, loaded):
        model.loss(x)
    assert trained.schedule is not None and loaded.schedule is not None
    assert loaded.schedule.step == trained.schedule.step == 3
    assert int(loaded.steps) == int(trained.steps) == 4
