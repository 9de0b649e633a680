"""VonMises: implicit-reparameterization gradients, goodness of fit, stability, errors."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy import integrate, optimize, special, stats

import reparam
from reparam.distributions import VonMises
from reparam.distributions._special.angle import angle_dtheta_dkappa
from reparam.distributions._special.rejection import MAX_ROUNDS
from tests.distributions.helpers import exact_gradients, gradient_terms
from tests.stats import (
    assert_ks,
    assert_mean,
    ks_statistics,
    ks_threshold,
    mean_z_scores,
    z_threshold,
)

KAPPAS = [1e-3, 0.5, 4.0, 1e3]


def mean_cos(loc: torch.Tensor, kappa: torch.Tensor) -> torch.Tensor:
    """``E[cos z] = I1(k)/I0(k) cos(loc)``."""
    return torch.special.i1e(kappa) / torch.special.i0e(kappa) * torch.cos(loc)


def centred_cdf(x: float, kappa: float) -> float:
    """``P(Z <= x)`` for ``Z ~ VonMises(0, kappa)`` by adaptive quadrature from the mode.

    Not SciPy's ``vonmises.cdf``: past ``kappa = 50`` that switches to a normal
    approximation, whose quantile's derivative is off by about 1e-5 relative at
    ``kappa = 100``.
    """
    density = lambda t: math.exp(kappa * (math.cos(t) - 1.0))  # noqa: E731
    mass = integrate.quad(density, 0.0, abs(x), epsabs=0.0, epsrel=1e-13, limit=200)[0]
    return 0.5 + math.copysign(mass, x) / (2 * math.pi * float(special.i0e(kappa)))


def quantile_derivative(x: float, kappa: float) -> float:
    """``dx/dkappa`` at fixed ``F(x)``, by central differences of the inverse CDF."""
    u = centred_cdf(x, kappa)
    h = 1e-4 * kappa

    def root(k: float) -> float:
        return optimize.brentq(lambda t: centred_cdf(t, k) - u, -math.pi, math.pi, xtol=1e-15)

    return (root(kappa + h) - root(kappa - h)) / (2 * h)


@pytest.mark.parametrize("kappa", [1e-3, 0.3, 2.0, 10.0, 1e2, 1e3])
def test_per_sample_gradient_matches_finite_differences_of_the_quantile(kappa: float) -> None:
    torch.manual_seed(0)
    k = torch.tensor(kappa, dtype=torch.float64, requires_grad=True)
    z = VonMises(torch.tensor(0.0, dtype=torch.float64), k).rsample((12,))
    (grads,) = torch.autograd.grad(z.sum(), k, is_grads_batched=False, retain_graph=True)
    ours = torch.sign(z) * angle_dtheta_dkappa(z.detach().abs(), k.detach(), 2)
    assert torch.allclose(grads, ours.sum())  # rsample attaches exactly this derivative
    reference = torch.tensor([quantile_derivative(x, kappa) for x in z.tolist()])
    scale = reference.abs().max()
    assert torch.allclose(ours, reference.to(ours), atol=1e-6 * float(scale), rtol=1e-5)


@pytest.mark.parametrize("kappa", KAPPAS)
def test_pathwise_gradient_of_mean_cos_is_unbiased(kappa: float) -> None:
    torch.manual_seed(1)
    params = [torch.tensor(0.7, dtype=torch.float64), torch.tensor(kappa, dtype=torch.float64)]
    terms = gradient_terms(lambda z: torch.cos(z), VonMises, params, num=10_000)
    for term, exact in zip(terms, exact_gradients(mean_cos, params), strict=True):
        assert_mean(term, exact)


def test_score_function_estimator_works_with_log_prob() -> None:
    torch.manual_seed(2)
    params = [torch.tensor(-2.0, dtype=torch.float64), torch.tensor(1.5, dtype=torch.float64)]
    terms = gradient_terms(torch.cos, VonMises, params, num=10_000, estimator="score")
    for term, exact in zip(terms, exact_gradients(mean_cos, params), strict=True):
        assert_mean(term, exact)


def naive_rejection_gradient(kappa: float, num: int) -> torch.Tensor:
    """Differentiate the accepted Best-Fisher proposal in kappa, uniforms held fixed (wrong)."""
    k = torch.full((num,), kappa, dtype=torch.float64, requires_grad=True)
    tau = 1 + torch.sqrt(1 + 4 * k * k)
    rho = (tau - torch.sqrt(2 * tau)) / (2 * k)
    r = (1 + rho * rho) / (2 * rho)
    x = torch.zeros(num, dtype=torch.float64)
    done = torch.zeros(num, dtype=torch.bool)
    for _ in range(MAX_ROUNDS):  # bounded like the library's samplers
        if bool(done.all()):
            break
        u1, u2, u3 = torch.rand(3, num, dtype=torch.float64)
        w = torch.cos(math.pi * u1)
        f = (1 + r * w) / (r + w)
        c = k * (r - f)
        accept = ((c * (2 - c) - u2) > 0) | (torch.log(c / u2) + 1 - c >= 0)
        accept = accept.detach() & ~done
        x = torch.where(accept, torch.sign(u3 - 0.5) * torch.acos(f), x)
        done = done | accept
    assert bool(done.all()), f"rejected {MAX_ROUNDS} times in a row"
    (grad,) = torch.autograd.grad(torch.cos(x).sum(), k)
    return grad


def test_naive_gradient_through_the_rejection_sampler_fails_the_same_z_test() -> None:
    torch.manual_seed(3)
    kappa = 2.0
    exact = exact_gradients(mean_cos, [torch.tensor(0.0), torch.tensor(kappa)])[1]
    z = mean_z_scores(naive_rejection_gradient(kappa, 10_000), exact)
    assert z.abs().max() > z_threshold()


@pytest.mark.parametrize("kappa", KAPPAS)
def test_samples_pass_a_ks_test_against_the_cdf(kappa: float) -> None:
    torch.manual_seed(4)
    dist = VonMises(
        torch.tensor(2.5, dtype=torch.float64), torch.tensor(kappa, dtype=torch.float64)
    )
    z = dist.rsample((5000,))
    assert_ks(dist.cdf(z))


def test_a_wrong_sampler_fails_the_ks_test() -> None:
    torch.manual_seed(5)
    loc = torch.tensor(0.0, dtype=torch.float64)
    z = VonMises(loc, torch.tensor(1.4, dtype=torch.float64)).rsample((5000,))
    statistic = ks_statistics(VonMises(loc, torch.tensor(1.0, dtype=torch.float64)).cdf(z))
    assert statistic.item() > ks_threshold(5000)


def test_cdf_matches_scipy() -> None:
    x = np.linspace(-math.pi, math.pi - 1e-9, 41)
    for kappa in [1e-3, 0.7, 30.0, 1e3]:
        dist = VonMises(
            torch.tensor(0.0, dtype=torch.float64), torch.tensor(kappa, dtype=torch.float64)
        )
        ours = dist.cdf(torch.tensor(x)).numpy()
        reference = stats.vonmises.cdf(x, kappa) - stats.vonmises.cdf(-math.pi, kappa)
        np.testing.assert_allclose(ours, reference, atol=1e-10)


def test_cdf_is_differentiable_in_concentration() -> None:
    k = torch.tensor(3.0, dtype=torch.float64, requires_grad=True)
    x = torch.tensor([-1.0, 0.4, 2.0], dtype=torch.float64)

    def cdf(kappa: torch.Tensor) -> torch.Tensor:
        return VonMises(torch.tensor(0.3, dtype=torch.float64), kappa).cdf(x)

    assert torch.autograd.gradcheck(cdf, (k,), eps=1e-6, atol=1e-7)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_no_nan_or_inf_across_the_concentration_range(dtype: torch.dtype) -> None:
    torch.manual_seed(6)
    kappa = torch.logspace(-3, 3, 13, dtype=dtype).requires_grad_(True)
    loc = torch.zeros(13, dtype=dtype, requires_grad=True)
    z = VonMises(loc, kappa).rsample((500,))
    assert z.dtype == dtype and bool(torch.isfinite(z).all())
    assert bool((z >= -math.pi).all() and (z <= math.pi).all())
    kappa_grad, loc_grad = torch.autograd.grad(torch.sin(z + 0.3).sum(), [kappa, loc])
    assert bool(torch.isfinite(kappa_grad).all() and torch.isfinite(loc_grad).all())


def test_log_prob_is_normalized_and_accurate() -> None:
    dist = VonMises(torch.tensor(1.0, dtype=torch.float64), torch.tensor(50.0, dtype=torch.float64))
    x = torch.tensor([0.5, 1.0, 2.0], dtype=torch.float64)
    reference = stats.vonmises.logpdf(x.numpy(), 50.0, loc=1.0)
    np.testing.assert_allclose(dist.log_prob(x).numpy(), reference, rtol=1e-12)


def test_rsample_is_allowed_in_strict_mode_and_sample_is_not() -> None:
    kappa = torch.tensor(2.0, requires_grad=True)
    dist = VonMises(torch.tensor(0.0), kappa)
    with reparam.strict():
        dist.rsample((3,))
        with pytest.raises(reparam.GradientCutError, match="concentration"):
            dist.sample((3,))


def test_nonpositive_concentration_is_rejected_naming_the_parameter() -> None:
    with pytest.raises(ValueError, match="concentration"):
        VonMises(torch.tensor(0.0), torch.tensor(0.0))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="CUDA not available")
def test_cuda() -> None:
    kappa = torch.tensor([0.5, 50.0], device="cuda", requires_grad=True)
    z = VonMises(torch.zeros(2, device="cuda"), kappa).rsample((100,))
    torch.cos(z).sum().backward()
    assert z.device.type == "cuda" and kappa.grad is not None and kappa.grad.device.type == "cuda"
