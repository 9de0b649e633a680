"""A run folder is one only when its ``config.json`` says so; ``overwrite`` removes only what
a run writes; a full disk is one line and leaves no half-written run."""

from __future__ import annotations

import errno
import json
import os
from pathlib import Path

import pytest

import reparam.training.checkpoint
from reparam._files import no_space_left, write_atomically
from reparam.cli import main
from reparam.training import RunFolderError, new_run_folder
from reparam.training.run_folder import RUN_FILES

SMALL = ["--train-size", "256", "--test-size", "64", "--eval-k", "0", "--hidden", "16"]
RUN_CONFIG = {"format": 3, "command": "vae", "model": {}, "train": {}, "data": {}}


def files_under(folder: Path) -> dict[str, bytes]:
    return {
        str(path.relative_to(folder)): path.read_bytes()
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }


def one_line_error(capsys: pytest.CaptureFixture[str], *needles: str) -> str:
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1, err
    assert all(needle in err for needle in needles), err
    return err


def test_overwrite_of_a_project_with_a_config_json_is_refused_and_nothing_touched(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    project = tmp_path / "myproj"
    (project / "src").mkdir(parents=True)
    (project / "config.json").write_text('{"name":"app"}\n')
    (project / "src" / "main.py").write_text("precious\n")
    before = files_under(project)
    argv = ["vae", "--data-dir", str(tmp_path / "missing"), "--run-dir", str(project)]
    assert main([*argv, *SMALL, "--epochs", "1", "--overwrite"]) == 2
    one_line_error(capsys, f"refusing to overwrite {project}", "not a run folder")
    assert files_under(project) == before
    assert sorted(p.name for p in project.iterdir()) == ["config.json", "src"]


@pytest.mark.parametrize(
    "config",
    [
        '{"name": "app"}',
        '{"command": "vae", "model": {}, "train": {}, "data": {}}',  # no format
        '{"format": 3, "model": {}, "train": {}, "data": {}}',  # no command
        '{"format": true, "command": "vae"}',
        '{"format": 3, "command": ""}',
        "[1, 2]",
        "not json",
    ],
)
def test_only_a_config_that_says_it_is_a_run_may_be_overwritten(
    config: str, tmp_path: Path
) -> None:
    folder = tmp_path / "folder"
    folder.mkdir()
    (folder / "config.json").write_text(config)
    with pytest.raises(RunFolderError, match="not a run folder"):
        new_run_folder(folder, overwrite=True)
    assert (folder / "config.json").read_text() == config


def test_overwrite_removes_only_the_files_a_run_writes(tmp_path: Path) -> None:
    run = tmp_path / "run"
    (run / "analysis").mkdir(parents=True)
    (run / "config.json").write_text(json.dumps(RUN_CONFIG))
    for name in ("checkpoint.pt", "metrics.jsonl", "summary.json", "samples.png"):
        (run / name).write_text("old")
    (run / "checkpoint.pt.0123456789ab.tmp").write_text("unfinished")
    (run / "notes.txt").write_text("mine")
    (run / "analysis" / "plot.py").write_text("mine too")
    new_run_folder(run, overwrite=True)
    assert files_under(run) == {"analysis/plot.py": b"mine too", "notes.txt": b"mine"}


def test_a_write_on_a_full_disk_names_the_file_and_leaves_nothing(tmp_path: Path) -> None:
    target = tmp_path / "state.bin"
    target.write_bytes(b"old")

    def fill(handle: object) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    with pytest.raises(OSError) as error:
        write_atomically(target, fill)
    assert error.value.errno == errno.ENOSPC and error.value.filename == str(target)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["state.bin"]
    assert target.read_bytes() == b"old"


def test_a_full_disk_is_recognised_through_the_errors_it_caused() -> None:
    try:
        try:
            raise OSError(errno.ENOSPC, "No space left on device")
        except OSError as cause:
            raise RuntimeError(
                "[enforce fail at inline_container.cc:672] unexpected pos"
            ) from cause
    except RuntimeError as error:
        assert no_space_left(error)
    assert not no_space_left(RuntimeError("unexpected pos"))
    assert not no_space_left(OSError(errno.EACCES, "Permission denied"))


def disk_full(path: Path, content: bytes) -> None:
    """As ``torch.save`` fails on a full disk: a RuntimeError caused by ENOSPC."""
    try:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
    except OSError as cause:
        raise RuntimeError("[enforce fail at inline_container.cc:672] unexpected pos") from cause


@pytest.mark.mnist
def test_a_new_run_on_a_full_disk_is_one_line_and_leaves_no_folder(
    mnist_dir: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(reparam.training.checkpoint, "write_bytes_atomically", disk_full)
    run = tmp_path / "run"
    argv = ["vae", "--data-dir", str(mnist_dir), "--run-dir", str(run), *SMALL, "--epochs", "1"]
    assert main(argv) == 1
    one_line_error(capsys, "no space left on device")
    assert not run.exists()


@pytest.mark.mnist
def test_a_run_writes_only_its_own_files_and_a_resume_on_a_full_disk_keeps_the_checkpoint(
    mnist_dir: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    run = tmp_path / "run"
    argv = ["vae", "--data-dir", str(mnist_dir), "--run-dir", str(run), *SMALL, "--epochs", "1"]
    assert main([*argv, "--snr-every", "1", "--json"]) == 0
    written = {p.name for p in run.iterdir()} - {".lock"}
    assert written <= RUN_FILES and {"config.json", "checkpoint.pt", "gradients.png"} <= written
    capsys.readouterr()
    checkpoint = (run / "checkpoint.pt").read_bytes()
    monkeypatch.setattr(reparam.training.checkpoint, "write_bytes_atomically", disk_full)
    assert main(["vae", "--resume", str(run), "--epochs", "2", "--snr-every", "1"]) == 1
    one_line_error(capsys, "no space left on device")
    assert (run / "checkpoint.pt").read_bytes() == checkpoint


@pytest.mark.mnist
def test_eval_records_the_data_folder_it_read_from_the_environment(
    mnist_dir: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    run = tmp_path / "run"
    monkeypatch.setenv("REPARAM_DATA_DIR", str(mnist_dir))
    assert main(["vae", "--run-dir", str(run), *SMALL, "--epochs", "1", "--json"]) == 0
    assert json.loads((run / "config.json").read_text())["data"]["dir"] == str(mnist_dir)
    assert main(["vae", "eval", str(run), "--eval-k", "0", "--json"]) == 0
    summary = json.loads((run / "summary.json").read_text())
    assert summary["settings"]["data"]["dir"] == str(mnist_dir)
    capsys.readouterr()
