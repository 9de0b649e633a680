"""Work that could not finish is refused up front with an estimate; a stop request ends the
gradient measurement between two of its estimates, and the resumed run is exact."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest
import torch
from torch import Tensor

from reparam.cli import main
from reparam.models import GaussianVAE
from reparam.training import load_checkpoint
from reparam.training._checks import SettingsError
from reparam.training.monitor import MAX_WORK, check_monitor_work, measure_gradients
from reparam.training.run_memory import MAX_EVAL_FLOPS, check_evaluation
from tests.training.test_monitor import BATCH, same_state, tiny_model, trainer

SMALL = ["--train-size", "256", "--test-size", "64", "--hidden", "16", "--epochs", "1"]


def test_monitoring_beyond_its_bound_is_refused_with_an_estimate() -> None:
    check_monitor_work(every=1, replicates=MAX_WORK, steps=10)  # at the bound: accepted
    with pytest.raises(
        SettingsError, match=r"monitor_replicates=101 every 1 step\(s\) is 1.01e\+03"
    ):
        check_monitor_work(every=1, replicates=MAX_WORK + 1, steps=10)
    check_monitor_work(every=20, replicates=10**6, steps=10)  # never measured


def test_an_evaluation_beyond_its_bound_is_refused_with_an_estimate() -> None:
    def build() -> GaussianVAE:
        return GaussianVAE(input_dim=784, hidden=400, latent_dim=20)

    weights = 784 * 400 + 400 * 20 + 400 * 20 + 20 * 400 + 400 * 784  # of nn.Linear layers
    k = MAX_EVAL_FLOPS // (2 * weights * 10_000)
    check_evaluation(build, k, 10_000)
    with pytest.raises(SettingsError, match=r"eval_k=1000000000000 on 10000 test images is 1e\+16"):
        check_evaluation(build, 10**12, 10_000)
    with pytest.raises(SettingsError, match="days at 10"):
        check_evaluation(build, k + 1, 10_000)


@pytest.mark.mnist
@pytest.mark.parametrize(
    ("options", "needles"),
    [
        (["--eval-k", str(10**12)], ["--eval-k=1000000000000 on 64 test images", "days"]),
        (
            ["--snr-every", "1", "--snr-replicates", str(10**8), "--eval-k", "0"],
            ["--snr-replicates=100000000 every 1 step(s)", "raise --snr-every"],
        ),
    ],
)
def test_the_command_line_refuses_them_before_any_folder(
    options: list[str],
    needles: list[str],
    mnist_dir: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    run = tmp_path / "run"
    argv = ["vae", "--data-dir", str(mnist_dir), "--run-dir", str(run), *SMALL, *options]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and all(n in err for n in needles), err
    assert not run.exists()


class CountingVAE(GaussianVAE):
    """Counts its losses in training mode; sends itself SIGTERM at the ``stop_at``-th."""

    calls = 0
    stop_at = 0

    def loss(self, x: Tensor) -> Tensor:
        if self.training:
            self.calls += 1
            if self.calls == self.stop_at:
                os.kill(os.getpid(), signal.SIGTERM)
        return super().loss(x)


def test_a_stop_request_ends_a_measurement_between_estimates() -> None:
    model = tiny_model(cls=CountingVAE)
    requests = iter([None, None, signal.SIGTERM])
    assert (
        measure_gradients(model, BATCH, 50, seed=0, stop_requested=lambda: next(requests)) is None
    )
    assert model.calls == 2


def test_sigterm_during_a_measurement_saves_and_the_resumed_run_is_exact(tmp_path: Path) -> None:
    straight = trainer(tmp_path / "straight", 2)
    expected = straight.fit()
    model = tiny_model(cls=CountingVAE)
    # steps 1-3 (calls 1-3), the 2 estimates after step 3 (4, 5), steps 4-6 (6-8), then
    # the first estimate after step 6 (epoch 2, batch 1) is call 9
    model.stop_at = 9
    interrupted = trainer(tmp_path / "run", 2, model=model)
    with pytest.raises(KeyboardInterrupt) as stop:
        interrupted.fit()
    assert getattr(stop.value, "signum", None) == signal.SIGTERM
    assert model.calls == 9  # the second estimate was not drawn
    state = load_checkpoint(tmp_path / "run" / "checkpoint.pt")
    assert (state["progress"]["epoch"], state["progress"]["step"]) == (1, 1)
    assert state["monitor"] == []  # abandoned, taken again on resume
    torch.manual_seed(123)
    resumed = trainer(tmp_path / "run", 2, model=tiny_model(seed=7))
    resumed.resume()
    history = resumed.fit()
    assert same_state(straight.model.state_dict(), resumed.model.state_dict())
    assert [r["gradients"] for r in history] == [r["gradients"] for r in expected]
