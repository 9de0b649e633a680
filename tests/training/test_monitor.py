"""Gradient monitoring: its figures, and that it leaves training and resuming exact."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

import pytest
import torch
from torch import Tensor

from reparam.data import present
from reparam.models import GaussianVAE
from reparam.training import TrainConfig, Trainer, load_checkpoint, seeded
from reparam.training.monitor import (
    GradientMonitor,
    gradient_groups,
    measure_gradients,
    plot_gradients,
)
from tests.conftest import REPO
from tests.mnist_files import synthetic_arrays
from tests.training import launch
from tests.training.folders import trainer_folder
from tests.training.trainers import run_trainer

ARRAYS = synthetic_arrays()
TRAIN = ARRAYS["train-images-idx3-ubyte"]  # 96 images: 5 batches of 20 per epoch
TEST = present(ARRAYS["t10k-images-idx3-ubyte"], "binary", torch.Generator().manual_seed(0))
BATCH = present(TRAIN[:20], "binary", torch.Generator().manual_seed(1))


@pytest.fixture(autouse=True)
def one_thread() -> object:
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def tiny_model(seed: int = 0, cls: type[GaussianVAE] = GaussianVAE) -> GaussianVAE:
    torch.manual_seed(seed)
    return cls(input_dim=49, hidden=16, latent_dim=2, objective="iwae", iw_k=3, iw_gradient="dreg")


def trainer(
    path: Path, epochs: int, model: GaussianVAE | None = None, monitor: bool = True
) -> Trainer:
    run = trainer_folder(path, new=not path.exists())
    config = TrainConfig(epochs=epochs, batch_size=20, lr=1e-2, seed=5, target="binary")
    watch = GradientMonitor(BATCH, every=3, replicates=2, seed=5) if monitor else None
    return run_trainer(run, model or tiny_model(), config, TRAIN, TEST, monitor=watch)


def test_the_figures_are_those_of_the_replicates_drawn_directly() -> None:
    model = tiny_model()
    figures = measure_gradients(model, BATCH, replicates=5, seed=9)
    groups = gradient_groups(model)
    parameters = [*groups["encoder"], *groups["decoder"]]
    rows = []
    with seeded(9, BATCH.device):
        for _ in range(5):
            grads = torch.autograd.grad(model.loss(BATCH).sum(), parameters)
            rows.append(torch.cat([g.reshape(-1).double() for g in grads]))
    draws = torch.stack(rows)
    size = sum(p.numel() for p in groups["encoder"])
    for name, part in (("encoder", draws[:, :size]), ("decoder", draws[:, size:])):
        mean, std = part.mean(0), part.std(0)
        noisy = std > 0  # components without noise (dead units) are left out of the SNR
        assert 0 < noisy.sum() < noisy.numel() or name == "decoder"
        expected = {
            "snr": (mean[noisy].abs() / std[noisy]).mean().item(),
            "variance": std.square().mean().item(),
            "mean_norm": mean.norm().item(),
        }
        assert figures[name] == pytest.approx(expected, rel=1e-9)
    assert figures["encoder"] != figures["decoder"]


def test_groups_split_encoder_and_decoder_and_one_replicate_is_refused() -> None:
    model = tiny_model()
    groups = gradient_groups(model)
    assert len(groups["decoder"]) == len(list(model.decoder.parameters())) == 4
    assert len(groups["encoder"]) == 6  # encoder, to_mean, to_log_var: weights and biases
    with pytest.raises(ValueError, match="replicates must be >= 2"):
        GradientMonitor(BATCH, every=1, replicates=1)
    with pytest.raises(ValueError, match="every must be >= 1"):
        GradientMonitor(BATCH, every=0)


def same_state(a: dict[str, Tensor], b: dict[str, Tensor]) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_monitoring_leaves_training_as_it_is_and_records_every_third_step(tmp_path: Path) -> None:
    watched = trainer(tmp_path / "watched", 2)
    history = watched.fit()
    plain = trainer(tmp_path / "plain", 2, monitor=False)
    plain_history = plain.fit()
    assert same_state(watched.model.state_dict(), plain.model.state_dict())
    assert [r["train_loss"] for r in history] == [r["train_loss"] for r in plain_history]
    steps = [[row["step"] for row in record["gradients"]] for record in history]
    assert steps == [[3], [6, 9]]
    lines = (tmp_path / "watched" / "metrics.jsonl").read_text().splitlines()
    rows = [json.loads(line) for line in lines]
    assert rows[1]["gradients"][0]["encoder"]["snr"] > 0
    assert "gradients" not in plain_history[0]
    assert plot_gradients(history, tmp_path / "g.png") == tmp_path / "g.png"
    assert plot_gradients(plain_history, tmp_path / "none.png") is None


class InterruptedVAE(GaussianVAE):
    """Sends itself Ctrl-C in its 11th loss in training mode: epoch 2, batch 2 (the
    monitor's two replicates after steps 3 and 6 count too)."""

    calls = 0

    def loss(self, x: Tensor) -> Tensor:
        if self.training:
            self.calls += 1
            if self.calls == 11:
                os.kill(os.getpid(), signal.SIGINT)
        return super().loss(x)


def test_an_interrupted_monitored_run_resumes_with_the_same_rows(tmp_path: Path) -> None:
    straight = trainer(tmp_path / "straight", 2)
    expected = straight.fit()
    interrupted = trainer(tmp_path / "run", 2, model=tiny_model(cls=InterruptedVAE))
    with pytest.raises(KeyboardInterrupt):
        interrupted.fit()
    state = load_checkpoint(tmp_path / "run" / "checkpoint.pt")
    assert (state["progress"]["epoch"], state["progress"]["step"]) == (1, 2)
    assert [row["step"] for row in state["monitor"]] == [6]  # measured, not yet in a record
    torch.manual_seed(123)
    resumed = trainer(tmp_path / "run", 2, model=tiny_model(seed=7))
    resumed.resume()
    history = resumed.fit()
    assert same_state(straight.model.state_dict(), resumed.model.state_dict())
    assert [r["gradients"] for r in history] == [r["gradients"] for r in expected]


@pytest.mark.slow
def test_under_two_ranks_rank_0_measures_and_training_is_unchanged(tmp_path: Path) -> None:
    out = tmp_path / "monitor"
    argv = ["torchrun", "--standalone", "--nproc-per-node=2", "-m", "tests.training.monitor_worker"]
    result = launch.run([*argv, str(out)], cwd=REPO)
    assert result.returncode == 0, result.stderr[-3000:]
    ranks = [torch.load(f"{out}.rank{r}.pt") for r in range(2)]
    for state in ranks:  # monitoring on rank 0 changes no rank's training
        assert same_state(state["watched"]["params"], state["plain"]["params"])
    assert same_state(ranks[0]["watched"]["params"], ranks[1]["watched"]["params"])
    assert [row["step"] for row in ranks[0]["watched"]["rows"]] == [2, 4, 6, 8]
    assert ranks[1]["watched"]["rows"] == []
