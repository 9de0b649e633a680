"""The training step under ``torch.compile``: exact resume, and an eager fallback.

Compiling with Inductor takes tens of seconds on a busy two-core machine, so
the trainer's own logic is tested with the ``aot_eager`` backend (Dynamo's
trace and AOTAutograd's forward and backward graphs, run without code
generation) and with backends that fail; the real compiler is what
``reparam vae --compile`` (below, where it is missing) and
``benchmarks/vae_speed.py`` use.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import torch
import torch._dynamo
from torch import Tensor

from reparam.data import present
from reparam.models import GaussianVAE
from reparam.training import TrainConfig, Trainer
from reparam.training._compiled import Backend, CompileUnavailable
from tests.compiled import unvalidated
from tests.mnist_files import synthetic_arrays
from tests.training.folders import trainer_folder
from tests.training.trainers import run_trainer

pytestmark = pytest.mark.filterwarnings("ignore:`torch.jit.script_method`:DeprecationWarning")

ARRAYS = synthetic_arrays()
TRAIN = ARRAYS["train-images-idx3-ubyte"]
TEST = present(ARRAYS["t10k-images-idx3-ubyte"], "binary", torch.Generator().manual_seed(0))
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def fresh_dynamo() -> Iterator[None]:
    """Each test compiles from scratch, with distribution validation as it was."""
    torch._dynamo.reset()
    with unvalidated():
        yield
    torch._dynamo.reset()


def trainer(path: Path, epochs: int, backend: Backend | None, new: bool = True) -> Trainer:
    run = trainer_folder(path, new)
    torch.manual_seed(0)
    model = GaussianVAE(input_dim=49, hidden=16, latent_dim=2)
    config = TrainConfig(epochs=epochs, batch_size=40, lr=1e-2, seed=5, target="binary")
    return run_trainer(run, model, config, TRAIN, TEST, progress_bar=False, compile_backend=backend)


def weights(t: Trainer) -> dict[str, Tensor]:
    return {k: v.clone() for k, v in t.model.state_dict().items()}


def test_a_compiled_run_resumes_exactly_and_equals_eager_up_to_rounding(tmp_path: Path) -> None:
    straight = trainer(tmp_path / "straight", 2, "aot_eager")
    history = straight.fit()
    assert straight.step_loss.is_compiled
    trainer(tmp_path / "split", 1, "aot_eager").fit()
    torch.manual_seed(12345)
    second = trainer(tmp_path / "split", 2, "aot_eager", new=False)
    second.resume()
    resumed = second.fit()
    for key, value in weights(straight).items():
        assert torch.equal(value, second.model.state_dict()[key]), key
    assert [r["train_loss"] for r in resumed] == [r["train_loss"] for r in history]
    eager = trainer(tmp_path / "eager", 2, None).fit()
    for a, b in zip(history, eager, strict=True):
        assert a["train_loss"] == pytest.approx(b["train_loss"], rel=1e-5)
        assert a["test_loss"] == pytest.approx(b["test_loss"], rel=1e-5)


def failing_backend(when: str) -> Callable[..., Any]:
    """A backend that cannot compile: raises at the first graph (``"first"``) or only
    at the second batch shape, the epoch's shorter last batch (``"last batch"``)."""
    calls = []

    def backend(gm: torch.fx.GraphModule, example_inputs: list[Tensor]) -> Callable[..., Any]:
        calls.append(gm)
        if when == "first" or len(calls) > 1:
            raise RuntimeError("no working C++ compiler")
        return gm.forward

    return backend


@pytest.mark.parametrize("when", ["first", "last batch"])
def test_a_failing_compiler_warns_once_and_trains_as_eagerly(tmp_path: Path, when: str) -> None:
    eager = trainer(tmp_path / "eager", 2, None)
    expected = eager.fit()
    with pytest.warns(CompileUnavailable, match="no working C.. compiler.*training eagerly") as got:
        failing = trainer(tmp_path / "failing", 2, failing_backend(when))
        history = failing.fit()
    assert len([w for w in got if w.category is CompileUnavailable]) == 1
    assert not failing.step_loss.is_compiled
    # the failed call was undone: the run equals the eager one bit for bit
    for key, value in weights(eager).items():
        assert torch.equal(value, failing.model.state_dict()[key]), key
    assert [r["train_loss"] for r in history] == [r["train_loss"] for r in expected]


def test_the_compiled_step_is_not_the_eager_one(tmp_path: Path) -> None:
    """The test above can fail: a backend that changes the numbers changes the run."""

    def scaled(gm: torch.fx.GraphModule, example_inputs: list[Tensor]) -> Callable[..., Any]:
        def run(*args: Tensor) -> Any:
            out = gm.forward(*args)
            return [o * 1.001 if isinstance(o, Tensor) and o.dim() == 0 else o for o in out]

        return run

    expected = trainer(tmp_path / "eager", 1, None).fit()
    history = trainer(tmp_path / "scaled", 1, scaled).fit()
    assert history[0]["train_loss"] != expected[0]["train_loss"]


@pytest.mark.slow
@pytest.mark.mnist
def test_cli_compile_without_a_compiler_warns_in_one_line(mnist_dir: Path, tmp_path: Path) -> None:
    argv = ["vae", "--data-dir", str(mnist_dir), "--run-dir", str(tmp_path / "run"), "--compile"]
    argv += ["--epochs", "1", "--train-size", "256", "--test-size", "64", "--eval-k", "0"]
    argv += ["--hidden", "16", "--latent-dim", "2", "--json"]
    env = {**os.environ, "CXX": str(tmp_path / "no-such-compiler"), "PYTHONWARNINGS": ""}
    env["PYTHONPATH"] = os.pathsep.join([str(REPO / "src"), env.get("PYTHONPATH", "")])
    done = subprocess.run(
        [sys.executable, "-m", "reparam", *argv],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    warnings = [line for line in done.stderr.splitlines() if "warning" in line.lower()]
    assert len(warnings) == 1, done.stderr
    assert "--compile" in warnings[0] and "training eagerly" in warnings[0]
    assert '"test_neg_elbo"' in done.stdout
