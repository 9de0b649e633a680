"""The discrete VAE: honest losses, exact KL, importance weights, RELAX's control variate."""

from __future__ import annotations

import math

import pytest
import torch

from reparam.estimators import ESTIMATORS, UnsupportedDistributionError
from reparam.models.dvae import LATENTS, DiscreteVAE, estimators_for
from tests.stats import z_threshold

SUPPORTED = [(latent, name) for latent in LATENTS for name in estimators_for(latent)]
REFUSED = [
    (latent, name) for latent in LATENTS for name in ESTIMATORS if (latent, name) not in SUPPORTED
]


def images(n: int = 8) -> torch.Tensor:
    generator = torch.Generator().manual_seed(0)
    return (torch.rand(n, 784, generator=generator) < 0.2).float()


def test_the_estimator_lists_come_from_the_registry() -> None:
    assert ("categorical", "arm") in REFUSED and ("categorical", "disarm") in REFUSED
    assert ("bernoulli", "arm") in SUPPORTED and ("bernoulli", "pathwise") in REFUSED
    assert {name for _, name in SUPPORTED} >= {"score", "gumbel-softmax", "relax"}


@pytest.mark.parametrize(("latent", "estimator"), REFUSED)
def test_estimators_that_do_not_support_the_codes_are_refused(latent: str, estimator: str) -> None:
    match = "Bernoulli" if estimator in ("arm", "disarm") else None
    with pytest.raises(UnsupportedDistributionError, match=match):
        DiscreteVAE(latent, estimator)


@pytest.mark.parametrize(("latent", "estimator"), SUPPORTED)
def test_every_estimator_gives_gradients(latent: str, estimator: str) -> None:
    torch.manual_seed(0)
    model = DiscreteVAE(latent, estimator)
    loss = model.loss(images())
    assert loss.shape == (8,) and bool(torch.isfinite(loss).all())
    loss.sum().backward()
    for name, param in model.named_parameters():
        assert param.grad is not None and bool(torch.isfinite(param.grad).all()), name
    assert param.grad is not None
    assert model.encoder[0].weight.grad.abs().sum() > 0  # type: ignore[union-attr]


def test_reported_loss_is_an_honest_one_sample_neg_elbo() -> None:
    """The loss value (even for Gumbel-softmax) has the mean of ``-log_weights(x, 1)``."""
    torch.manual_seed(0)
    model = DiscreteVAE("categorical", "gumbel-softmax", temperature=5.0)
    x = images(1).expand(4000, 784)
    from_loss = model.loss(x).detach().double()
    with torch.no_grad():
        from_weights = -model.log_weights(x, 1)[0].double()
    diff = from_loss.mean() - from_weights.mean()
    stderr = math.sqrt((from_loss.var() + from_weights.var()).item() / 4000)
    assert abs(diff.item()) < z_threshold() * stderr  # two-sided z-test at 1e-4


def test_kl_is_exact() -> None:
    model = DiscreteVAE("bernoulli", "arm")
    with torch.no_grad():
        q = model.posterior(images(3))
        p = torch.sigmoid(q.base_dist.logits)  # type: ignore[attr-defined]
        expected = (p * torch.log(2 * p) + (1 - p) * torch.log(2 * (1 - p))).sum(-1)
        assert torch.allclose(model.kl(q), expected, atol=1e-4)


def test_annealing_steps_are_model_state() -> None:
    model = DiscreteVAE("bernoulli", "gumbel-softmax", temperature=1.0, anneal_rate=0.1)
    for _ in range(3):
        model.loss(images()).sum().backward()
    assert int(model.state_dict()["steps"]) == 3
    assert model.schedule() == pytest.approx(math.exp(-0.2))
    model.eval()
    with torch.no_grad():
        model.loss(images())
    assert int(model.steps) == 3  # evaluation does not advance the schedule


def test_relax_control_variate_gets_the_variance_gradient() -> None:
    """One backward of the loss gives the control variate ``d/dpsi sum g^2``."""
    torch.manual_seed(0)
    model = DiscreteVAE("bernoulli", "relax")
    x = images()
    state = torch.get_rng_state()
    model.loss(x).sum().backward()
    got = [p.grad.clone() for p in model.control_variate.parameters()]  # type: ignore[union-attr]
    torch.set_rng_state(state)
    q = model.posterior(x)
    from reparam.estimators import expectation

    surrogate = expectation(lambda z: model.neg_log_likelihood(z, x), q, model.estimator, 1)
    logits = q.base_dist.logits  # type: ignore[attr-defined]
    (g,) = torch.autograd.grad(surrogate.sum(), logits, create_graph=True)
    expected = torch.autograd.grad(g.pow(2).sum(), list(model.control_variate.parameters()))
    for a, b in zip(got, expected, strict=True):
        assert torch.allclose(a, b, rtol=1e-4, atol=1e-6)


def test_bad_options() -> None:
    with pytest.raises(ValueError, match="latent must be one of"):
        DiscreteVAE("gaussian")
    with pytest.raises(ValueError, match="samples >= 2"):
        DiscreteVAE("bernoulli", "score-loo", num_samples=1)
    with pytest.raises(ValueError, match="temperature"):
        DiscreteVAE("bernoulli", "gumbel-softmax", temperature=0.0)
