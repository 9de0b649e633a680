"""Large concentrations: no hang, the limit law, its continuity at the threshold, bounded loops."""

from __future__ import annotations

import json
import math
import subprocess
import sys

import pytest
import torch
from scipy import special
from torch.distributions import kl_divergence

from reparam.distributions import (
    HypersphericalUniform,
    VonMises,
    VonMisesFisher,
)
from reparam.distributions._special.angle import angle_dtheta_dkappa, angle_survival
from reparam.distributions._special.bessel import bessel_iv_ratio
from reparam.distributions._special.limit_law import (
    concentrated_angle,
    concentrated_dtheta_dkappa,
    concentrated_threshold,
)
from reparam.distributions._von_mises_fisher import vmf_angle
from tests.distributions.helpers import exact_gradients, gradient_terms
from tests.stats import assert_ks, assert_mean, assert_variance

F64 = torch.float64

# Runs in a child process so that a sampler that hangs again fails the test at the
# timeout instead of stalling the suite. Prints, per case, the largest distance of
# a sample from the mean direction and whether the gradients are finite.
_HANG_SCRIPT = """
import json, math, torch
from reparam.distributions import (
    HypersphericalUniform,
    RejectionLimitError,
    VonMises,
    VonMisesFisher,
)
out = []
for dtype, kappas in [(torch.float32, [1e16, 3e38]), (torch.float64, [1e16, 1e300])]:
    for kappa in kappas:
        for dim in (2, 10):
            k = torch.tensor(kappa, dtype=dtype, requires_grad=True)
            raw = torch.arange(1.0, dim + 1.0, dtype=dtype).requires_grad_(True)
            mu = torch.nn.functional.normalize(raw, dim=0)
            x = VonMisesFisher(mu, k).rsample((500,))
            grads = torch.autograd.grad((x * raw.detach()).sum(), [k, raw])
            finite = all(bool(torch.isfinite(g).all()) for g in grads)
            out.append(["vmf", str(dtype), kappa, dim, (x - mu).abs().max().item(), finite])
        loc = torch.tensor(1.0, dtype=dtype, requires_grad=True)
        z = VonMises(loc, k).rsample((500,))
        grads = torch.autograd.grad(torch.sin(z).sum(), [k, loc])
        finite = all(bool(torch.isfinite(g).all()) for g in grads)
        out.append(["vm", str(dtype), kappa, 2, (z - 1.0).abs().max().item(), finite])
print(json.dumps(out))
"""


@pytest.mark.slow
def test_huge_concentrations_sample_at_the_mean_direction_without_hanging() -> None:
    result = subprocess.run(
        [sys.executable, "-c", _HANG_SCRIPT],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,  # the whole script takes about a second once torch is imported
    )
    assert result.returncode == 0, result.stderr
    cases = json.loads(result.stdout)
    assert len(cases) == 12
    for kind, dtype, kappa, dim, distance, finite in cases:
        eps = torch.finfo(torch.float32 if "32" in dtype else F64).eps
        # Within rounding of the mean direction, beyond the spread sqrt(d / k) itself.
        assert distance <= 8 * eps + 10 * math.sqrt(dim / kappa), (kind, dtype, kappa, dim)
        assert finite, (kind, dtype, kappa, dim)


@pytest.mark.parametrize("axis", [0, 2])
@pytest.mark.parametrize("sign", [1.0, -1.0])
def test_float32_samples_keep_their_spread_below_rounding_of_one(axis: int, sign: float) -> None:
    # At k = 1e16 the angle (about 1e-8) is below float32's eps: x = mu + tangent part,
    # and each tangent coordinate is N(0, 1/k). Summing cos(theta) and the tangent
    # part inside the reflection rounded one of them to exactly 0.
    torch.manual_seed(80 + axis)
    mu = torch.zeros(3)
    mu[axis] = sign
    x = VonMisesFisher(mu, torch.tensor(1e16)).rsample((10_000,))
    assert x.dtype == torch.float32
    tangent = [i for i in range(3) if i != axis]
    assert_variance(x[:, tangent].double() * 1e8, torch.ones(2, dtype=F64))
    assert bool((x[:, axis] == sign).all())


@pytest.mark.parametrize("dim", [2, 3, 5, 10, 100])
def test_limit_law_mean_matches_the_exact_one_at_the_threshold(dim: int) -> None:
    # E[1 - mu^T x] = 1 - A_d(k) exactly (SciPy's Bessel ratio); (d-1)/2 / (k + (d-3)/4)
    # under the limit law. The unadjusted chi-square law, (d-1) / (2k), misses by
    # (d-3)/(4k) relative: 2.5e-5 for d = 2 and 1.3e-4 for d = 100, so the tolerance fails it.
    kappa = concentrated_threshold(dim)
    nu = dim / 2 - 1
    exact = 1.0 - special.ive(nu + 1, kappa) / special.ive(nu, kappa)
    limit = (dim - 1) / 2 / (kappa + (dim - 3) / 4)
    assert limit == pytest.approx(exact, rel=1e-6)
    if dim != 3:  # for d = 3 the two laws coincide
        assert (dim - 1) / (2 * kappa) != pytest.approx(exact, rel=1e-6)


