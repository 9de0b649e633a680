"""The Gaussian VAE's IWAE objective: its value, its gradients, and the options it refuses."""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import Tensor
from torch.distributions import Bernoulli, Independent, Normal, Uniform

from reparam.cli import build_parser, main
from reparam.cli._parser import UsageError
from reparam.cli._training import check_resume_options
from reparam.cli.vae import MODEL_KEYS
from reparam.models import GaussianVAE
from reparam.training.run import RunSettings
from tests.stats import z_threshold


def model_and_data(seed: int = 0, **options: Any) -> tuple[GaussianVAE, Tensor]:
    torch.manual_seed(seed)
    model = GaussianVAE(input_dim=12, hidden=8, latent_dim=3, **options).double()
    x = torch.bernoulli(torch.full((4, 12), 0.4, dtype=torch.float64))
    return model, x


def test_the_iwae_loss_is_minus_the_k_sample_bound_at_the_same_draws() -> None:
    model, x = model_and_data(objective="iwae", iw_k=7)
    torch.manual_seed(3)
    loss = model.loss(x)
    torch.manual_seed(3)
    q = model.posterior(x)
    z = q.rsample(torch.Size([7]))
    log_w = model.log_joint(z, x) - q.log_prob(z)
    torch.testing.assert_close(loss, -(torch.logsumexp(log_w, 0) - math.log(7)))
    prior = Independent(Normal(torch.zeros(3, dtype=torch.float64), 1.0), 1)
    likelihood = Independent(Bernoulli(logits=model.decode_logits(z)), 1)
    torch.testing.assert_close(model.log_joint(z, x), prior.log_prob(z) + likelihood.log_prob(x))


def test_in_evaluation_mode_every_objective_reports_the_elbo_estimate() -> None:
    elbo, x = model_and_data(objective="elbo")
    iwae, _ = model_and_data(objective="iwae", iw_k=50, iw_gradient="dreg")
    iwae.load_state_dict(elbo.state_dict())
    elbo.eval()
    iwae.eval()
    torch.manual_seed(4)
    expected = elbo.loss(x)
    torch.manual_seed(4)
    torch.testing.assert_close(iwae.loss(x), expected)
    iwae.train()  # in training, the tighter bound: a different value
    torch.manual_seed(4)
    assert not torch.allclose(iwae.loss(x), expected)


def gradients(model: GaussianVAE, x: Tensor, seed: int) -> dict[str, Tensor]:
    torch.manual_seed(seed)
    names, parameters = zip(*model.named_parameters(), strict=True)
    grads = torch.autograd.grad(model.loss(x).sum(), parameters)
    return dict(zip(names, grads, strict=True))


def test_the_decoder_gradient_is_the_same_for_every_choice_and_the_encoder_differs() -> None:
    by_choice = {}
    for gradient in ("standard", "stl", "dreg"):
        model, x = model_and_data(objective="iwae", iw_k=5, iw_gradient=gradient)
        by_choice[gradient] = gradients(model, x, seed=6)
    standard = by_choice["standard"]
    for gradient in ("stl", "dreg"):
        for name, value in by_choice[gradient].items():
            if name.startswith("decoder"):
                torch.testing.assert_close(value, standard[name])
            else:  # the check above could fail: these differ
                assert not torch.allclose(value, standard[name]), (gradient, name)


def encoder_gradient_samples(gradient: str, k: int, n: int) -> Tensor:
    model, x = model_and_data(objective="iwae", iw_k=k, iw_gradient=gradient)
    encoder = [p for name, p in model.named_parameters() if not name.startswith("decoder")]
    rows = []
    torch.manual_seed(11 if gradient == "standard" else 12)  # independent draws
    for _ in range(n):
        grads = torch.autograd.grad(model.loss(x).sum(), encoder)
        rows.append(torch.cat([g.reshape(-1) for g in grads]))
    return torch.stack(rows)


def mean_difference_z(a: Tensor, b: Tensor) -> Tensor:
    """z-scores of ``mean(a) - mean(b)`` per component, independent samples."""
    stderr = (a.var(0) / a.shape[0] + b.var(0) / b.shape[0]).sqrt()
    return (a.mean(0) - b.mean(0)) / stderr.clamp_min(1e-300)


