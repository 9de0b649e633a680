"""The Gaussian VAE's loss and log weights, and the bounds computed from them."""

from __future__ import annotations

import math

import torch
from torch.distributions import Independent, Normal, kl_divergence

from reparam.models import GaussianVAE
from reparam.training import mean_loss, mean_neg_iw_bound
from reparam.training.evaluation import iw_bounds
from tests.stats import assert_mean, mean_z_scores, z_threshold


def model_and_data(seed: int = 0) -> tuple[GaussianVAE, torch.Tensor]:
    torch.manual_seed(seed)
    model = GaussianVAE(input_dim=30, hidden=12, latent_dim=3).double()
    x = torch.bernoulli(torch.full((6, 30), 0.3, dtype=torch.float64))
    return model, x


def test_loss_is_reconstruction_at_the_same_sample_plus_closed_form_kl() -> None:
    model, x = model_and_data()
    torch.manual_seed(1)
    loss = model.loss(x)
    torch.manual_seed(1)
    q = model.posterior(x)
    z = q.rsample(torch.Size([1]))
    nll = torch.nn.functional.binary_cross_entropy(model.decode(z), x[None], reduction="none")
    prior = Independent(Normal(torch.zeros(3, dtype=torch.float64), 1.0), 1)
    expected = nll.sum(-1)[0] + kl_divergence(q, prior)
    torch.testing.assert_close(loss, expected)


def test_one_log_weight_is_the_elbo_estimate_at_the_same_sample() -> None:
    model, x = model_and_data()
    torch.manual_seed(2)
    log_w = model.log_weights(x, k=1)
    torch.manual_seed(2)
    bound = iw_bounds(model, x, k=1)
    torch.manual_seed(2)
    q = model.posterior(x)
    z = q.sample(torch.Size([1]))
    log_px_z = -torch.nn.functional.binary_cross_entropy_with_logits(
        model.decode_logits(z), x[None], reduction="none"
    ).sum(-1)
    log_pz = Normal(torch.zeros((), dtype=torch.float64), 1.0).log_prob(z).sum(-1)
    elbo_estimate = log_px_z + log_pz - q.log_prob(z)
    torch.testing.assert_close(log_w, elbo_estimate)
    torch.testing.assert_close(bound, elbo_estimate[0])


def test_log_weights_average_to_the_elbo_with_the_closed_form_kl() -> None:
    # E_q[log p(z) - log q(z|x)] = -KL(q || p): the log weights and the loss's
    # closed-form KL must agree (z-test over 20000 draws, rate 1e-4 over 6
    # examples). A KL missing its log-scale term is rejected by the same check.
    model, x = model_and_data()
    q = model.posterior(x)
    with torch.no_grad():
        torch.manual_seed(3)
        log_w = model.log_weights(x, k=20000)
        torch.manual_seed(3)
        z = q.sample(torch.Size([20000]))
        log_px_z = -model.neg_log_likelihood(z, x)
        kl = model.kl_to_prior(q)
    assert_mean(log_w - log_px_z, -kl)
    scale = q.base_dist.scale
    wrong_kl = 0.5 * (q.base_dist.loc.square() + scale.square() - 1.0).sum(-1)
    z_scores = mean_z_scores(log_w - log_px_z, -wrong_kl)
    assert (z_scores.abs() > z_threshold(count=6)).any()


def trained_clustered_model() -> tuple[GaussianVAE, torch.Tensor]:
    """A model trained briefly on four clusters, so that its codes matter."""
    torch.manual_seed(0)
    model = GaussianVAE(input_dim=30, hidden=12, latent_dim=3)
    prototypes = (torch.rand(4, 30) > 0.5) * 0.9 + 0.05
    x = torch.bernoulli(prototypes[torch.arange(200) % 4])
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(100):
        optimizer.zero_grad()
        model.loss(x).sum().backward()
        optimizer.step()
    return model, x


def test_importance_weighted_bound_is_tighter_than_the_elbo() -> None:
    # Per example, E[L_100] - E[L_1] >= 0 (Burda et al., 2016, theorem 1), and
    # here it is > 0. One-sided z-test at rate 1e-4 on the mean gap over 200
    # examples (E[L_1] from 50 draws each). A wrong "bound" averaging the log
    # weights instead of the weights has no gap and fails the same check.
    model, x = trained_clustered_model()
    torch.manual_seed(1)
    with torch.no_grad():
        elbo = torch.stack([iw_bounds(model, x, 1) for _ in range(50)]).mean(0)
        tight = iw_bounds(model, x, 100)
        wrong = model.log_weights(x, 100).double().mean(0)
    threshold = z_threshold(rate=2e-4)  # two-sided at 2e-4 = one-sided at 1e-4
    assert mean_z_scores((tight - elbo)[:, None], 0.0).item() > threshold
    assert mean_z_scores((wrong - elbo)[:, None], 0.0).item() < threshold
    torch.manual_seed(2)
    neg_elbo = mean_loss(model, x)
    bounds = [mean_neg_iw_bound(model, x, k, rows=512) for k in (1, 100)]
    assert abs(bounds[0] - neg_elbo) < 0.5 and bounds[1] < neg_elbo
    assert all(math.isfinite(b) for b in bounds)


def test_score_estimator_gives_the_same_loss_value() -> None:
    model, x = model_and_data()
    scored = GaussianVAE(input_dim=30, hidden=12, latent_dim=3, estimator="score").double()
    scored.load_state_dict(model.state_dict())
    torch.manual_seed(4)
    a = model.loss(x)
    torch.manual_seed(4)
    b = scored.loss(x)
    torch.testing.assert_close(a, b)
    b.sum().backward()
    assert all(p.grad is not None for p in scored.parameters())
