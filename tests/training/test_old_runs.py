"""Run folders of earlier versions resume and evaluate: their ``config.json`` is read
under today's names (format 3 renamed the model option ``samples`` to ``num_samples``)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from reparam.cli import build_parser, main
from reparam.cli._parser import UsageError
from reparam.cli._training import check_resume_options
from reparam.cli.dvae import MODEL_KEYS
from reparam.runs import (
    DataSettings,
    Execution,
    RunSettings,
    evaluate_run,
    read_settings,
    resume,
    train,
)
from reparam.runs.settings import FORMAT
from reparam.training import TrainConfig
from reparam.training._checks import SettingsError

OPTIONS = {"latent": "bernoulli", "estimator": "score-loo", "num_samples": 3}
"""Three samples, not the estimator's default two: a lost option changes the run."""


def old_style(config: dict[str, Any], version: int) -> dict[str, Any]:
    """``config`` as a version before format 3 wrote it: ``samples``, format 2 or none."""
    model = {("samples" if k == "num_samples" else k): v for k, v in config["model"].items()}
    old = {**config, "model": model, "format": version}
    return old if version == 2 else {k: v for k, v in old.items() if k != "format"}


def settings_dict(version: int) -> dict[str, Any]:
    train = TrainConfig(epochs=1, target="binary")  # as `reparam dvae` sets it
    new = RunSettings("dvae", OPTIONS, train, DataSettings(None, 64, 16))
    return old_style(new.to_dict(), version)


@pytest.mark.parametrize("version", [1, 2])
def test_an_old_config_is_read_under_the_new_name(version: int) -> None:
    saved = settings_dict(version)
    assert saved["model"]["samples"] == 3 and "num_samples" not in saved["model"]
    settings = RunSettings.from_dict(saved)
    assert dict(settings.options) == OPTIONS
    assert settings.build_model().num_samples == 3
    assert settings.to_dict()["format"] == FORMAT == 3
    assert settings.to_dict()["model"]["num_samples"] == 3


def test_the_old_name_in_a_new_config_is_refused() -> None:
    saved = {**settings_dict(2), "format": FORMAT}
    with pytest.raises(SettingsError, match="samples"):
        RunSettings.from_dict(saved).build_model()


def test_resuming_an_old_run_compares_options_under_the_new_name() -> None:
    saved = RunSettings.from_dict(settings_dict(2))
    for option in ("--num-samples", "--samples"):  # the old spelling stays an alias
        args = build_parser().parse_args(["dvae", "--resume", "run", option, "3"])
        check_resume_options(args, saved, MODEL_KEYS)
    args = build_parser().parse_args(["dvae", "--resume", "run", "--samples", "4"])
    with pytest.raises(UsageError, match="--num-samples 4 differs from the run's saved 3"):
        check_resume_options(args, saved, MODEL_KEYS)


@pytest.mark.mnist
@pytest.mark.parametrize("version", [1, 2])
def test_an_old_run_folder_resumes_and_evaluates_as_a_new_one_does(
    version: int, mnist_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    quiet = Execution(threads=1, eval_k=4, progress_bar=False, log=lambda _: None)
    config = TrainConfig(epochs=1, batch_size=32, target="binary")
    settings = RunSettings("dvae", OPTIONS, config, DataSettings(str(mnist_dir), 64, 32))
    train(settings, tmp_path / "new", execution=quiet)
    shutil.copytree(tmp_path / "new", tmp_path / "old")
    saved = tmp_path / "old" / "config.json"
    written = old_style(json.loads(saved.read_text()), version)
    saved.write_text(json.dumps(written))

    assert read_settings(tmp_path / "old") == read_settings(tmp_path / "new")
    old = resume(tmp_path / "old", epochs=2, execution=quiet)
    new = resume(tmp_path / "new", epochs=2, execution=quiet)
    assert [e["train_loss"] for e in old["epochs"]] == [e["train_loss"] for e in new["epochs"]]
    assert old["test_neg_elbo"] == new["test_neg_elbo"]
    assert old["settings"]["model"]["num_samples"] == 3
    old, new = (evaluate_run(tmp_path / run, execution=quiet) for run in ("old", "new"))
    assert old["test_neg_iw_bound"] == new["test_neg_iw_bound"]
    assert json.loads(saved.read_text()) == written  # the old file is left as it was
    argv = ["dvae", "--resume", str(tmp_path / "old"), "--samples", "3", "--epochs", "3"]
    assert main([*argv, "--eval-k", "0", "--threads", "1", "--json"]) == 0
    assert len(json.loads(capsys.readouterr().out)["epochs"]) == 3
