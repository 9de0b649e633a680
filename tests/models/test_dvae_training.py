"""End-to-end: a few steps of training on tiny data, through the trainer and the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from reparam.cli import main
from reparam.data.examples import ImageExamples
from reparam.models.dvae import DiscreteVAE
from reparam.runs import MetricsFile, new_run_folder
from reparam.training import TrainConfig, Trainer, evaluate


def synthetic_images(n: int, seed: int) -> torch.Tensor:
    """``n`` uint8 28x28 images: bright bars on a dark background."""
    generator = torch.Generator().manual_seed(seed)
    images = torch.zeros(n, 28, 28, dtype=torch.uint8)
    rows = torch.randint(4, 24, (n,), generator=generator)
    for i, row in enumerate(rows.tolist()):
        images[i, row : row + 3, 4:24] = 230
    return images


@pytest.mark.slow
@pytest.mark.parametrize(
    ("latent", "estimator"),
    [("bernoulli", "disarm"), ("categorical", "relax"), ("categorical", "gumbel-softmax")],
)
def test_training_lowers_the_loss(tmp_path: Path, latent: str, estimator: str) -> None:
    torch.manual_seed(0)
    model = DiscreteVAE(latent, estimator)
    test = (synthetic_images(64, seed=1).reshape(64, -1) > 128).float()
    config = TrainConfig(epochs=3, batch_size=32, lr=3e-3, target="binary")
    run = new_run_folder(tmp_path / "run")
    trainer = Trainer(
        model,
        ImageExamples(synthetic_images(256, seed=0), config.target),
        test,
        config,
        run.checkpoint,
        progress_bar=False,
        callbacks=[MetricsFile(run)],
    )
    history = trainer.fit()
    assert history[-1]["test_loss"] < history[0]["test_loss"]
    result = evaluate(model, test, k=20)
    assert result.neg_iw_bound is not None and result.neg_iw_bound <= result.neg_elbo + 1.0


@pytest.mark.slow
@pytest.mark.mnist
def test_cli_smoke_on_a_subset_of_mnist(
    tmp_path: Path, mnist_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = tmp_path / "run"
    code = main(
        [
            "dvae",
            "--latent",
            "categorical",
            "--estimator",
            "st-gumbel-softmax",
            "--anneal-rate",
            "1e-3",
            "--epochs",
            "1",
            "--train-size",
            "256",
            "--test-size",
            "64",
            "--eval-k",
            "5",
            "--data-dir",
            str(mnist_dir),
            "--run",
            str(run),
            "--json",
        ]
    )
    assert code == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["settings"]["train"]["target"] == "binary"
    assert summary["test_neg_iw_bound"] <= summary["test_neg_elbo"] + 1.0
    assert (run / "reconstructions.png").is_file() and (run / "samples.png").is_file()
    resume = ["dvae", "--resume", str(run), "--epochs", "2", "--eval-k", "0", "--json"]
    assert main([*resume, "--data-dir", str(mnist_dir)]) == 0
    assert len(json.loads(capsys.readouterr().out)["epochs"]) == 2


def test_cli_refuses_arm_for_categorical_codes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["dvae", "--latent", "categorical", "--estimator", "arm", "--run", str(tmp_path)])
    assert code == 2
    assert "supports Bernoulli" in capsys.readouterr().err
