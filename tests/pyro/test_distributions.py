"""reparam's distributions in Pyro programs: ``pyro.sample``, shapes, plates, ``to_event``."""

from __future__ import annotations

import inspect
from collections.abc import Callable

import pyro
import pyro.distributions as pdist
import pytest
import torch
from pyro import poutine
from pyro.infer import SVI, Trace_ELBO
from torch import Tensor
from torch.distributions import Distribution

import reparam.distributions as rd
import reparam.pyro.distributions as rdist
from reparam import detach_parameters

Make = Callable[[Tensor], Distribution]
"""Builds a distribution from a parameter vector ``theta`` of length 3 (float64)."""


def unit(v: Tensor) -> Tensor:
    return v / v.norm(dim=-1, keepdim=True)


CASES: dict[str, Make] = {
    "VonMisesFisher": lambda t: rdist.VonMisesFisher(unit(t), t.exp().sum()),
    "VonMises": lambda t: rdist.VonMises(t[0], t[1].exp() + 1),
    "HypersphericalUniform": lambda t: rdist.HypersphericalUniform(3, dtype=t.dtype),
    "TruncatedNormal": lambda t: rdist.TruncatedNormal(t[0], t[1].exp(), -1.0, 2.0),
    "MixtureSameFamily": lambda t: rdist.MixtureSameFamily(
        pdist.Categorical(logits=t[:2]), pdist.Normal(t[1:], t[:2].exp())
    ),
}


def public_distributions() -> set[str]:
    return {
        name
        for name, value in vars(rd).items()
        if inspect.isclass(value) and issubclass(value, Distribution)
    }


def test_every_public_distribution_has_a_pyro_class() -> None:
    assert set(rdist.__all__) == public_distributions() == set(CASES)
    for name in rdist.__all__:
        assert issubclass(getattr(rdist, name), getattr(rd, name))


def theta() -> Tensor:
    return torch.tensor([0.3, -0.2, 0.5], dtype=torch.float64, requires_grad=True)


@pytest.mark.parametrize("name", list(CASES))
def test_sample_in_plates_with_to_event_and_expand(name: str) -> None:
    torch.manual_seed(0)
    t = theta()
    base = CASES[name](t)
    event = base.event_shape

    def program() -> Tensor:
        with pyro.plate("outer", 4, dim=-2), pyro.plate("inner", 2, dim=-1):
            return pyro.sample("z", CASES[name](t))

    trace = poutine.trace(program).get_trace()
    trace.compute_log_prob()
    site = trace.nodes["z"]
    assert site["value"].shape == torch.Size([4, 2, *event])
    assert site["log_prob"].shape == torch.Size([4, 2])
    assert type(site["fn"]) is type(base)  # expand keeps the Pyro class
    expected = getattr(rd, name).log_prob(site["fn"], site["value"])
    torch.testing.assert_close(site["log_prob"], expected)
    if base.has_rsample and name != "HypersphericalUniform":  # no parameters
        (grad,) = torch.autograd.grad(site["value"].sum(), [t], allow_unused=True)
        assert grad is not None, "pyro.sample dropped the reparameterized path"

    expanded = base.expand(torch.Size([3])).to_event(1)
    assert (expanded.batch_shape, expanded.event_shape) == (torch.Size(), torch.Size([3, *event]))
    assert expanded.log_prob(expanded.sample()).shape == torch.Size()
    assert base.expand_by(torch.Size([5])).sample().shape == torch.Size([5, *event])
    copy = detach_parameters(base)
    assert type(copy) is type(base)


def test_a_vmf_guide_trains_under_svi() -> None:
    pyro.clear_param_store()
    torch.manual_seed(0)
    target = unit(torch.tensor([1.0, 2.0, 2.0], dtype=torch.float64))
    prior_kappa = torch.tensor(20.0, dtype=torch.float64)

    def model() -> None:
        pyro.sample("z", rdist.VonMisesFisher(target, prior_kappa))

    def guide() -> None:
        direction = pyro.param("direction", torch.tensor([1.0, 0.0, 0.0], dtype=torch.float64))
        kappa = pyro.param(
            "kappa", torch.tensor(5.0, dtype=torch.float64), pdist.constraints.positive
        )
        pyro.sample("z", rdist.VonMisesFisher(unit(direction), kappa))

    svi = SVI(model, guide, pyro.optim.Adam({"lr": 0.05}), Trace_ELBO(num_particles=4))
    for _ in range(300):
        svi.step()
    learned = unit(pyro.param("direction").detach())
    assert float(learned @ target) > 0.95
    pyro.clear_param_store()