@pytest.mark.parametrize("dim", [2, 3, 10, 100])
def test_both_sides_of_the_threshold_pass_a_ks_test_against_the_exact_law(dim: int) -> None:
    torch.manual_seed(20 + dim)
    threshold = concentrated_threshold(dim)
    for kappa in (threshold * (1 - 1e-9), threshold):  # Wood's sampler, then the limit law
        k = torch.tensor(kappa, dtype=F64)
        theta = vmf_angle(k, dim, torch.Size([10_000]))
        assert_ks(1.0 - angle_survival(theta, k, dim), rate=1e-4 / 2)


def test_von_mises_passes_a_ks_test_on_both_sides_of_the_threshold() -> None:
    torch.manual_seed(30)
    threshold = concentrated_threshold(2)
    for kappa in (threshold * (1 - 1e-9), threshold, 1e7):
        dist = VonMises(torch.tensor(3.0, dtype=F64), torch.tensor(kappa, dtype=F64))
        assert_ks(dist.cdf(dist.rsample((10_000,))), rate=1e-4 / 3)


@pytest.mark.parametrize("dim", [2, 3, 5, 10, 100])
def test_limit_gradient_matches_the_exact_implicit_one_at_the_threshold(dim: int) -> None:
    torch.manual_seed(40 + dim)
    kappa = torch.tensor(concentrated_threshold(dim), dtype=F64)
    theta = concentrated_angle(kappa, dim, torch.Size([2000]))
    exact = angle_dtheta_dkappa(theta, kappa, dim)  # quadrature (closed form for d = 3)
    scale = float(exact.abs().max())
    torch.testing.assert_close(
        concentrated_dtheta_dkappa(theta, kappa, dim), exact, rtol=0, atol=1e-5 * scale
    )
    if dim != 3:  # the unadjusted rate lambda = k is visibly off
        unadjusted = -torch.tan(0.5 * theta) / kappa
        assert float((unadjusted - exact).abs().max()) > 1e-5 * scale


@pytest.mark.parametrize(("dim", "factor"), [(3, 10.0), (10, 2.0), (100, 2.0)])
def test_pathwise_gradients_past_the_threshold_are_unbiased(dim: int, factor: float) -> None:
    torch.manual_seed(50 + dim)
    a = torch.nn.functional.normalize(torch.linspace(-1.0, 2.0, dim, dtype=F64), dim=0)

    def make(raw: torch.Tensor, kappa: torch.Tensor) -> VonMisesFisher:
        return VonMisesFisher(torch.nn.functional.normalize(raw, dim=-1), kappa)

    def exact(raw: torch.Tensor, kappa: torch.Tensor) -> torch.Tensor:
        mean = bessel_iv_ratio(dim / 2 - 1, kappa)
        return mean * (torch.nn.functional.normalize(raw, dim=-1) @ a)

    raw = torch.cos(torch.arange(dim, dtype=F64))
    params = [raw, torch.tensor(factor * concentrated_threshold(dim), dtype=F64)]
    terms = gradient_terms(lambda x: x @ a, make, params, num=4000)
    for term, expected in zip(terms, exact_gradients(exact, params), strict=True):
        assert_mean(term, expected)


def test_von_mises_pathwise_gradient_past_the_threshold_is_unbiased() -> None:
    torch.manual_seed(60)

    def mean_cos(loc: torch.Tensor, kappa: torch.Tensor) -> torch.Tensor:
        return torch.special.i1e(kappa) / torch.special.i0e(kappa) * torch.cos(loc)

    params = [torch.tensor(0.7, dtype=F64), torch.tensor(1e5, dtype=F64)]
    terms = gradient_terms(torch.cos, VonMises, params, num=10_000)
    for term, expected in zip(terms, exact_gradients(mean_cos, params), strict=True):
        assert_mean(term, expected)


def test_a_batch_straddling_the_threshold_uses_each_sampler_where_it_applies() -> None:
    torch.manual_seed(70)
    kappa = torch.tensor([1.0, 1e20, 50.0, 1e6], dtype=F64, requires_grad=True)
    mu = torch.nn.functional.normalize(torch.ones(4, 5, dtype=F64), dim=-1)
    x = VonMisesFisher(mu, kappa).rsample((2000,))
    w = (x * mu).sum(-1)
    (grad,) = torch.autograd.grad(w.sum(), kappa)
    exact_mean = bessel_iv_ratio(1.5, kappa.detach())
    assert_mean(w[:, [0, 2, 3]], exact_mean[[0, 2, 3]])
    # At 1e20 the spread of w (about 1e-20) is below rounding: w is 1 within it.
    assert float((1.0 - w[:, 1].detach()).abs().max()) <= 4 * torch.finfo(F64).eps
    assert bool(torch.isfinite(grad).all()) and bool((grad > 0).all())


