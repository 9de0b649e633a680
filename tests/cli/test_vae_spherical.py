"""``reparam vae --posterior vmf`` on a small subset of real MNIST, and its bad inputs."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from reparam.cli import main
from reparam.models import GaussianVAE
from reparam.runs import DataSettings, Execution, RunSettings, train
from reparam.training import TrainConfig
from tests.cli.test_vae import run_json
from tests.images import png_size
from tests.mnist_files import md5

SMALL = ["--train-size", "256", "--test-size", "64", "--hidden", "16", "--threads", "1"]


def one_line_error(capsys: pytest.CaptureFixture[str], *needles: str) -> str:
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1, err
    assert all(needle in err for needle in needles), err
    return err


def files(folder: Path) -> dict[str, str]:
    """The run's files (not its lock, which names the last process) and their checksums."""
    return {p.name: md5(p) for p in folder.iterdir() if p.is_file() and p.name != ".lock"}


@pytest.mark.slow
@pytest.mark.mnist
def test_train_json_pictures_eval_and_resume(
    mnist_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = tmp_path / "run"
    common = ["--data-dir", str(mnist_dir), "--eval-k", "8", "--json"]
    argv = ["vae", "--posterior", "vmf", "--latent-dim", "3", *SMALL, *common]
    summary = run_json(capsys, [*argv, "--epochs", "1", "--run-dir", str(run)])
    assert summary["settings"]["model"]["posterior"] == "vmf"
    assert 100 < summary["test_neg_iw_bound"] < summary["test_neg_elbo"] + 5 < 800
    width, height = png_size(run / "latent_sphere.png")
    assert width >= 800 and height >= 400
    again = run_json(capsys, ["vae", "eval", str(run), *common])
    assert again["test_neg_elbo"] == summary["test_neg_elbo"]
    resumed = run_json(capsys, ["vae", "--resume", str(run), "--epochs", "2", *common])
    assert [row["epoch"] for row in resumed["epochs"]] == [1, 2]
    assert resumed["epochs"][0] == summary["epochs"][0]


@pytest.mark.mnist
@pytest.mark.parametrize(
    ("options", "needles"),
    [
        (["--latent-dim", "1"], ["--latent-dim", "sphere"]),
        (["--latent-dim", "3", "--estimator", "mvd"], ["--posterior vmf", "pathwise, score"]),
    ],
)
def test_bad_settings_are_one_line_errors_before_anything_is_written(
    mnist_dir: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    options: list[str],
    needles: list[str],
) -> None:
    run = tmp_path / "run"
    argv = ["vae", "--posterior", "vmf", *options, "--data-dir", str(mnist_dir), *SMALL]
    assert main([*argv, "--run-dir", str(run)]) == 2
    one_line_error(capsys, *needles)
    assert not run.exists()
    run.mkdir()
    (run / "config.json").write_text("{}")
    assert main([*argv, "--run-dir", str(run), "--overwrite"]) == 2  # the old run is kept
    one_line_error(capsys, *needles)
    assert (run / "config.json").read_text() == "{}"


@pytest.mark.mnist
def test_a_checkpoint_of_the_other_posterior_is_refused_by_name(
    mnist_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Two folders mixed up: the vMF run's checkpoint replaced by the Gaussian run's.
    quiet = Execution(threads=1, eval_k=0, progress_bar=False, log=lambda _: None)
    data = DataSettings(str(mnist_dir), 128, 32)
    for posterior in ("normal", "vmf"):
        options = {"latent_dim": 3, "hidden": 16, "posterior": posterior}
        settings = RunSettings("vae", options, TrainConfig(epochs=1), data)
        train(settings, tmp_path / posterior, execution=quiet)
    shutil.copy(tmp_path / "normal" / "checkpoint.pt", tmp_path / "vmf" / "checkpoint.pt")
    before = files(tmp_path / "vmf")
    needle = "the checkpoint has a --posterior normal model, the settings say vmf"
    assert main(["vae", "eval", str(tmp_path / "vmf"), "--eval-k", "0"]) == 2
    one_line_error(capsys, needle)
    assert main(["vae", "--resume", str(tmp_path / "vmf"), "--epochs", "2"]) == 2
    one_line_error(capsys, needle)
    assert files(tmp_path / "vmf") == before
    saved = json.loads((tmp_path / "vmf" / "config.json").read_text())
    assert saved["model"]["posterior"] == "vmf"


def test_the_model_names_the_posterior_of_foreign_weights() -> None:
    normal = GaussianVAE(input_dim=4, hidden=3, latent_dim=3)
    vmf = GaussianVAE(input_dim=4, hidden=3, latent_dim=3, posterior="vmf")
    assert vmf.explain_weights(normal.state_dict().keys()) == (
        "the checkpoint has a posterior='normal' model, the settings say vmf"
    )
    assert normal.explain_weights(vmf.state_dict().keys()) == (
        "the checkpoint has a posterior='vmf' model, the settings say normal"
    )
    assert vmf.explain_weights(vmf.state_dict().keys()) is None
    assert vmf.explain_weights(["encoder.weight"]) is None


@pytest.mark.slow
@pytest.mark.mnist
def test_a_short_training_run_lowers_the_loss(
    mnist_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["vae", "--posterior", "vmf", "--latent-dim", "5", "--data-dir", str(mnist_dir)]
    argv += ["--train-size", "2000", "--test-size", "500", "--hidden", "128"]
    argv += ["--target", "binary", "--eval-k", "0", "--epochs", "4", "--threads", "1"]
    summary = run_json(capsys, [*argv, "--run-dir", str(tmp_path / "r"), "--json"])
    losses = [row["test_loss"] for row in summary["epochs"]]
    assert losses[-1] < losses[0] - 10, losses
    assert summary["test_neg_elbo"] < 250
