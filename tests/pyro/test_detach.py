"""``detach_parameters`` on Pyro's distribution classes, and ``iwae_bound`` with a Pyro ``q``."""

from __future__ import annotations

import pyro.distributions as pdist
import pytest
import torch
from torch.distributions import Distribution

from reparam import detach_parameters, iwae_bound
from reparam.pyro._sites import detach_site_distribution

LOC = torch.tensor([0.3, -0.2], dtype=torch.float64)


def cases(loc: torch.Tensor) -> dict[str, Distribution]:
    return {
        "Normal": pdist.Normal(loc, 1.5),
        "Independent": pdist.Normal(loc, 1.5).to_event(1),
        "expanded Independent": pdist.Normal(loc, 1.5).expand([3, 2]).to_event(1),
        "LogNormal": pdist.LogNormal(loc, 1.5),
        "Bernoulli": pdist.Bernoulli(logits=loc),
        "Gamma": pdist.Gamma(loc.exp(), 2.0),
        "Uniform": pdist.Uniform(loc, loc + 1.0),
    }


@pytest.mark.parametrize("name", list(cases(LOC)))
def test_pyro_classes_are_rebuilt_as_themselves(name: str) -> None:
    loc = LOC.clone().requires_grad_(True)
    dist = cases(loc)[name]
    copy = detach_parameters(dist)
    assert type(copy) is type(dist)
    z = dist.sample(torch.Size([4]))
    torch.testing.assert_close(copy.log_prob(z), dist.log_prob(z))
    assert not copy.log_prob(z).requires_grad


def test_pyro_mask_and_expanded_wrappers_in_a_site() -> None:
    loc = LOC.clone().requires_grad_(True)
    masked = pdist.Normal(loc, 1.5).mask(torch.tensor([True, False]))
    copy = detach_site_distribution(masked)
    z = masked.sample()
    torch.testing.assert_close(copy.log_prob(z), masked.log_prob(z))
    assert not copy.log_prob(z).requires_grad


def test_iwae_bound_dreg_with_a_pyro_to_event_guide() -> None:
    torch.manual_seed(0)
    loc = LOC.clone().requires_grad_(True)

    def log_joint(z: torch.Tensor) -> torch.Tensor:
        return pdist.Normal(0.0, 1.0).log_prob(z).sum(-1)

    bound = iwae_bound(log_joint, pdist.Normal(loc, 1.0).to_event(1), 8, "dreg")
    bound.backward()
    assert loc.grad is not None and bool(torch.isfinite(loc.grad).all())
