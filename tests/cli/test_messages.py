"""One-line messages that say what is so: the unknown option, the saved default, where a
resume starts, what a path is, why a step runs eagerly, how SIGTERM ended the program."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import warnings
from pathlib import Path

import pytest
import torch

import reparam.cli
from reparam.cli import Parser, main
from reparam.models import DiscreteVAE, GaussianVAE
from reparam.training._compiled import CompileUnavailable, StepLoss
from reparam.training._interrupt import Stopped
from reparam.training.trainer import Progress, ShareLoss
from tests.conftest import REPO


def one_line(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1, err
    return err


def test_an_unknown_option_is_named(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as stop:
        main(["dvae", "--objective", "iwae"])
    assert stop.value.code == 2
    err = one_line(capsys)
    assert "unknown option --objective" in err and "ACTION" not in err


def fake_run(folder: Path, model: dict[str, object]) -> Path:
    folder.mkdir()
    config = {"format": 3, "command": "vae", "model": model, "train": {}, "data": {}}
    (folder / "config.json").write_text(json.dumps(config))
    (folder / "checkpoint.pt").write_bytes(b"not read before the options are compared")
    return folder


def test_a_resume_names_the_default_a_run_was_trained_with(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = fake_run(tmp_path / "run", {"latent_dim": 3})
    assert main(["vae", "--resume", str(run), "--posterior", "vmf"]) == 2
    err = one_line(capsys)
    assert "--posterior vmf differs from the run's normal (the default" in err and "None" not in err
    assert main(["vae", "--resume", str(run), "--latent-dim", "4"]) == 2
    assert "--latent-dim 4 differs from the run's saved 3" in one_line(capsys)
    assert main(["vae", "--resume", str(run), "--posterior", "normal"]) == 2  # as saved
    assert "--posterior" not in one_line(capsys)  # the checkpoint is what fails


def test_the_iwae_objective_names_only_the_options_given() -> None:
    with pytest.raises(ValueError) as error:
        GaussianVAE(objective="iwae", num_samples=2)
    assert "num_samples 2 (--num-samples)" in str(error.value)
    assert "pathwise" not in str(error.value) and "estimator" not in str(error.value).split(":")[0]


def test_a_resume_says_where_it_resumes() -> None:
    assert Progress(epoch=1).position() == "after epoch 1"
    assert Progress(epoch=1, step=275).position() == "in epoch 2 after batch 275"


def test_eval_of_a_file_says_it_is_not_a_folder(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "file").write_text("")
    for path in [tmp_path / "file", Path("/dev/null")]:
        if not path.exists():
            continue
        assert main(["vae", "eval", str(path)]) == 2
        assert f"run folder {path} exists but is not a folder" in one_line(capsys)


def test_relax_trains_eagerly_and_says_why_in_one_warning() -> None:
    model = DiscreteVAE(estimator="relax")
    assert "torch.autograd.grad" in str(model.eager_reason)
    assert DiscreteVAE(estimator="gumbel-softmax").eager_reason is None
    attempts: list[object] = []

    def backend(gm: torch.fx.GraphModule, inputs: object) -> object:
        attempts.append(gm)
        return gm.forward

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        step = StepLoss(ShareLoss(model), model, backend, torch.device("cpu"))
        step(torch.rand(4, 784).round())
    assert not step.is_compiled and attempts == []
    messages = [str(w.message) for w in caught if w.category is CompileUnavailable]
    assert len(messages) == 1 and "RELAX" in messages[0] and "not available" not in messages[0]


class TerminatedParser(Parser):
    def parse_args(self, *args: object, **kwargs: object) -> object:  # type: ignore[override]
        raise Stopped(signal.SIGTERM)


def test_sigterm_while_parsing_is_one_line_and_143(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(reparam.cli, "build_parser", lambda: TerminatedParser(prog="reparam"))
    assert main(["channel"]) == 143
    assert capsys.readouterr().err == "reparam: error: terminated (SIGTERM)\n"


# SIGTERM while torch is being imported, at start-up; and one second after the start
# (while importing on a busy machine, or in a long command).
WHILE_IMPORTING = """
import importlib.abc, os, signal, sys

class TerminateWhileImportingTorch(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name in ("torch", "torch.nn"):
            os.kill(os.getpid(), signal.SIGTERM)
        return None

sys.meta_path.insert(0, TerminateWhileImportingTorch())
sys.argv = ["reparam", "channel"]
import _reparam_entry
_reparam_entry.run()
"""
RUNNING = """
import os, signal, sys, threading
threading.Timer(1.0, lambda: os.kill(os.getpid(), signal.SIGTERM)).start()
sys.argv = ["reparam", "channel", "--steps", "100000000"]
import _reparam_entry
_reparam_entry.run()
"""


@pytest.mark.slow
@pytest.mark.parametrize("script", [WHILE_IMPORTING, RUNNING], ids=["importing", "running"])
def test_sigterm_at_any_moment_is_one_line_and_exit_143(script: str) -> None:
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, cwd=REPO
    )
    assert done.returncode == 143, done.stderr
    assert done.stderr == "reparam: error: terminated (SIGTERM)\n"
