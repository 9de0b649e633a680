"""Reading a run's ``config.json``: a damaged file is named, with what is wrong."""

from __future__ import annotations

from pathlib import Path

import pytest

from reparam.cli import main
from reparam.runs import RunFolder, RunFolderError, new_run_folder

GOOD = {"command": "vae", "model": {"latent_dim": 2}, "train": {"epochs": 1}, "data": {}}


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"", r"not valid JSON \(Expecting value at line 1, column 1\)"),
        (b'{"model": {}, "train": {,}', r"not valid JSON \(.* at line 1, column 25\)"),
        (b"\xff\xfe\x00garbage", r"not UTF-8 text \(byte 0\)"),
        (b"[1, 2]", "holds a JSON array, not an object"),
        (b'{"model": {}, "train": {}}', 'has no "data" section'),
        (b'{"model": {}, "train": 3, "data": {}}', '"train" section is a JSON number, not an'),
        (b'{"model": null, "train": {}, "data": {}}', '"model" section is a JSON null'),
    ],
    ids=["empty", "garbage", "binary", "array", "no-section", "number", "null"],
)
def test_a_damaged_config_names_the_file_and_the_problem(
    tmp_path: Path, content: bytes, reason: str
) -> None:
    run = RunFolder(tmp_path)
    run.config.write_bytes(content)
    with pytest.raises(RunFolderError, match=reason) as error:
        run.read_config()
    message = str(error.value)
    assert message.startswith(f"{run.config} holds the run's settings but ")
    assert "restore it" in message


def test_a_good_config_reads_back(tmp_path: Path) -> None:
    run = new_run_folder(tmp_path / "run")
    run.write_json(run.config, GOOD)
    assert run.read_config() == GOOD


def test_a_missing_config_is_named(tmp_path: Path) -> None:
    with pytest.raises(RunFolderError, match=r"config\.json is missing"):
        RunFolder(tmp_path).read_config()


def test_resume_with_a_garbage_config_is_a_one_line_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.json").write_text("{ garbage")
    (run / "checkpoint.pt").write_bytes(b"")
    assert main(["vae", "--resume", str(run)]) == 2
    error = capsys.readouterr().err
    assert f"{run / 'config.json'} holds the run's settings but it is not valid JSON" in error
    assert "Traceback" not in error
