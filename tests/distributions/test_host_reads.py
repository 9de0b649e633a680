"""No host reads in any distribution's sampling, density, entropy or KL (validation off).

Each case builds a distribution from leaf parameters with ``validate_args=False``
and runs, under :class:`tests.host_reads.HostReads`: ``rsample`` and a backward
pass through it, ``sample``, ``log_prob`` with its backward pass, ``entropy``
and the registered KLs where the family has them. The concentrations are spread
over every regime of the samplers (series, quadrature, limit law) in one batch,
so that a branch chosen on the host anywhere would show. A deliberately
host-reading sampler must be caught, so the harness itself cannot pass vacuously.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import pytest
import torch
from torch import Tensor
from torch.distributions import Categorical, Distribution, Independent, Normal, kl_divergence

from reparam.distributions import (
    HypersphericalUniform,
    MixtureSameFamily,
    RejectionLimitError,
    TruncatedNormal,
    VonMises,
    VonMisesFisher,
)
from reparam.distributions._special.rejection import raise_if_rejected, rejection_sample
from tests.host_reads import HostReads

F64 = torch.float64

# From the von Mises series (k <= 4) through quadrature to the limit law (k >= 1e4).
KAPPAS = [1e-3, 0.5, 3.0, 30.0, 2e3, 5e4, 1e7]


def _unit(rows: int, dim: int) -> Tensor:
    generator = torch.Generator().manual_seed(dim)
    return torch.randn(rows, dim, generator=generator, dtype=F64)


def _von_mises_fisher(dim: int) -> Callable[[], tuple[Distribution, list[Tensor]]]:
    def make() -> tuple[Distribution, list[Tensor]]:
        raw = _unit(len(KAPPAS), dim).requires_grad_(True)
        kappa = torch.tensor(KAPPAS, dtype=F64, requires_grad=True)
        loc = torch.nn.functional.normalize(raw, dim=-1)
        return VonMisesFisher(loc, kappa, validate_args=False), [raw, kappa]

    return make


def _von_mises() -> tuple[Distribution, list[Tensor]]:
    loc = torch.linspace(-3.0, 3.0, len(KAPPAS), dtype=F64).requires_grad_(True)
    kappa = torch.tensor(KAPPAS, dtype=F64, requires_grad=True)
    return VonMises(loc, kappa, validate_args=False), [loc, kappa]


def _truncated_normal() -> tuple[Distribution, list[Tensor]]:
    loc = torch.tensor([0.0, 1.0, -2.0], dtype=F64, requires_grad=True)
    scale = torch.tensor([1.0, 0.5, 2.0], dtype=F64, requires_grad=True)
    low = torch.tensor([-1.0, 8.0, -math.inf], dtype=F64)
    high = torch.tensor([2.0, 9.0, 0.0], dtype=F64)
    return TruncatedNormal(loc, scale, low, high, validate_args=False), [loc, scale]


def _mixture_of(
    component: Callable[[Tensor], Distribution],
) -> Callable[[], tuple[Distribution, list[Tensor]]]:
    def make() -> tuple[Distribution, list[Tensor]]:
        a = torch.tensor([0.3, -0.2, 0.5], dtype=F64, requires_grad=True)
        mixing = Categorical(logits=a, validate_args=False)
        return MixtureSameFamily(mixing, component(a), validate_args=False), [a]

    return make


def _uniform() -> tuple[Distribution, list[Tensor]]:
    return HypersphericalUniform(5, (3,), dtype=F64, validate_args=False), []


CASES: dict[str, Callable[[], tuple[Distribution, list[Tensor]]]] = {
    "VonMises": _von_mises,
    **{f"VonMisesFisher d={d}": _von_mises_fisher(d) for d in (2, 3, 5, 10, 100)},
    "TruncatedNormal": _truncated_normal,
    "HypersphericalUniform": _uniform,
    "MixtureSameFamily(Normal)": _mixture_of(
        lambda a: Normal(a, torch.exp(-a), validate_args=False)
    ),
    "MixtureSameFamily(Independent(Normal))": _mixture_of(
        lambda a: Independent(
            Normal(torch.outer(a, a), torch.ones(3, 3, dtype=F64), validate_args=False),
            1,
            validate_args=False,
        )
    ),
    "MixtureSameFamily(VonMises)": _mixture_of(
        lambda a: VonMises(a, torch.tensor([0.5, 30.0, 2e4], dtype=F64), validate_args=False)
    ),
    "MixtureSameFamily(TruncatedNormal)": _mixture_of(
        lambda a: TruncatedNormal(a, torch.exp(a), -1.0, 2.0, validate_args=False)
    ),
}


def _exercise(make: Callable[[], tuple[Distribution, list[Tensor]]]) -> None:
    """Everything the library promises to run without host reads, with gradients."""
    dist, params = make()
    x = dist.rsample((4,))
    if params:
        torch.autograd.grad(torch.sin(x).sum(), params, allow_unused=True)
    dist.sample((3,))
    dist, params = make()
    log_prob = dist.log_prob(x.detach())
    if params:
        torch.autograd.grad(log_prob.sum(), params, allow_unused=True)
    try:
        entropy = dist.entropy()
    except NotImplementedError:
        entropy = None
    if entropy is not None and params and entropy.requires_grad:
        torch.autograd.grad(entropy.sum(), params, allow_unused=True)
    if isinstance(dist, VonMisesFisher):
        dist, params = make()
        kl = kl_divergence(dist, HypersphericalUniform(dist.dim, dtype=F64))
        torch.autograd.grad(kl.sum(), params, allow_unused=True)
        dist, params = make()
        assert isinstance(dist, VonMisesFisher)
        other = VonMisesFisher(dist.loc.flip(0), dist.concentration.flip(0), validate_args=False)
        torch.autograd.grad(kl_divergence(dist, other).sum(), params, allow_unused=True)


@pytest.mark.parametrize("name", list(CASES))
def test_no_host_reads_with_validation_off(name: str) -> None:
    torch.manual_seed(0)
    with HostReads() as reads:
        _exercise(CASES[name])
    assert reads.ops == [], f"{name}: {reads.ops}"


def test_many_samples_of_one_concentration_too() -> None:
    # The chained quadrature (many angles per concentration) and the two-stage
    # rejection (more than 4096 proposals at once) have their own code paths.
    torch.manual_seed(1)
    kappa = torch.tensor([5.0, 3e5], dtype=F64, requires_grad=True)
    loc = torch.nn.functional.normalize(_unit(2, 10), dim=-1)
    with HostReads() as reads:
        x = VonMisesFisher(loc, kappa, validate_args=False).rsample((600,))
        torch.autograd.grad(x.sum(), [kappa])
        VonMises(torch.zeros(2, dtype=F64), kappa, validate_args=False).rsample((600,))
    assert reads.ops == []
    assert bool(torch.isfinite(x).all())


class _HostBranching(VonMisesFisher):
    """A deliberately wrong sampler: picks a branch by reading the concentration."""

    def rsample(self, sample_shape: torch.Size | tuple[int, ...] = ()) -> Tensor:
        if bool((self.concentration > 1e4).any()):
            return self.loc.expand(torch.Size(sample_shape) + self.loc.shape)
        return super().rsample(sample_shape)


def test_the_harness_catches_a_host_read() -> None:
    def make() -> tuple[Distribution, list[Tensor]]:
        dist, params = _von_mises_fisher(5)()
        assert isinstance(dist, VonMisesFisher)
        return _HostBranching(dist.loc, dist.concentration, validate_args=False), params

    with HostReads() as reads:
        _exercise(make)
    # Once in rsample, once more in sample (which calls it).
    assert reads.ops == ["aten._local_scalar_dense.default"] * 2


@pytest.mark.parametrize("bad", [0.0, -1.0, math.nan, math.inf])
@pytest.mark.parametrize("family", ["VonMises", "VonMisesFisher"])
def test_an_invalid_concentration_past_validation_gives_nan_samples_alike(
    bad: float, family: str
) -> None:
    # Without validation nothing is read on the host, so nothing can raise: both
    # families give NaN for the samples of an invalid concentration, and exact
    # samples for the valid ones beside it.
    kappa = torch.tensor([bad, 2.0], dtype=F64)
    if family == "VonMises":
        dist: Distribution = VonMises(torch.zeros(2, dtype=F64), kappa, validate_args=False)
    else:
        dist = VonMisesFisher(_unit(2, 3) / _unit(2, 3).norm(dim=-1, keepdim=True), kappa, False)
    for x in (dist.rsample((5,)), dist.sample((5,))):
        assert bool(torch.isnan(x[:, 0]).all()), (family, bad)
        assert bool(torch.isfinite(x[:, 1]).all()), (family, bad)


@pytest.mark.parametrize("family", ["VonMises", "VonMisesFisher"])
def test_an_invalid_concentration_under_validation_is_refused(family: str) -> None:
    loc = torch.tensor(0.0) if family == "VonMises" else torch.tensor([0.0, 1.0])
    make = VonMises if family == "VonMises" else VonMisesFisher
    for bad in (0.0, math.nan, math.inf):
        with pytest.raises(ValueError, match="concentration"):
            make(loc, torch.tensor(bad))


def test_a_sample_never_accepted_is_nan_and_raises_under_validation() -> None:
    kappa = torch.tensor([1.0, 2.0], dtype=F64)

    def accept_the_second(index: Tensor | None, rounds: int) -> tuple[Tensor, Tensor]:
        k = (kappa if index is None else kappa[index]).unsqueeze(-1).expand(-1, rounds)
        return k, k > 1.5

    samples = rejection_sample(accept_the_second, 2)
    assert math.isnan(samples[0].item()) and samples[1].item() == 2.0
    with pytest.raises(RejectionLimitError, match="rejected in every one of their rounds"):
        raise_if_rejected(samples, kappa, "a test")


@pytest.mark.parametrize("n", [100, 20_000])
def test_fixed_rounds_give_the_first_accepted_proposal(n: int) -> None:
    # Proposals uniform on [0, 1), accepted with probability 0.65 + 0.35 x (never
    # below the samplers' floor): accepted values have density (0.65 + 0.35 x) / 0.825.
    # Both the single-stage (n = 100) and the staged path (n = 20,000) must be
    # exact; a version that kept the last proposal when rejected would have mean 1/2.
    torch.manual_seed(n)

    def propose(index: Tensor | None, rounds: int) -> tuple[Tensor, Tensor]:
        size = n if index is None else index.numel()
        x = torch.rand(size, rounds, dtype=F64)
        return x, torch.rand(size, rounds, dtype=F64) < 0.65 + 0.35 * x

    values = torch.cat([rejection_sample(propose, n) for _ in range(max(1, 20_000 // n))])
    assert bool(torch.isfinite(values).all())
    mean = (0.65 / 2 + 0.35 / 3) / 0.825
    variance = (0.65 / 3 + 0.35 / 4) / 0.825 - mean**2
    # z-test at a false-failure rate of 1e-4 (|z| < 3.89); the last-proposal version is
    # off by 0.035, 17 standard errors.
    z = (values.mean().item() - mean) / math.sqrt(variance / values.numel())
    assert abs(z) < 3.89


def test_truncated_normal_reads_no_regime_flags_off_the_cpu() -> None:
    """On a CPU the truncated normal reads which regimes a batch holds (a read of CPU
    memory costs nothing); elsewhere it must not. Tensors on the ``meta`` device have
    no data, so any host read (``.tolist()`` included, which the dispatch mode cannot
    see) raises on them."""
    loc = torch.zeros(4, dtype=F64, device="meta", requires_grad=True)
    low = torch.tensor([-1.0, 0.0, 8.0, -2.0], dtype=F64, device="meta")
    high = torch.tensor([1.0, 1e-9, 9.0, 3.0], dtype=F64, device="meta")
    dist = TruncatedNormal(loc, loc.exp(), low, high, validate_args=False)
    x = dist.rsample((3,))
    x.sum().backward()
    assert x.shape == (3, 4) and loc.grad is not None and loc.grad.shape == (4,)
    assert dist.log_prob(x.detach()).shape == (3, 4) and dist.cdf(x.detach()).shape == (3, 4)
    assert dist.entropy().shape == (4,) and dist.variance.shape == (4,)
