"""``detach_parameters``: same log-densities, gradients only through the value."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch
from torch import Tensor
from torch.distributions import (
    Beta,
    Categorical,
    Distribution,
    Exponential,
    Gamma,
    Independent,
    Laplace,
    LogNormal,
    LowRankMultivariateNormal,
    MultivariateNormal,
    Normal,
    StudentT,
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


def test_a_class_without_a_rule_gets_an_error_naming_it_and_the_fix() -> None:
    with pytest.raises(NotDetachableError, match=r"Exponential.*detach_parameters\(self\)"):
        detach_parameters(Exponential(torch.tensor(1.0)))


def test_a_subclass_needs_its_own_rule() -> None:
    class Shifted(Normal):
        pass

    with pytest.raises(NotDetachableError, match="Shifted"):
        detach_parameters(Shifted(0.0, 1.0))


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
