"""A training run attacked as a hostile user would: one writer per folder, signals,
foreign or damaged folders, sizes that cannot fit, and errors that are bugs."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from reparam.cli import main
from reparam.training.run_lock import RunLock
from tests.training import launch

SMALL = ["--train-size", "256", "--test-size", "64", "--eval-k", "0", "--hidden", "16"]


def one_line_error(capsys: pytest.CaptureFixture[str], *needles: str) -> str:
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1, err
    assert all(needle in err for needle in needles), err
    return err


def vae(mnist_dir: Path, run: Path, *options: str) -> list[str]:
    return ["vae", "--data-dir", str(mnist_dir), "--run-dir", str(run), *SMALL, *options]


@pytest.mark.mnist
def test_a_folder_in_use_is_refused_naming_the_holder(
    mnist_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = tmp_path / "run"
    with RunLock.acquire(run):
        assert main(vae(mnist_dir, run, "--epochs", "1")) == 2
        one_line_error(capsys, "in use by process", str(os.getpid()))
        assert main([*vae(mnist_dir, run, "--epochs", "1"), "--overwrite"]) == 2
        one_line_error(capsys, "in use by process")
    assert main([*vae(mnist_dir, run, "--epochs", "1"), "--json"]) == 0  # the lock is gone
    capsys.readouterr()
    with RunLock.acquire(run):
        assert main(["vae", "--resume", str(run), "--epochs", "2"]) == 2
        one_line_error(capsys, "in use by process")
        assert main(["vae", "eval", str(run)]) == 2
        one_line_error(capsys, "in use by process")


@pytest.mark.slow
def test_the_lock_dies_with_its_process(tmp_path: Path) -> None:
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time; from reparam.training.run_lock import RunLock; "
            f"lock = RunLock.acquire({str(tmp_path)!r}); print('held', flush=True); time.sleep(60)",
        ],
        stdout=subprocess.PIPE,
        text=True,
        env=launch.loopback_env(),
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        with pytest.raises(ValueError, match=f"in use by process {holder.pid}"):
            RunLock.acquire(tmp_path)
    finally:
        holder.kill()
        holder.communicate(timeout=30)
    RunLock.acquire(tmp_path).release()  # no stale lock after a SIGKILL


@pytest.mark.slow
@pytest.mark.mnist
def test_sigterm_saves_and_exits_143_and_the_run_resumes(mnist_dir: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    argv = vae(mnist_dir, run, "--epochs", "30", "--threads", "1")
    argv = [a if a != "256" else "4000" for a in argv]
    process = launch.start([sys.executable, "-m", "reparam", *argv], tmp_path)
    try:
        deadline = time.monotonic() + launch.LIMIT
        metrics = run / "metrics.jsonl"
        while not (metrics.is_file() and metrics.read_text().strip()):
            assert process.poll() is None and time.monotonic() < deadline, process.stderr
            time.sleep(0.02)
        time.sleep(0.05)
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=launch.LIMIT)
    finally:
        launch.stop(process)
    assert process.returncode == 143, err
    assert "--resume" in out + err and "terminated (SIGTERM)" in err
    assert main(["vae", "--resume", str(run), "--epochs", "2", "--eval-k", "0"]) == 0


def test_sizes_that_cannot_fit_are_refused_before_the_folder_is_made(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = tmp_path / "run"
    sizes = (["--num-samples", "1000000"], ["--hidden", "100000000"], ["--latent-dim", "10**8"])
    for option in sizes:
        option = [option[0], str(eval(option[1]))]
        assert main(["vae", "--data-dir", "missing", "--run-dir", str(run), *option]) == 2
        one_line_error(capsys, "needs at least", "of memory")
    assert not run.exists()


@pytest.mark.mnist
def test_more_images_than_there_are_is_refused(
    mnist_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["vae", "--data-dir", str(mnist_dir), "--run-dir", str(tmp_path / "r")]
    assert main([*argv, "--train-size", "100000000"]) == 2
    one_line_error(capsys, "--train-size 100000000 is more than the 60000 images")
    assert not (tmp_path / "r").exists()


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["vae", "--run-dir", ""], "expected a path"),
        (["vae", "--run", ""], "expected a path"),
        (["vae", "--threads", "100000"], "threads is more than"),
        (["dvae", "--hidden", "512,,256"], "empty"),
        (["vae", "--seed", str(2**64)], "below 2**63"),
    ],
)
def test_bad_options_are_one_line_usage_errors(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    one_line_error(capsys, message)


@pytest.mark.parametrize("device", ["meta", "mps", "cuda:x", "tpu"])
def test_devices_that_cannot_train_are_one_line_errors(
    device: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["vae", "--device", device, "--data-dir", "x"]) == 2
    one_line_error(capsys, "--device", "unknown device")


@pytest.mark.mnist
def test_a_run_folder_inside_a_file_fails_before_training(
    mnist_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "file").write_text("not a folder")
    assert main(vae(mnist_dir, tmp_path / "file" / "run", "--epochs", "1")) == 2
    one_line_error(capsys, "cannot write in run folder")
    assert (tmp_path / "file").read_text() == "not a folder"


def fake_run(folder: Path, config: object) -> Path:
    folder.mkdir(parents=True)
    (folder / "config.json").write_text(json.dumps(config))
    torch.save({"format": 1}, folder / "checkpoint.pt")
    return folder


GOOD_CONFIG = {
    "command": "dvae",
    "model": {},
    "train": {"epochs": 1, "batch_size": 8, "lr": 0.001, "seed": 0, "target": "binary"},
    "data": {"train_size": None, "test_size": None, "dir": None},
}


def test_a_folder_of_another_command_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = fake_run(tmp_path / "dvae-run", GOOD_CONFIG)
    assert main(["vae", "eval", str(run)]) == 2
    one_line_error(capsys, "is a run of `reparam dvae`, not `reparam vae`")
    assert main(["vae", "--resume", str(run)]) == 2
    one_line_error(capsys, "is a run of `reparam dvae`")


@pytest.mark.parametrize(
    "change",
    [
        {"train": {"epochs": "many"}},
        {"train": {**GOOD_CONFIG["train"], "momentum": 0.9}},  # type: ignore[dict-item]
        {"command": "gan"},
        {"format": 99},
    ],
)
def test_a_config_of_the_wrong_shape_names_the_file(
    change: dict[str, object], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = fake_run(tmp_path / "run", {**GOOD_CONFIG, **change})
    assert main(["dvae", "eval", str(run)]) == 2
    one_line_error(capsys, str(run / "config.json"))


@pytest.mark.mnist
def test_a_checkpoint_without_its_keys_is_refused(
    mnist_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = tmp_path / "run"
    assert main([*vae(mnist_dir, run, "--epochs", "1"), "--json"]) == 0
    capsys.readouterr()
    from reparam.training import load_checkpoint, save_checkpoint

    state = load_checkpoint(run / "checkpoint.pt")
    del state["optimizer"]
    state.pop("format", None)
    save_checkpoint(state, run / "checkpoint.pt")
    assert main(["vae", "--resume", str(run), "--epochs", "2"]) == 2
    one_line_error(capsys, "lacks optimizer")
    del state["model"]
    save_checkpoint(state, run / "checkpoint.pt")
    assert main(["vae", "eval", str(run), "--eval-k", "0"]) == 2
    one_line_error(capsys, "has no model weights")


def test_a_value_error_from_a_bug_is_not_a_usage_error(monkeypatch: pytest.MonkeyPatch) -> None:
    import reparam.cli._training as training_cli

    def broken(*args: object, **kwargs: object) -> None:
        raise ValueError("a bug deep inside")

    monkeypatch.setattr(training_cli, "train", broken)
    with pytest.raises(ValueError, match="a bug deep inside"):
        main(["vae", "--data-dir", "x"])


def test_a_folder_that_cannot_be_written_is_one_line_before_training(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # root writes anywhere, so the refusal a read-only folder gives is made by hand
    import reparam.training.run_lock as run_lock

    def read_only(path: object, flags: int, mode: int = 0o777) -> int:
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr(run_lock.os, "open", read_only)
    with pytest.raises(ValueError, match=r"cannot write in run folder .*: Permission denied"):
        RunLock.acquire(tmp_path / "run")


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write into a read-only folder")
def test_a_read_only_folder_is_refused(tmp_path: Path) -> None:
    folder = tmp_path / "run"
    folder.mkdir()
    folder.chmod(0o555)
    try:
        with pytest.raises(ValueError, match="cannot write in run folder"):
            RunLock.acquire(folder)
    finally:
        folder.chmod(0o755)
