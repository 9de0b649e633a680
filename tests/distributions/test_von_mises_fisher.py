"""VonMisesFisher and HypersphericalUniform: unbiased gradients in every dimension, fit, KL."""

from __future__ import annotations

import math

import pytest
import torch
from scipy import integrate, stats
from torch.distributions import kl_divergence

from reparam.distributions import HypersphericalUniform, VonMisesFisher
from reparam.distributions._special.angle import angle_dtheta_dkappa, angle_survival, log_normalizer
from reparam.distributions._special.bessel import bessel_iv_ratio
from reparam.distributions._special.rejection import MAX_ROUNDS
from reparam.distributions._von_mises_fisher import symmetric_beta_odds, wood_angle
from tests.distributions.helpers import exact_gradients, gradient_terms
from tests.stats import (
    assert_ks,
    assert_mean,
    ks_statistics,
    ks_threshold,
    mean_z_scores,
    z_threshold,
)

F64 = torch.float64


def unit(dim: int, seed: int = 0) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return torch.nn.functional.normalize(torch.randn(dim, generator=generator, dtype=F64), dim=0)


def mean_resultant(kappa: torch.Tensor, dim: int) -> torch.Tensor:
    """``E[mu^T x] = I_{d/2}(k) / I_{d/2-1}(k)``."""
    return bessel_iv_ratio(dim / 2 - 1, kappa)


@pytest.mark.parametrize(("dim", "kappa"), [(2, 1.0), (3, 0.01), (5, 3.0), (10, 30.0), (100, 1e3)])
def test_per_sample_angle_gradient_matches_finite_differences_of_the_quantile(
    dim: int, kappa: float
) -> None:
    # Reference: the survival function by adaptive quadrature, inverted by bisection.
    log_z = log_normalizer(torch.tensor(kappa, dtype=F64), dim).item()

    def survival(theta: float, k: float) -> float:
        scale = log_normalizer(torch.tensor(k, dtype=F64), dim).item()
        integrand = lambda t: math.exp(k * math.cos(t) + (dim - 2) * math.log(math.sin(t)) - scale)  # noqa: E731
        return integrate.quad(integrand, theta, math.pi, epsabs=1e-14, epsrel=1e-12, limit=200)[0]

    def quantile(level: float, k: float) -> float:
        low, high = 0.0, math.pi
        for _ in range(60):
            mid = 0.5 * (low + high)
            low, high = (mid, high) if survival(mid, k) > level else (low, mid)
        return 0.5 * (low + high)

    torch.manual_seed(0)
    theta = wood_angle(torch.tensor(kappa, dtype=F64), dim, torch.Size([4]))
    ours = angle_dtheta_dkappa(theta, torch.tensor(kappa, dtype=F64), dim)
    h = 1e-4 * kappa
    for t, derivative in zip(theta.tolist(), ours.tolist(), strict=True):
        level = survival(t, kappa)
        reference = (quantile(level, kappa + h) - quantile(level, kappa - h)) / (2 * h)
        assert derivative == pytest.approx(reference, rel=1e-4, abs=1e-9)
    assert math.isfinite(log_z)


@pytest.mark.parametrize("dim", [2, 3, 5, 10, 100])
@pytest.mark.parametrize("kappa", [0.5, 20.0, 1e3])
def test_pathwise_gradient_of_the_mean_resultant_is_unbiased(dim: int, kappa: float) -> None:
    torch.manual_seed(dim)
    mu = unit(dim)
    params = [torch.tensor(kappa, dtype=F64)]
    terms = gradient_terms(lambda x: x @ mu, lambda k: VonMisesFisher(mu, k), params, num=4000)
    exact = exact_gradients(lambda k: mean_resultant(k, dim), params)
    assert_mean(terms[0], exact[0])