def test_dreg_and_standard_encoder_gradients_have_the_same_mean_at_k_5() -> None:
    """Both are unbiased for grad L_5: a two-sample z-test per encoder component at a total
    false-failure rate of 1e-4 (Bonferroni); a DReG without the squared weights (STL,
    biased for k > 1) must fail the same test."""
    standard = encoder_gradient_samples("standard", 5, 600)
    dreg = encoder_gradient_samples("dreg", 5, 600)
    limit = z_threshold(1e-4, standard.shape[1])
    assert mean_difference_z(dreg, standard).abs().max() <= limit
    stl = encoder_gradient_samples("stl", 5, 600)
    assert mean_difference_z(stl, standard).abs().max() > limit


class CenteredUniform(Uniform):
    """A Uniform built from its centre: no rule, and no constructor taking low and high."""

    def __init__(self, center: Tensor) -> None:
        super().__init__(center - 0.5, center + 0.5)


class UniformPosteriorVAE(GaussianVAE):
    """Reparameterizable, but its posterior cannot be rebuilt with detached parameters."""

    def posterior(self, x: Tensor) -> Independent:
        return Independent(CenteredUniform(self.encode_mean(x) + 0.5), 1)


class BernoulliPosteriorVAE(GaussianVAE):
    def posterior(self, x: Tensor) -> Independent:
        return Independent(Bernoulli(logits=self.encode_mean(x)), 1)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"objective": "iwae", "iw_k": 0}, "iw_k (--iw-k) must be an integer >= 1"),
        ({"objective": "bound"}, "objective must be one of elbo, iwae"),
        ({"iw_k": 5}, "applies to the IWAE objective: add --objective iwae"),
        ({"iw_gradient": "dreg"}, "'dreg' (--iw-gradient) applies to the IWAE objective"),
        ({"objective": "iwae", "iw_gradient": "rebar"}, "iw_gradient must be one of"),
        ({"objective": "iwae", "estimator": "score"}, "apply to the ELBO objective"),
        ({"objective": "iwae", "num_samples": 2}, "apply to the ELBO objective"),
    ],
)
def test_options_that_do_not_fit_are_refused_on_construction(
    options: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        GaussianVAE(**options)


def test_posteriors_the_chosen_gradient_cannot_use_are_refused_on_construction() -> None:
    with pytest.raises(ValueError, match="'dreg' evaluates log q with the posterior's"):
        UniformPosteriorVAE(objective="iwae", iw_k=3, iw_gradient="dreg")
    with pytest.raises(ValueError, match=r"'stl' evaluates log q .* no rule for that class"):
        UniformPosteriorVAE(objective="iwae", iw_k=3, iw_gradient="stl")
    UniformPosteriorVAE(objective="iwae", iw_k=3)  # the standard gradient needs no detaching
    with pytest.raises(ValueError, match="needs a reparameterizable posterior"):
        BernoulliPosteriorVAE(objective="iwae", iw_k=3)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--iw-k", "0"], "--iw-k: must be an integer >= 1"),
        (["--iw-gradient", "magic"], "invalid choice"),
        (["--objective", "iwae", "--estimator", "score"], "apply to the ELBO objective"),
        (["--iw-k", "5"], "add --objective iwae"),
        (["--snr-replicates", "1"], "--snr-replicates: must be an integer >= 2"),
    ],
)
def test_bad_objective_options_are_one_line_errors_before_any_folder(
    argv: list[str], message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = tmp_path / "run"
    base = ["vae", "--data-dir", str(tmp_path / "missing"), "--run-dir", str(run)]
    try:
        code = main([*base, *argv])
    except SystemExit as stop:  # argparse's own refusals
        code = int(stop.code or 0)
    assert code == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1, err
    assert not run.exists()


def test_a_resumed_run_keeps_its_objective() -> None:
    saved = RunSettings(options={"objective": "iwae", "iw_k": 5, "iw_gradient": "dreg"})
    for argv, differs in [
        (["--iw-k", "5", "--objective", "iwae"], None),
        (["--iw-gradient", "stl"], "--iw-gradient stl differs from the run's saved dreg"),
        (["--iw-k", "50"], "--iw-k 50 differs from the run's saved 5"),
        (["--objective", "elbo"], "--objective elbo differs"),
    ]:
        args = build_parser().parse_args(["vae", "--resume", "run", *argv])
        if differs is None:
            check_resume_options(args, saved, MODEL_KEYS)
            continue
        with pytest.raises(UsageError, match=re.escape(differs)):
            check_resume_options(args, saved, MODEL_KEYS)
