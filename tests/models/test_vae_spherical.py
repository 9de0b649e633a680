"""The VAE with a von Mises-Fisher posterior (``posterior="vmf"``, the S-VAE): shapes,
the closed-form KL against Monte Carlo, float32 numerics over the concentrations
training meets, resume, pictures and the refusals of bad settings."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from reparam.distributions import HypersphericalUniform, VonMisesFisher
from reparam.estimators import UnsupportedDistributionError
from reparam.models import GaussianVAE
from reparam.models.vae import MIN_CONCENTRATION
from reparam.runs.pictures import lambert_equal_area, save_pictures
from reparam.training import TrainConfig, Trainer
from tests.images import png_size
from tests.stats import mean_z_scores, z_threshold
from tests.training.folders import trainer_folder
from tests.training.test_trainer import TEST, TRAIN, same_state, without_seconds
from tests.training.trainers import run_trainer


def spherical(dim: int = 3, dtype: torch.dtype = torch.float64, seed: int = 0) -> GaussianVAE:
    torch.manual_seed(seed)
    return GaussianVAE(input_dim=30, hidden=(16, 12), latent_dim=dim, posterior="vmf").to(dtype)


def pinned(model: GaussianVAE, direction: torch.Tensor, kappa: float) -> GaussianVAE:
    """Every input gets mean direction ``direction`` (unnormalised) and concentration ``kappa``."""
    with torch.no_grad():
        model.to_mean.weight.zero_()
        model.to_mean.bias.copy_(direction)
        model.to_concentration.weight.zero_()
        excess = kappa - MIN_CONCENTRATION  # softplus(b) = excess
        bias = excess + math.log(-math.expm1(-excess)) if excess > 0 else -40.0
        model.to_concentration.bias.fill_(bias)
    return model


def data(n: int = 6, dtype: torch.dtype = torch.float64) -> torch.Tensor:
    return torch.bernoulli(
        torch.full((n, 30), 0.3, dtype=dtype), generator=torch.Generator().manual_seed(9)
    )


def test_shapes_and_codes_on_the_sphere() -> None:
    model, x = spherical(dim=4), data()
    q = model.posterior(x)
    assert isinstance(q, VonMisesFisher) and q.batch_shape == (6,) and q.event_shape == (4,)
    assert bool((q.concentration >= MIN_CONCENTRATION).all())
    assert model.loss(x).shape == (6,) and model.log_weights(x, k=5).shape == (5, 6)
    for codes in (model.sample_prior(7), model.encode_mean(x), q.rsample((2,))):
        torch.testing.assert_close(
            codes.norm(dim=-1), torch.ones(codes.shape[:-1], dtype=codes.dtype)
        )
    assert model.decode(model.sample_prior(7)).shape == (7, 30)


def test_loss_is_reconstruction_at_the_same_sample_plus_the_closed_form_kl() -> None:
    model, x = spherical(), data()
    torch.manual_seed(1)
    loss = model.loss(x)
    torch.manual_seed(1)
    q = model.posterior(x)
    z = q.rsample(torch.Size([1]))
    nll = F.binary_cross_entropy(model.decode(z), x[None], reduction="none").sum(-1)[0]
    kl = torch.distributions.kl_divergence(q, HypersphericalUniform(3, dtype=torch.float64))
    torch.testing.assert_close(loss, nll + kl)


@pytest.mark.parametrize("kappa", [0.02, 1.0, 100.0, 1e4])
def test_kl_matches_monte_carlo_through_the_log_weights(kappa: float) -> None:
    # E_q[log q(z) - log p(z)] = KL: the IW path (vMF log_prob, uniform log p) against the
    # closed form used by the loss. z-test over 4000 draws at rate 1e-4 for the 6
    # examples; a KL without its log |S^(d-1)| term fails the same check.
    model = pinned(spherical(dim=5), torch.tensor([0.3, -1.0, 0.2, 0.5, 0.1]), kappa)
    x = data()
    q = model.posterior(x)
    torch.testing.assert_close(q.concentration, torch.full((6,), kappa, dtype=torch.float64))
    with torch.no_grad():
        torch.manual_seed(3)
        log_w = model.log_weights(x, k=4000)
        torch.manual_seed(3)
        z = q.sample(torch.Size([4000]))
        log_ratio = log_w + model.neg_log_likelihood(z, x)  # log p(z) - log q(z | x)
        kl = model.kl_to_prior(q)
    z_scores = mean_z_scores(-log_ratio, kl)
    assert bool((z_scores.abs() <= z_threshold(count=6)).all()), z_scores
    log_area = math.log(2) + 2.5 * math.log(math.pi) - math.lgamma(2.5)
    wrong = mean_z_scores(-log_ratio, kl - log_area)
    assert bool((wrong.abs() > z_threshold(count=6)).all())


@pytest.mark.parametrize("kappa", [MIN_CONCENTRATION, 1.0, 1e2, 1e4])
@pytest.mark.parametrize("where", ["pole", "near pole", "generic"])
def test_float32_training_step_is_finite_over_the_concentrations(kappa: float, where: str) -> None:
    # A float32 training step at concentrations from the floor (1e-2) to 1e4, with the
    # mean direction exactly at e_1 (the reflection's degenerate case), 1e-4 from it,
    # and generic: finite loss, KL, log_prob and gradients for every parameter.
    directions = {
        "pole": torch.tensor([1.0, 0.0, 0.0, 0.0]),
        "near pole": torch.tensor([1.0, 1e-4, 0.0, -1e-4]),
        "generic": torch.tensor([0.2, -0.7, 0.4, 0.5]),
    }
    model = pinned(spherical(dim=4, dtype=torch.float32), directions[where], kappa)
    x = data(dtype=torch.float32)
    q = model.posterior(x)
    torch.manual_seed(5)
    loss = model.loss(x)
    loss.sum().backward()
    assert bool(torch.isfinite(loss).all()) and bool(torch.isfinite(model.kl_to_prior(q)).all())
    assert bool(torch.isfinite(q.log_prob(q.sample((3,)))).all())
    assert bool(torch.isfinite(model.log_weights(x, k=3)).all())
    for name, p in model.named_parameters():
        assert p.grad is not None and bool(torch.isfinite(p.grad).all()), name
    assert model.to_concentration.bias.grad is not None


def test_score_estimator_gives_the_same_loss_value() -> None:
    model, x = spherical(), data()
    torch.manual_seed(0)
    scored = GaussianVAE(
        input_dim=30, hidden=(16, 12), latent_dim=3, estimator="score", posterior="vmf"
    ).double()
    scored.load_state_dict(model.state_dict())
    torch.manual_seed(4)
    a = model.loss(x)
    torch.manual_seed(4)
    b = scored.loss(x)
    torch.testing.assert_close(a, b)
    b.sum().backward()
    assert all(p.grad is not None for p in scored.parameters())


def test_bad_settings_are_refused_with_the_option_and_the_fix() -> None:
    with pytest.raises(ValueError, match=r"posterior 'vmf' needs latent_dim >= 2: "):
        GaussianVAE(latent_dim=1, posterior="vmf")
    with pytest.raises(UnsupportedDistributionError, match="choose one of: pathwise, score"):
        GaussianVAE(latent_dim=3, posterior="vmf", estimator="mvd")
    with pytest.raises(ValueError, match="posterior must be one of normal, vmf"):
        GaussianVAE(posterior="gamma")
    GaussianVAE(latent_dim=1, estimator="mvd")  # the Gaussian keeps both


def test_two_epochs_then_two_resumed_equal_four_straight(tmp_path: Path) -> None:
    def tiny(seed: int) -> GaussianVAE:
        torch.manual_seed(seed)
        return GaussianVAE(input_dim=49, hidden=16, latent_dim=3, posterior="vmf")

    def trainer(path: Path, epochs: int, model: GaussianVAE, new: bool = True) -> Trainer:
        run = trainer_folder(path, new)
        config = TrainConfig(epochs=epochs, batch_size=20, lr=1e-2, seed=5, target="binary")
        return run_trainer(run, model, config, TRAIN, TEST)

    straight = trainer(tmp_path / "straight", 4, tiny(0))
    history = straight.fit()
    first = trainer(tmp_path / "split", 2, tiny(0))
    first.fit()
    torch.manual_seed(12345)
    second = trainer(tmp_path / "split", 4, tiny(99), new=False)
    second.resume()
    assert without_seconds(history) == without_seconds(second.fit())
    assert same_state(straight.model.state_dict(), second.model.state_dict())
    assert not same_state(first.model.state_dict(), second.model.state_dict())


def test_lambert_projection_keeps_areas() -> None:
    # Uniform points on S^2 land uniformly on each disc of area 2 pi: the share inside
    # radius r is r^2 / 2. z-test at rate 1e-4 over 3 radii; a plain orthographic
    # projection (dropping z3) is rejected by the same check.
    points = F.normalize(torch.randn(40000, 3, generator=torch.Generator().manual_seed(0)), dim=-1)
    xy, _ = lambert_equal_area(points)
    radii = torch.tensor([0.5, 1.0, 1.3])
    inside = (xy.norm(dim=-1, keepdim=True) < radii).double()
    assert bool((mean_z_scores(inside, radii.square() / 2).abs() <= z_threshold(count=3)).all())
    flat = (points[:, :2].norm(dim=-1, keepdim=True) < radii / math.sqrt(2)).double()
    assert bool((mean_z_scores(flat, radii.square() / 2).abs() > z_threshold(count=3)).any())


@pytest.mark.parametrize(("dim", "expected"), [(3, "latent_sphere"), (2, None), (5, None)])
def test_pictures_are_real_pngs(tmp_path: Path, dim: int, expected: str | None) -> None:
    torch.manual_seed(0)
    model = GaussianVAE(input_dim=49, hidden=8, latent_dim=dim, posterior="vmf")
    labels = torch.arange(40) % 10
    paths = save_pictures(model, TEST, labels, tmp_path, shape=(7, 7))
    names = {p.stem for p in paths}
    assert names == {"reconstructions", "samples"} | ({expected} if expected else set())
    for path in paths:
        width, height = png_size(path)
        assert width >= 300 and height >= 250, (path, width, height)