def test_pathwise_gradient_in_the_mean_direction_is_unbiased() -> None:
    torch.manual_seed(7)
    dim, a = 5, unit(5, seed=3)

    def make(raw: torch.Tensor, kappa: torch.Tensor) -> VonMisesFisher:
        return VonMisesFisher(torch.nn.functional.normalize(raw, dim=-1), kappa)

    def exact(raw: torch.Tensor, kappa: torch.Tensor) -> torch.Tensor:
        return mean_resultant(kappa, dim) * (torch.nn.functional.normalize(raw, dim=-1) @ a)

    params = [unit(dim, seed=1) * 2.0, torch.tensor(4.0, dtype=F64)]
    terms = gradient_terms(lambda x: x @ a, make, params, num=10_000)
    for term, expected in zip(terms, exact_gradients(exact, params), strict=True):
        assert_mean(term, expected)


def test_score_function_estimator_works_with_log_prob() -> None:
    torch.manual_seed(8)
    dim, mu = 10, unit(10)
    params = [torch.tensor(5.0, dtype=F64)]
    make = lambda k: VonMisesFisher(mu, k)  # noqa: E731
    terms = gradient_terms(lambda x: x @ mu, make, params, num=10_000, estimator="score")
    assert_mean(terms[0], exact_gradients(lambda k: mean_resultant(k, dim), params)[0])


def naive_wood_gradient(kappa: float, dim: int, num: int) -> torch.Tensor:
    """Differentiate Wood's accepted proposal in kappa (the widely copied, wrong way)."""
    k = torch.full((num,), kappa, dtype=F64, requires_grad=True)
    q = dim - 1.0
    b = q / (2 * k + torch.sqrt(4 * k * k + q * q))
    x0 = (1 - b) / (1 + b)
    c = k * x0 + q * torch.log(1 - x0 * x0)
    w = torch.zeros(num, dtype=F64)
    done = torch.zeros(num, dtype=torch.bool)
    beta = torch.distributions.Beta(torch.tensor(q / 2, dtype=F64), torch.tensor(q / 2, dtype=F64))
    for _ in range(MAX_ROUNDS):  # bounded like the library's samplers
        if bool(done.all()):
            break
        z = beta.sample((num,))
        proposal = (1 - (1 + b) * z) / (1 - (1 - b) * z)
        u = torch.rand(num, dtype=F64)
        accept = (k * proposal + q * torch.log(1 - x0 * proposal) - c >= torch.log(u)).detach()
        w = torch.where(accept & ~done, proposal, w)
        done = done | accept
    assert bool(done.all()), f"rejected {MAX_ROUNDS} times in a row"
    return torch.autograd.grad(w.sum(), k)[0]


def test_naive_gradient_through_wood_rejection_fails_the_same_z_test() -> None:
    torch.manual_seed(9)
    dim, kappa = 10, 5.0
    exact = exact_gradients(lambda k: mean_resultant(k, dim), [torch.tensor(kappa, dtype=F64)])[0]
    z = mean_z_scores(naive_wood_gradient(kappa, dim, 10_000), exact)
    assert z.abs().max() > z_threshold()


@pytest.mark.parametrize(
    ("dim", "kappa"), [(2, 1.0), (3, 1e-3), (3, 10.0), (5, 10.0), (10, 10.0), (100, 1e3)]
)
def test_marginal_passes_a_ks_test(dim: int, kappa: float) -> None:
    torch.manual_seed(10)
    mu = unit(dim)
    k = torch.tensor(kappa, dtype=F64)
    w = (VonMisesFisher(mu, k).rsample((4000,)) @ mu).clamp(-1.0, 1.0)
    assert_ks(angle_survival(torch.acos(w), k, dim))  # F_W(w) = P(Theta >= arccos w)


@pytest.mark.parametrize("dim", [2, 3, 4, 10, 100])
def test_wood_proposal_odds_are_those_of_the_symmetric_beta(dim: int) -> None:
    torch.manual_seed(13)
    odds = symmetric_beta_odds(dim, torch.Size([4000]), torch.device("cpu"))
    half = (dim - 1) / 2
    assert_ks(torch.from_numpy(stats.beta(half, half).cdf((odds / (1 + odds)).numpy())))
    # The Beta of twice the dimension fails the same test.
    wrong = stats.beta(dim - 0.5, dim - 0.5).cdf((odds / (1 + odds)).numpy())
    assert ks_statistics(torch.from_numpy(wrong)) > ks_threshold(4000)


