"""``iwae_bound``'s errors, and its shapes for batched and multivariate posteriors."""

from __future__ import annotations

import pytest
import torch
from torch import Tensor
from torch.distributions import Bernoulli, Independent, MultivariateNormal, Normal

from reparam import iwae_bound

X = torch.tensor([[0.5, -1.0], [2.0, 0.0], [1.0, 1.0]], dtype=torch.float64)


def log_joint(z: Tensor) -> Tensor:
    """``z ~ N(0, I)``, ``x | z ~ N(z, I)`` in two dimensions, three observations."""
    prior = Independent(Normal(torch.zeros_like(z), 1.0), 1).log_prob(z)
    return prior + Independent(Normal(z, 1.0), 1).log_prob(X)


def posteriors(loc: Tensor, scale: Tensor) -> dict[str, torch.distributions.Distribution]:
    return {
        "Independent": Independent(Normal(loc, scale), 1),
        "MultivariateNormal": MultivariateNormal(loc, scale_tril=torch.diag_embed(scale)),
    }


@pytest.mark.parametrize("kind", ["Independent", "MultivariateNormal"])
@pytest.mark.parametrize("gradient", ["stl", "dreg"])
def test_event_dimensions_at_the_exact_posterior(kind: str, gradient: str) -> None:
    """The exact posterior is ``N(x / 2, I / 2)``: the gradients vanish for every draw."""
    torch.manual_seed(0)
    loc = (X / 2).requires_grad_(True)
    scale = torch.full_like(X, 0.5**0.5).requires_grad_(True)
    bound = iwae_bound(log_joint, posteriors(loc, scale)[kind], 7, gradient)  # type: ignore[arg-type]
    assert bound.shape == (3,)
    log_px = Independent(Normal(torch.zeros_like(X), 2**0.5), 1).log_prob(X)
    torch.testing.assert_close(bound, log_px)  # every weight equals p(x)
    for grad in torch.autograd.grad(bound.sum(), [loc, scale]):
        assert grad.abs().max() < 1e-12


@pytest.mark.parametrize("gradient", ["standard", "stl", "dreg"])
def test_same_value_for_every_choice_on_the_same_draws(gradient: str) -> None:
    loc = torch.zeros_like(X, requires_grad=True)
    q = Independent(Normal(loc, 1.3), 1)
    torch.manual_seed(3)
    reference = iwae_bound(log_joint, q, 5, "standard")
    torch.manual_seed(3)
    torch.testing.assert_close(iwae_bound(log_joint, q, 5, gradient), reference)  # type: ignore[arg-type]


def test_dreg_without_gradients_is_just_the_bound() -> None:
    q = Normal(torch.zeros(3), 1.0)
    assert not iwae_bound(lambda z: -z.square(), q, 4, "dreg").requires_grad


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"num_samples": 0}, ValueError, "num_samples must be an integer k >= 1"),
        ({"num_samples": 2.0}, ValueError, "num_samples must be an integer k >= 1"),
        ({"gradient": "reinforce"}, ValueError, "gradient must be one of 'standard', 'stl'"),
    ],
)
def test_bad_arguments(kwargs: dict[str, object], error: type[Exception], message: str) -> None:
    q = Normal(torch.zeros(3), 1.0)
    with pytest.raises(error, match=message):
        iwae_bound(lambda z: -z.square(), q, **kwargs)  # type: ignore[arg-type]


def test_a_posterior_without_rsample() -> None:
    with pytest.raises(TypeError, match=r"needs a reparameterizable q.*Bernoulli"):
        iwae_bound(lambda z: z, Bernoulli(torch.tensor(0.3)), 2)


def test_a_log_joint_of_the_wrong_shape() -> None:
    q = Independent(Normal(torch.zeros(3, 2), 1.0), 1)
    with pytest.raises(ValueError, match=r"to log p\(x, z\) of shape \[4, 3\].*got \[4, 3, 2\]"):
        iwae_bound(lambda z: -z.square(), q, 4)
