"""The Python API checks what the command line checks, on construction, naming the argument;
the command line says the same thing through the same checks."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from reparam.cli import main
from reparam.training import TrainConfig
from reparam.training._checks import SettingsError, max_threads
from reparam.training.run import DataSettings, Execution, RunSettings, train

BAD: list[tuple[Callable[[], object], str]] = [
    (lambda: TrainConfig(epochs=1.5), "epochs"),  # type: ignore[arg-type]
    (lambda: TrainConfig(epochs="3"), "epochs"),  # type: ignore[arg-type]
    (lambda: TrainConfig(epochs=True), "epochs"),
    (lambda: TrainConfig(seed=1.5), "seed"),  # type: ignore[arg-type]
    (lambda: TrainConfig(seed=2**70), "seed"),
    (lambda: TrainConfig(seed=-1), "seed"),
    (lambda: TrainConfig(batch_size=64.0), "batch_size"),  # type: ignore[arg-type]
    (lambda: TrainConfig(lr=True), "lr"),
    (lambda: TrainConfig(lr="0.1"), "lr"),  # type: ignore[arg-type]
    (lambda: Execution(threads=100000), "threads"),
    (lambda: Execution(threads=max_threads() + 1), "threads"),
    (lambda: Execution(threads=0), "threads"),
    (lambda: Execution(eval_k=2.5), "eval_k"),  # type: ignore[arg-type]
    (lambda: Execution(eval_k=-1), "eval_k"),
    (lambda: Execution(checkpoint_every=1.5), "checkpoint_every"),  # type: ignore[arg-type]
    (lambda: Execution(monitor_every=0), "monitor_every"),
    (lambda: Execution(monitor_every=2, monitor_replicates=1), "monitor_replicates"),
    (lambda: Execution(monitor_replicates=5), "monitor_replicates"),
    (lambda: Execution(backend="mpi"), "backend"),
    (lambda: Execution(device="meta"), "device"),
    (lambda: Execution(compile="yes"), "compile"),  # type: ignore[arg-type]
    (lambda: RunSettings(train={"epochs": 1}), "train"),  # type: ignore[arg-type]
    (lambda: RunSettings(data={}), "data"),  # type: ignore[arg-type]
    (lambda: RunSettings(options=[("latent_dim", 2)]), "options"),  # type: ignore[arg-type]
    (lambda: DataSettings(train_size=True), "train_size"),
    (lambda: DataSettings(test_size=2.0), "test_size"),  # type: ignore[arg-type]
    (lambda: DataSettings(folder=""), "folder"),
]


@pytest.mark.parametrize(
    ("make", "argument"), BAD, ids=[f"{a}-{i}" for i, (_, a) in enumerate(BAD)]
)
def test_bad_settings_are_refused_on_construction_naming_the_argument(
    make: Callable[[], object], argument: str
) -> None:
    with pytest.raises(SettingsError) as error:
        make()
    assert str(error.value).startswith(argument), error.value
    assert error.value.arguments[0] == argument


def test_good_settings_pass_and_a_folder_path_is_kept_as_text(tmp_path: Path) -> None:
    TrainConfig(epochs=3, batch_size=64, lr=1, seed=2**63 - 1)
    Execution(threads=max_threads(), eval_k=0, monitor_every=5, monitor_replicates=2)
    assert DataSettings(folder=tmp_path).folder == str(tmp_path)  # type: ignore[arg-type]


SAVED: dict[str, Any] = {
    "format": 3,
    "command": "vae",
    "model": {},
    "train": {"epochs": 1},
    "data": {"dir": None, "train_size": None, "test_size": None},
}


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"model": []}, '"model" is not a JSON object'),
        ({"format": True}, "unknown format True"),
        ({"format": 1.0}, "unknown format 1.0"),
        ({"train": {"epochs": 1.5}}, "epochs must be an integer"),
    ],
)
def test_a_saved_run_of_the_wrong_shape_is_refused(change: dict[str, Any], reason: str) -> None:
    assert RunSettings.from_dict(SAVED).train.epochs == 1
    with pytest.raises(SettingsError, match=reason):
        RunSettings.from_dict({**SAVED, **change})


@pytest.mark.parametrize("run_dir", ["", "  ", None])
def test_an_empty_run_folder_name_is_refused_and_the_current_folder_kept(
    run_dir: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "config.json").write_text('{"format": 3, "command": "vae"}')
    (tmp_path / "notes.txt").write_text("precious")
    with pytest.raises(SettingsError, match="run_dir must name a folder"):
        train(RunSettings(train=TrainConfig(epochs=1)), run_dir, overwrite=True)
    assert sorted(os.listdir(tmp_path)) == ["config.json", "notes.txt"]


@pytest.mark.parametrize(
    ("argv", "make"),
    [
        (["--epochs", "0"], lambda: TrainConfig(epochs=0)),
        (["--batch-size", "0"], lambda: TrainConfig(batch_size=0)),
        (["--lr", "0"], lambda: TrainConfig(lr=0)),
        (["--seed", str(2**70)], lambda: TrainConfig(seed=2**70)),
        (["--threads", "100000"], lambda: Execution(threads=100000)),
        (["--eval-k", "-1"], lambda: Execution(eval_k=-1)),
        (["--checkpoint-every", "0"], lambda: Execution(checkpoint_every=0)),
        (["--snr-every", "0"], lambda: Execution(monitor_every=0)),
        (["--snr-replicates", "1"], lambda: Execution(monitor_every=1, monitor_replicates=1)),
        (["--train-size", "0"], lambda: DataSettings(train_size=0)),
    ],
)
def test_the_command_line_says_what_the_library_says(
    argv: list[str], make: Callable[[], object], capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SettingsError) as expected:
        make()
    with pytest.raises(SystemExit) as stop:
        main(["vae", *argv])
    assert stop.value.code == 2
    err = capsys.readouterr().err
    assert f"argument {argv[0]}: {expected.value.requirement()}" in err, err
    assert len(err.strip().splitlines()) == 1


@pytest.mark.parametrize(
    ("argv", "needles"),
    [
        (["--snr-replicates", "5"], ["--snr-replicates applies", "--snr-every is not set"]),
        (["--backend", "gloo"], ["--backend='gloo' applies to runs launched by torchrun"]),
        (["--backend", "nccl"], ["--backend='nccl' applies to runs launched by torchrun"]),
        (["--device", "meta"], ["--device: unknown device 'meta'"]),
    ],
)
def test_options_that_would_be_ignored_are_refused_before_any_folder(
    argv: list[str], needles: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = tmp_path / "run"
    base = ["vae", "--data-dir", str(tmp_path / "missing"), "--run-dir", str(run)]
    assert main([*base, *argv]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and all(n in err for n in needles), err
    assert not run.exists()