def test_a_wrong_marginal_fails_the_ks_test() -> None:
    torch.manual_seed(11)
    mu, k = unit(10), torch.tensor(10.0, dtype=F64)
    w = VonMisesFisher(mu[:9] / mu[:9].norm(), k).rsample((4000,)) @ (mu[:9] / mu[:9].norm())
    assert ks_statistics(angle_survival(torch.acos(w.clamp(-1, 1)), k, 10)) > ks_threshold(4000)


def test_mean_and_variance_match_sample_moments() -> None:
    torch.manual_seed(12)
    dist = VonMisesFisher(unit(4), torch.tensor(3.0, dtype=F64))
    x = dist.sample((20_000,))
    assert_mean(x, dist.mean)
    assert_mean((x - dist.mean) ** 2, dist.variance)


def test_log_prob_and_kl_in_three_dimensions_match_closed_forms() -> None:
    kappa = torch.tensor(2.5, dtype=F64, requires_grad=True)
    mu = unit(3)
    dist = VonMisesFisher(mu, kappa)
    x = torch.stack([mu, -mu])
    expected = torch.log(kappa / (4 * math.pi * torch.sinh(kappa))) + kappa * (x @ mu)
    assert torch.allclose(dist.log_prob(x), expected, rtol=1e-12)
    kl = kl_divergence(dist, HypersphericalUniform(3, dtype=F64))
    closed = torch.log(kappa / torch.sinh(kappa)) + kappa / torch.tanh(kappa) - 1
    assert torch.allclose(kl, closed, rtol=1e-12)
    (grad,) = torch.autograd.grad(kl, kappa)
    (grad_closed,) = torch.autograd.grad(closed, kappa)
    assert torch.allclose(grad, grad_closed, rtol=1e-10)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("dim", [2, 3, 10, 100])
def test_no_nan_or_inf_across_kappa_and_dimension(dtype: torch.dtype, dim: int) -> None:
    torch.manual_seed(13)
    kappa = torch.logspace(-3, 3, 7, dtype=dtype).requires_grad_(True)
    raw = torch.randn(7, dim, dtype=dtype, requires_grad=True)
    dist = VonMisesFisher(torch.nn.functional.normalize(raw, dim=-1), kappa)
    x = dist.rsample((200,))
    assert x.dtype == dtype and bool(torch.isfinite(x).all())
    assert torch.allclose(x.norm(dim=-1), torch.ones((), dtype=dtype), atol=1e-5)
    loss = (x[..., 0] + x[..., -1] ** 2).sum() + kl_divergence(
        dist, HypersphericalUniform(dim)
    ).sum()
    grads = torch.autograd.grad(loss + dist.log_prob(x.detach()).sum(), [kappa, raw])
    assert all(bool(torch.isfinite(g).all()) for g in grads)


def pole_directions(dim: int, dtype: torch.dtype) -> torch.Tensor:
    """Unnormalized mean directions at and near the Householder reflection's special cases.

    ``e_1`` and ``-e_1`` exactly, both tilted by 1e-30 and 1e-7, the last axis, and
    a first coordinate of exactly 0 and of -1e-30 (where the reflection's sign flips).
    """
    rows = torch.zeros(8, dim, dtype=torch.float64)
    rows[0, 0], rows[1, 0] = 1.0, -1.0
    rows[2, 0], rows[2, 1] = 1.0, 1e-30
    rows[3, 0], rows[3, -1] = -1.0, 1e-7
    rows[4, 0], rows[4, 1] = 1.0, -1e-7
    rows[5, -1] = 1.0
    rows[6, 1] = 1.0
    rows[7, 0], rows[7, 1] = -1e-30, 1.0
    return rows.to(dtype)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("dim", [2, 3, 16, 100])
