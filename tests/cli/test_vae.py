"""``reparam vae`` end to end on a small subset of real MNIST, and its bad inputs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from reparam.cli import main
from tests.images import png_size
from tests.mnist_files import write_synthetic


def run_json(capsys: pytest.CaptureFixture[str], argv: list[str]) -> dict:  # type: ignore[type-arg]
    code = main(argv)
    captured = capsys.readouterr()
    assert code == 0, captured.err
    return json.loads(captured.out)  # type: ignore[no-any-return]


@pytest.mark.slow
@pytest.mark.mnist
def test_train_eval_resume_and_refuse(
    mnist_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = tmp_path / "run"
    common = ["--data-dir", str(mnist_dir), "--eval-k", "8", "--json"]
    small = ["--train-size", "640", "--test-size", "200", "--latent-dim", "2", "--hidden", "64"]
    summary = run_json(capsys, ["vae", *common, *small, "--epochs", "1", "--run", str(run)])
    assert summary["settings"]["train"]["epochs"] == 1 and len(summary["epochs"]) == 1
    assert 100 < summary["test_neg_iw_bound"] < summary["test_neg_elbo"] < 600
    names = {p.name for p in run.iterdir()}
    assert {"config.json", "checkpoint.pt", "metrics.jsonl", "summary.json"} <= names
    for picture, smallest in [("reconstructions", 300), ("samples", 300), ("latent_space", 800)]:
        width, height = png_size(run / f"{picture}.png")
        assert width >= smallest and height >= 250, (picture, width, height)

    again = run_json(capsys, ["vae", "eval", str(run), *common])
    assert again["test_neg_elbo"] == summary["test_neg_elbo"]  # same seed, same numbers

    assert main(["vae", *common, *small, "--run", str(run)]) == 2
    assert "--resume" in capsys.readouterr().err
    assert main(["vae", "--resume", str(run), "--seed", "5", *common]) == 2
    assert "differs from the run's saved" in capsys.readouterr().err

    # the data folder is remembered by the run
    resumed = run_json(capsys, ["vae", "--resume", str(run), "--epochs", "2", *common[2:]])
    assert [row["epoch"] for row in resumed["epochs"]] == [1, 2]
    assert resumed["epochs"][0] == summary["epochs"][0]
    assert len((run / "metrics.jsonl").read_text().splitlines()) == 2


@pytest.mark.slow
@pytest.mark.mnist
def test_score_estimator_and_binary_target_run(
    mnist_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["vae", "--data-dir", str(mnist_dir), "--estimator", "score", "--target", "binary"]
    argv += ["--train-size", "256", "--test-size", "64", "--hidden", "32", "--eval-k", "0"]
    summary = run_json(capsys, [*argv, "--epochs", "1", "--run", str(tmp_path / "r"), "--json"])
    assert summary["test_neg_iw_bound"] is None and summary["test_neg_elbo"] > 0
    assert summary["settings"]["model"]["estimator"] == "score"


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        ("--batch-size", "0", "must be an integer >= 1"),
        ("--lr", "0", "must be > 0"),
        ("--lr", "-0.1", "must be > 0"),
        ("--lr", "nan", "expected a finite number"),
        ("--latent-dim", "0", "must be an integer >= 1"),
        ("--epochs", "two", "expected an integer"),
        ("--target", "color", "invalid choice"),
        ("--estimator", "magic", "invalid choice"),
    ],
)
def test_invalid_options_are_one_line_errors(
    option: str, value: str, message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["vae", option, value])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert message in err and option in err and len(err.strip().splitlines()) == 1


def test_bad_data_is_refused_before_anything_is_written(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = tmp_path / "run"
    assert main(["vae", "--data-dir", str(tmp_path / "missing"), "--run", str(run)]) == 2
    err = capsys.readouterr().err
    assert "does not exist" in err and "--download" in err and len(err.splitlines()) == 1
    write_synthetic(tmp_path / "fake")  # wrong checksums for MNIST
    assert main(["vae", "--data-dir", str(tmp_path / "fake"), "--run", str(run)]) == 2
    assert "checksum mismatch" in capsys.readouterr().err
    assert not run.exists()


def test_existing_folder_is_kept_when_data_is_bad(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.json").write_text("{}")
    argv = ["vae", "--data-dir", str(tmp_path / "missing"), "--run", str(run)]
    assert main(argv) == 2
    assert "already exists" in capsys.readouterr().err
    assert main([*argv, "--overwrite"]) == 2  # bad data: the old run is not deleted
    assert (run / "config.json").read_text() == "{}"
    assert main(["vae", "eval", str(tmp_path / "nothing")]) == 2
    assert "does not exist" in capsys.readouterr().err


@pytest.mark.mnist
def test_model_options_are_checked_before_the_run_folder_is_made(
    mnist_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = tmp_path / "run"
    argv = ["vae", "--data-dir", str(mnist_dir), "--run", str(run), "--estimator", "score-loo"]
    assert main(argv) == 2
    assert "needs at least 2 samples per example (--num-samples)" in capsys.readouterr().err
    assert not run.exists()
    with pytest.raises(SystemExit):  # a discrete-only estimator is not offered
        main(["vae", "--estimator", "gumbel-softmax"])
    assert "invalid choice" in capsys.readouterr().err


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_cuda_without_a_gpu_is_a_clear_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["vae", "--device", "cuda", "--data-dir", "x"]) == 2
    assert "no CUDA device" in capsys.readouterr().err