@pytest.mark.parametrize(
    ("dtype", "kappas", "rtol"),
    [(F64, [1e5, 1e8, 1e16, 1e100, 1e300], 1e-12), (torch.float32, [1e5, 1e16, 3e38], 1e-6)],
)
def test_kl_to_the_uniform_and_its_gradient_hold_for_huge_kappa(
    dtype: torch.dtype, kappas: list[float], rtol: float
) -> None:
    # d = 3: KL = log(k / sinh k) + k coth k - 1 = log(2k) - 1 and dKL/dk = 1/k, up to
    # terms in exp(-2k). Computed naively, log C ~ -k and k A ~ k cancel: at 1e16 the
    # KL came out as -49.
    kappa = torch.tensor(kappas, dtype=dtype, requires_grad=True)
    dist = VonMisesFisher(torch.tensor([0.0, 0.6, 0.8], dtype=dtype), kappa)
    kl = kl_divergence(dist, HypersphericalUniform(3, dtype=dtype))
    (grad,) = torch.autograd.grad(kl.sum(), kappa)
    k64 = kappa.detach().double()
    torch.testing.assert_close(kl.double(), torch.log(2 * k64) - 1, rtol=rtol, atol=0)
    torch.testing.assert_close((grad.double() * k64), torch.ones_like(k64), rtol=1e-6, atol=0)
    x = dist.rsample((4,))
    log_prob = dist.log_prob(x.detach())
    assert bool(torch.isfinite(log_prob).all()) and bool(torch.isfinite(dist.entropy()).all())


def test_kl_grows_with_kappa_in_every_dimension() -> None:
    kappa = torch.logspace(-2, 300, 60, dtype=F64)
    for dim in (2, 10, 100):
        loc = torch.zeros(dim, dtype=F64)
        loc[0] = 1.0
        kl = kl_divergence(VonMisesFisher(loc, kappa), HypersphericalUniform(dim, dtype=F64))
        assert bool(torch.isfinite(kl).all()) and bool((kl.diff() > 0).all()), dim
        # (d-1)/2 log(k/2) + log|S^{d-1}| - log Gamma... : its leading growth is (d-1)/2 log k.
        slope = (kl[-1] - kl[-2]) / (torch.log(kappa[-1]) - torch.log(kappa[-2]))
        assert slope.item() == pytest.approx((dim - 1) / 2, rel=1e-9)


@pytest.mark.parametrize("make", [VonMises, VonMisesFisher])
def test_infinite_concentration_is_refused_naming_the_parameter(make: type) -> None:
    loc = torch.tensor(0.0) if make is VonMises else torch.tensor([0.0, 1.0])
    with pytest.raises(ValueError, match="concentration"):
        make(loc, torch.tensor(math.inf))
    with pytest.raises(ValueError, match="concentration"):
        make(loc, torch.tensor([1.0, math.nan]))


# Every sampling entry point, not only rsample: PyTorch's own VonMises.sample loops
# until acceptance and never returns from about 1e16.
_SAMPLE_SCRIPT = """
import json, torch
from torch.distributions import Categorical
from reparam.distributions import MixtureSameFamily, VonMises, VonMisesFisher
out = []
for dtype in (torch.float32, torch.float64):
    kappa = torch.tensor([1e16, 3e38 if dtype == torch.float32 else 1e300], dtype=dtype)
    z = VonMises(torch.zeros(2, dtype=dtype), kappa).sample((1000,))
    out.append(z.abs().max().item())
    components = VonMises(torch.zeros(2, dtype=dtype), kappa)
    mix = MixtureSameFamily(Categorical(torch.ones(2)), components)
    out.append(mix.sample((1000,)).abs().max().item())
    x = VonMisesFisher(torch.tensor([0.0, 1.0], dtype=dtype), kappa[0]).sample((1000,))
    out.append((x[:, 1] - 1.0).abs().max().item())
print(json.dumps(out))
"""


def test_sample_at_huge_concentrations_returns_at_the_mean_direction() -> None:
    result = subprocess.run(
        [sys.executable, "-c", _SAMPLE_SCRIPT],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,  # about a second once torch is imported
    )
    assert result.returncode == 0, result.stderr
    distances = json.loads(result.stdout)
    assert len(distances) == 6
    assert max(distances) <= 1e-6, distances
