"""``rsample`` of this package's distributions inside ``torch.compile(fullgraph=True)``.

TruncatedNormal, MixtureSameFamily (univariate and diagonal-Gaussian components)
and HypersphericalUniform trace without a host read and compile with Inductor to
eager's samples and gradients from the same seed (float64, up to rounding).
VonMises and VonMisesFisher do not compile (their rejection samplers loop until
every draw is accepted, a count only the data decide; see the package docstring).
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch
from torch import Tensor
from torch.distributions import Categorical, Distribution, Independent, Normal, kl_divergence

from reparam.distributions import (
    HypersphericalUniform,
    MixtureSameFamily,
    TruncatedNormal,
    VonMises,
    VonMisesFisher,
)
from tests.compiled import host_reads, values_and_gradients

# Torch's own: Inductor imports a deprecated part of torch.jit, and Dynamo, tracing
# ``Function.apply``, instantiates the Function (the library calls it on the class).
pytestmark = [
    pytest.mark.filterwarnings("ignore:`torch.jit.script_method`:DeprecationWarning"),
    pytest.mark.filterwarnings("ignore:.*should not be instantiated:DeprecationWarning"),
]

DTYPE = torch.float64
CLOSE = {"rtol": 1e-10, "atol": 1e-12}

_CASES: dict[str, Callable[[Tensor], Distribution]] = {
    "TruncatedNormal": lambda a: TruncatedNormal(a, torch.exp(a), -1.0, 2.0),
    "MixtureSameFamily(Normal)": lambda a: MixtureSameFamily(
        Categorical(logits=a), Normal(a, torch.exp(-a))
    ),
    "MixtureSameFamily(Independent(Normal))": lambda a: MixtureSameFamily(
        Categorical(logits=a), Independent(Normal(torch.outer(a, a), torch.ones(3, 3)), 1)
    ),
    "HypersphericalUniform": lambda a: HypersphericalUniform(3, dtype=DTYPE),
}


def _moment(name: str) -> Callable[[Tensor], Tensor]:
    make = _CASES[name]

    def moment(a: Tensor) -> Tensor:
        x = make(a).rsample((4,))
        return ((x - a.sum()) ** 2).reshape(-1)[:4]  # four numbers, all depending on a

    return moment


def _all(a: Tensor) -> Tensor:
    return torch.stack([_moment(name)(a) for name in _CASES])


def _param() -> Tensor:
    return torch.tensor([0.3, -0.2, 0.5], dtype=DTYPE, requires_grad=True)


@pytest.mark.parametrize("name", list(_CASES))
def test_rsample_traces_without_host_reads(name: str) -> None:
    assert host_reads(_moment(name), _param()) == []


def _von_mises_fisher_loss(a: Tensor) -> Tensor:
    """rsample and KL of a VAE-like posterior, over every regime of the sampler."""
    loc = torch.nn.functional.normalize(torch.stack([a, 2 * a, a + 1.0], dim=-1), dim=-1)
    q = VonMisesFisher(loc, torch.exp(20 * a) * 30.0, validate_args=False)
    kl = kl_divergence(q, HypersphericalUniform(3, dtype=DTYPE))
    return (q.rsample((4,)) ** 2).sum() + kl.sum()


def _von_mises_moment(a: Tensor) -> Tensor:
    return VonMises(a, torch.exp(20 * a) * 30.0, validate_args=False).rsample((4,)).sin().sum()


@pytest.mark.parametrize("fn", [_von_mises_fisher_loss, _von_mises_moment])
def test_von_mises_families_trace_into_one_graph_without_host_reads(
    fn: Callable[[Tensor], Tensor],
) -> None:
    assert host_reads(fn, _param()) == []


def test_compiled_rsample_equals_eager() -> None:
    compiled = values_and_gradients(_all, [_param()], seed=3, compiled=True)
    eager = values_and_gradients(_all, [_param()], seed=3, compiled=False)
    for name, got, want in zip(_CASES, compiled, eager, strict=True):
        torch.testing.assert_close(got, want, **CLOSE, msg=lambda m, name=name: f"{name}: {m}")