def test_poles_and_concentrations_from_1e_2_to_1e4_are_finite(dtype: torch.dtype, dim: int) -> None:
    torch.manual_seed(15)
    kappa = torch.logspace(-2, 4, 7, dtype=dtype).reshape(7, 1).requires_grad_(True)
    raw = pole_directions(dim, dtype).requires_grad_(True)
    dist = VonMisesFisher(torch.nn.functional.normalize(raw, dim=-1), kappa)  # batch [7, 8]
    x = dist.rsample((50,))
    assert x.dtype == dtype and bool(torch.isfinite(x).all())
    assert torch.allclose(x.norm(dim=-1), torch.ones((), dtype=dtype), atol=1e-5)
    log_prob = dist.log_prob(x.detach())
    kl = kl_divergence(dist, HypersphericalUniform(dim, dtype=dtype))
    assert bool(torch.isfinite(log_prob).all()) and bool(torch.isfinite(kl).all())
    # KL in float32 against float64: relative error of a few float32 roundings of k A(k).
    exact = kl_divergence(
        VonMisesFisher(dist.loc.detach().double(), kappa.detach().double()),
        HypersphericalUniform(dim, dtype=F64),
    )
    assert torch.allclose(kl.double(), exact, rtol=1e-3, atol=1e-3)
    loss = (x[..., 0] + x[..., -1] ** 2).sum() + kl.sum() + log_prob.sum()
    grads = torch.autograd.grad(loss, [kappa, raw])
    assert all(bool(torch.isfinite(g).all()) for g in grads)


@pytest.mark.parametrize("first", [1.0, -1.0])
def test_gradients_at_the_first_basis_vector_are_unbiased(first: float) -> None:
    # loc = +-e_1 exactly: the reflection's vector u = e_1 + s loc is 2 e_1.
    torch.manual_seed(16)
    dim, a = 5, unit(5, seed=4)

    def make(raw: torch.Tensor, kappa: torch.Tensor) -> VonMisesFisher:
        return VonMisesFisher(torch.nn.functional.normalize(raw, dim=-1), kappa)

    def exact(raw: torch.Tensor, kappa: torch.Tensor) -> torch.Tensor:
        return mean_resultant(kappa, dim) * (torch.nn.functional.normalize(raw, dim=-1) @ a)

    raw = torch.zeros(dim, dtype=F64)
    raw[0] = 2.0 * first
    params = [raw, torch.tensor(4.0, dtype=F64)]
    terms = gradient_terms(lambda x: x @ a, make, params, num=10_000)
    for term, expected in zip(terms, exact_gradients(exact, params), strict=True):
        assert_mean(term, expected)
    x = make(raw, params[1]).sample((10_000,))
    assert_mean(x, mean_resultant(params[1], dim) * raw / 2.0)


def test_bad_parameters_are_rejected_naming_them() -> None:
    with pytest.raises(ValueError, match="loc"):
        VonMisesFisher(torch.tensor([1.0, 1.0, 0.0]), torch.tensor(1.0))
    with pytest.raises(ValueError, match="concentration"):
        VonMisesFisher(torch.tensor([1.0, 0.0, 0.0]), torch.tensor(-1.0))
    with pytest.raises(ValueError, match="d >= 2"):
        VonMisesFisher(torch.tensor([1.0]), torch.tensor(1.0))
    with pytest.raises(ValueError, match="dimensions must match"):
        kl_divergence(VonMisesFisher(torch.tensor([1.0, 0.0]), 1.0), HypersphericalUniform(3))


def test_hyperspherical_uniform() -> None:
    torch.manual_seed(14)
    dist = HypersphericalUniform(4, batch_shape=(2,), dtype=F64)
    x = dist.rsample((5000,))
    assert x.shape == (5000, 2, 4)
    assert torch.allclose(x.norm(dim=-1), torch.ones((), dtype=F64))
    assert_mean(x, dist.mean)
    area = 2 * math.pi**2  # |S^3|
    assert torch.allclose(dist.log_prob(x[:3]), torch.full((3, 2), -math.log(area), dtype=F64))
    with pytest.raises(ValueError, match="dim"):
        HypersphericalUniform(1)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="CUDA not available")
def test_cuda() -> None:
    kappa = torch.tensor(10.0, device="cuda", requires_grad=True)
    mu = torch.nn.functional.normalize(torch.ones(5, device="cuda"), dim=0)
    x = VonMisesFisher(mu, kappa).rsample((100,))
    (x @ mu).sum().backward()
    assert x.device.type == "cuda" and kappa.grad is not None
