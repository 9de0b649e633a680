"""``detach_parameters``: same log-densities, gradients only through the value."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch
from torch import Tensor
from torch.distributions import (
    Bernoulli,
    Beta,
    Binomial,
    Categorical,
    Chi2,
    Dirichlet,
    Distribution,
    Exponential,
    Gamma,
    Independent,
    Laplace,
    LogNormal,
    LowRankMultivariateNormal,
    MultivariateNormal,
    Normal,
    OneHotCategorical,
    StudentT,
    Uniform,
)

from reparam import detach_parameters
from reparam.distributions import (
    MixtureSameFamily,
    NotDetachableError,
    TruncatedNormal,
    VonMises,
    VonMisesFisher,
)

Make = Callable[[Tensor], Distribution]
"""Builds a distribution from one parameter vector ``theta`` of length 4."""


def unit(v: Tensor) -> Tensor:
    return v / v.norm(dim=-1, keepdim=True)


CASES: dict[str, Make] = {
    "Normal": lambda t: Normal(t[:2], t[2:].exp()),
    "Independent": lambda t: Independent(Normal(t[:2], t[2:].exp()), 1),
    "MultivariateNormal": lambda t: MultivariateNormal(
        t[:2], scale_tril=torch.diag(t[2:].exp()) + torch.tril(torch.ones(2, 2), -1) * t[0]
    ),
    "LowRankMultivariateNormal": lambda t: LowRankMultivariateNormal(
        t[:2], t[2:].reshape(2, 1), t[:2].exp()
    ),
    "Laplace": lambda t: Laplace(t[:2], t[2:].exp()),
    "StudentT": lambda t: StudentT(t[:2].exp() + 2, t[2:], t[:2].exp()),
    "Gamma": lambda t: Gamma(t[:2].exp(), t[2:].exp()),
    "Beta": lambda t: Beta(t[:2].exp(), t[2:].exp()),
    "LogNormal": lambda t: LogNormal(t[:2], t[2:].exp()),
    "VonMisesFisher": lambda t: VonMisesFisher(unit(t[:3]), t[3].exp() + 1),
    "VonMises": lambda t: VonMises(t[:2], t[2:].exp()),
    "TruncatedNormal": lambda t: TruncatedNormal(t[:2], t[2:].exp(), -1.0, 2.0),
    "MixtureSameFamily": lambda t: MixtureSameFamily(
        Categorical(logits=t[:2]), Independent(Normal(t[2:].reshape(2, 1), t[:2].exp()[:, None]), 1)
    ),
}


@pytest.mark.parametrize("name", list(CASES))
def test_same_log_prob_and_gradient_only_through_the_value(name: str) -> None:
    torch.manual_seed(0)
    theta = torch.tensor([0.3, -0.2, 0.1, 0.4], dtype=torch.float64, requires_grad=True)
    dist = CASES[name](theta)
    assert theta.grad is None
    z = dist.sample(torch.Size([5])).requires_grad_(True)
    copy = detach_parameters(dist)
    assert type(copy) is type(dist)
    assert (copy.batch_shape, copy.event_shape) == (dist.batch_shape, dist.event_shape)
    original, detached = dist.log_prob(z), copy.log_prob(z)
    torch.testing.assert_close(detached, original)
    grad_theta, grad_z = torch.autograd.grad(detached.sum(), [theta, z], allow_unused=True)
    assert grad_theta is None
    (expected_z,) = torch.autograd.grad(original.sum(), [z])
    torch.testing.assert_close(grad_z, expected_z)


def test_a_class_whose_constructor_does_not_take_its_parameters_gets_an_error() -> None:
    class Shifted(Normal):
        def __init__(self, center: Tensor) -> None:
            super().__init__(center + 1.0, torch.ones_like(center))

    with pytest.raises(NotDetachableError, match=r"Shifted.*detach_parameters\(self\)"):
        detach_parameters(Shifted(torch.tensor(0.0, requires_grad=True)))


def test_a_subclass_with_the_same_constructor_is_rebuilt_as_itself() -> None:
    class Tagged(Normal):
        pass

    loc = torch.tensor([0.3, -0.2], dtype=torch.float64, requires_grad=True)
    dist = Independent(Tagged(loc, 2.0), 1).expand(torch.Size([3]))
    copy = detach_parameters(dist)
    assert type(copy) is Independent and type(copy.base_dist) is Tagged
    z = dist.sample()
    torch.testing.assert_close(copy.log_prob(z), dist.log_prob(z))
    assert not copy.log_prob(z).requires_grad


# Classes without a rule whose constructor takes their arg_constraints by name.
BY_NAME: dict[str, Make] = {
    "Exponential": lambda t: Exponential(t.exp()),
    "Bernoulli(logits)": lambda t: Bernoulli(logits=t),
    "Bernoulli(probs)": lambda t: Bernoulli(probs=t.sigmoid()),
    "OneHotCategorical": lambda t: OneHotCategorical(logits=t),
    "Binomial": lambda t: Binomial(torch.tensor(5.0), logits=t),
    "Dirichlet": lambda t: Dirichlet(t.exp()),
    "Chi2": lambda t: Chi2(t.exp()),
    "Uniform": lambda t: Uniform(t, t + 1.0),
}


@pytest.mark.parametrize("name", list(BY_NAME))
def test_a_constructor_taking_its_parameters_by_name_rebuilds_them(name: str) -> None:
    torch.manual_seed(0)
    theta = torch.tensor([0.3, -0.2, 0.1, 0.4], dtype=torch.float64, requires_grad=True)
    dist = BY_NAME[name](theta)
    z = dist.sample(torch.Size([5]))
    dist.log_prob(z)  # caches the lazily derived alternative (probs or logits)
    copy = detach_parameters(dist)
    assert type(copy) is type(dist)
    assert (copy.batch_shape, copy.event_shape) == (dist.batch_shape, dist.event_shape)
    torch.testing.assert_close(copy.log_prob(z), dist.log_prob(z))
    assert not copy.log_prob(z).requires_grad


def test_of_two_alternatives_the_one_built_from_is_kept() -> None:
    logits = torch.tensor([40.0, -3.0], dtype=torch.float64)
    dist = Bernoulli(logits=logits)
    dist.probs  # noqa: B018 - derived lazily: sigmoid(40) rounds to 1
    copy = detach_parameters(dist)
    assert isinstance(copy, Bernoulli)
    torch.testing.assert_close(copy.logits, logits)


def test_a_class_of_ones_own_can_define_the_method() -> None:
    class Mine(Exponential):
        def detach_parameters(self) -> Distribution:
            return Exponential(self.rate.detach())

    rate = torch.tensor(2.0, requires_grad=True)
    copy = detach_parameters(Mine(rate))
    assert isinstance(copy, Exponential) and not copy.rate.requires_grad


def test_a_method_must_return_a_distribution() -> None:
    class Bad(Exponential):
        def detach_parameters(self) -> Tensor:
            return self.rate.detach()

    with pytest.raises(TypeError, match="not a Distribution"):
        detach_parameters(Bad(torch.tensor(2.0)))
