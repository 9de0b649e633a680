"""The shared numerics: Bessel functions, the angle's survival function and derivatives."""

from __future__ import annotations

import math
from fractions import Fraction

import mpmath
import numpy as np
import pytest
import torch
from scipy import integrate, special

from reparam.distributions._special.angle import (
    angle_dtheta_dkappa,
    angle_survival,
    log_normalizer,
    tail_quadrature,
)
from reparam.distributions._special.bessel import (
    _debye_polynomials,
    _log_ive_debye,
    _log_ratio_debye,
    _step_down,
    _step_down_torch,
    bessel_iv_ratio,
    bessel_iv_ratio_complement,
    log_bessel_iv,
    log_bessel_ive,
    log_iv_and_ratio,
    log_ive_and_ratios,
    ratio_slope,
)
from reparam.distributions._special.von_mises_series import von_mises_dz_dkappa

F64 = torch.float64
KAPPAS = torch.logspace(-3, 3, 25, dtype=F64)


@pytest.mark.parametrize("nu", [0.0, 0.5, 1.0, 1.5, 4.0, 24.0, 49.0])
def test_log_bessel_and_ratio_match_scipy(nu: float) -> None:
    log_i, ratio = log_iv_and_ratio(nu, KAPPAS)
    k = KAPPAS.numpy()
    # log I to 1e-11 absolute: I itself to 1e-11 relative.
    np.testing.assert_allclose(log_i.numpy(), np.log(special.ive(nu, k)) + k, atol=1e-11, rtol=0)
    expected = special.ive(nu + 1, k) / special.ive(nu, k)
    np.testing.assert_allclose(ratio.numpy(), expected, rtol=1e-11)


def test_the_debye_polynomials_are_the_published_ones() -> None:
    # DLMF 10.41.10: u_1..u_4, with the denominators 24, 1152, 414720, 39813120.
    published = [
        ({1: 3, 3: -5}, 24),
        ({2: 81, 4: -462, 6: 385}, 1152),
        ({3: 30375, 5: -369603, 7: 765765, 9: -425425}, 414720),
        ({4: 4465125, 6: -94121676, 8: 349922430, 10: -446185740, 12: 185910725}, 39813120),
    ]
    generated = _debye_polynomials(7)
    for ours, (numerators, denominator) in zip(generated, published, strict=False):
        assert ours == {p: Fraction(c, denominator) for p, c in numerators.items()}
    assert [max(u) for u in generated] == [3, 6, 9, 12, 15, 18, 21]


@pytest.mark.parametrize("nu", [0.0, 4.0, 24.5, 29.0, 30.0])
def test_bessel_functions_match_mpmath_where_the_expansion_starts(nu: float) -> None:
    # k near the starting order mu (p = mu / r near 0.7) is where the expansion's
    # truncation error peaks; the recurrence then carries it down to nu.
    k = torch.tensor([1e-3, 1.0, 10.0, 25.0, 30.0, 40.0, 60.0, 1e3, 1e5], dtype=F64)
    log_ive, ratio, complement = log_ive_and_ratios(nu, k)
    with mpmath.workdps(40):
        for i, kappa in enumerate(k.tolist()):
            i_nu, i_next = mpmath.besseli(nu, kappa), mpmath.besseli(nu + 1, kappa)
            assert abs(float(mpmath.log(i_nu) - kappa) - log_ive[i].item()) < 2e-12
            assert float(i_next / i_nu) == pytest.approx(ratio[i].item(), rel=1e-12, abs=0)
            assert float(1 - i_next / i_nu) == pytest.approx(complement[i].item(), rel=1e-12)


def test_bessel_derivatives_are_exact_identities() -> None:
    k = torch.tensor([1e-3, 0.7, 30.0, 900.0], dtype=F64, requires_grad=True)
    for nu in (0.0, 1.5, 49.0):
        for function in (
            log_bessel_iv,
            log_bessel_ive,
            bessel_iv_ratio,
            bessel_iv_ratio_complement,
        ):
            assert torch.autograd.gradcheck(lambda x, n=nu, f=function: f(n, x), (k,), atol=1e-6)


@pytest.mark.parametrize("nu", [0.0, 0.5, 4.0, 49.0])
def test_scaled_log_and_complement_match_scipy(nu: float) -> None:
    log_ive, _, complement = log_ive_and_ratios(nu, KAPPAS)
    k = KAPPAS.numpy()
    np.testing.assert_allclose(log_ive.numpy(), np.log(special.ive(nu, k)), atol=1e-11, rtol=0)
    # SciPy's 1 - R loses eps 2k / (2 nu + 1) of itself, at most 2e-13 here.
    expected = 1.0 - special.ive(nu + 1, k) / special.ive(nu, k)
    np.testing.assert_allclose(complement.numpy(), expected, rtol=1e-10)


@pytest.mark.parametrize("nu", [0.0, 0.5, 4.0, 49.0])
def test_scaled_log_complement_and_slope_hold_for_huge_kappa(nu: float) -> None:
    # Hankel's expansion (DLMF 10.40.1): 1 - R = (2nu+1)/(2k) - (4nu^2-1)/(8k^2) + O(k^-3),
    # log(I e^-k) = -log(2 pi k)/2 - (4nu^2-1)/(8k) + O(k^-2): below rounding past k = 1e8.
    k = torch.tensor([1e8, 1e16, 1e100, 1e300, 1.7e308], dtype=F64)
    log_ive, ratio, complement = log_ive_and_ratios(nu, k)
    q = 4 * nu * nu - 1
    expected = (2 * nu + 1) / 2 / k - q / 8 / k / k
    torch.testing.assert_close(complement, expected, rtol=1e-11, atol=0)
    expected_log = -0.5 * (math.log(2 * math.pi) + torch.log(k)) - q / (8 * k)
    torch.testing.assert_close(log_ive, expected_log, rtol=0, atol=1e-12)
    # k^2 dR/dk = (2nu+1)/2 - (4nu^2-1)/(4k): scaled by k^2 to stay in range.
    slope = ratio_slope(nu, k, ratio, complement)
    torch.testing.assert_close(slope, (2 * nu + 1) / 2 - q / 4 / k, rtol=1e-11, atol=0)
    # The naive complement, 1 - R, is all rounding there.
    assert not torch.allclose(1.0 - ratio, expected, rtol=1e-2, atol=0)


def test_the_torch_recurrence_for_accelerators_matches_the_numpy_one() -> None:
    # Off the CPU the step-down runs in torch; run that branch here on CPU tensors.
    k = torch.tensor([1e-3, 1.0, 1e3, 1e16, 1e300], dtype=F64)
    ratio, complement = torch.full_like(k, 0.3), torch.full_like(k, 0.7)
    numpy_path = _step_down(ratio, complement, k, 80.0, 80, logs=True)
    torch_path = _step_down_torch(ratio, complement, k, 80.0, 80, logs=True)
    for ours, reference in zip(torch_path, numpy_path, strict=True):
        torch.testing.assert_close(ours, reference, rtol=1e-14, atol=0)


@pytest.mark.parametrize("mu", [30.0, 31.5, 49.0])
def test_the_torch_expansion_for_accelerators_matches_the_numpy_one(mu: float) -> None:
    # Off the CPU (or traced) the Debye expansions run in torch, both orders of the
    # ratio through one batched product; run that branch here on CPU tensors of two dims.
    k = torch.logspace(-3, 300, 24, dtype=F64).reshape(4, 6)
    host = k.numpy().reshape(-1)
    for expansion in (_log_ratio_debye, _log_ive_debye):
        ours = expansion(mu, k)
        reference = torch.from_numpy(np.asarray(expansion(mu, host))).reshape(k.shape)
        torch.testing.assert_close(ours, reference, rtol=1e-14, atol=1e-14)


@pytest.mark.parametrize("nu", [0.0, 1.5, 49.0])
def test_the_slope_is_continuous_where_the_asymptotic_series_takes_over(nu: float) -> None:
    switch = 50 * (nu + 1) ** 2 + 50
    k = torch.tensor([switch * (1 - 1e-12), switch], dtype=F64)
    _, ratio, complement = log_ive_and_ratios(nu, k)
    below, above = ratio_slope(nu, k, ratio, complement).tolist()
    assert above == pytest.approx(below, rel=1e-8)


@pytest.mark.parametrize("dim", [2, 3, 5, 100])
@pytest.mark.parametrize("kappa", [1e-3, 1.0, 50.0, 1e3])
def test_survival_matches_adaptive_quadrature(dim: int, kappa: float) -> None:
    log_z = log_normalizer(torch.tensor(kappa, dtype=F64), dim).item()

    def density(t: float) -> float:
        return math.exp(kappa * math.cos(t) + (dim - 2) * math.log(math.sin(t)) - log_z)

    mode = math.acos(2 * kappa / (dim - 2 + math.sqrt((dim - 2) ** 2 + 4 * kappa**2)))
    thetas = [mode * 0.5, mode + 0.5 * (math.pi - mode) * 0.01, mode + 0.1, 2.0]
    for theta in thetas:
        reference = integrate.quad(density, theta, math.pi, epsabs=1e-13, limit=200)[0]
        ours = angle_survival(torch.tensor(theta, dtype=F64), torch.tensor(kappa, dtype=F64), dim)
        assert ours.item() == pytest.approx(reference, abs=1e-9)


def test_closed_forms_and_series_agree_with_the_quadrature() -> None:
    theta = torch.linspace(1e-4, math.pi - 1e-4, 501, dtype=F64)
    for kappa in [1e-3, 0.3, 2.0, 4.0, 100.0]:
        k = torch.tensor(kappa, dtype=F64)
        sphere = angle_dtheta_dkappa(theta, k, 3)
        quadrature = tail_quadrature(theta, k, 3)[2]
        assert torch.allclose(sphere, quadrature, atol=1e-8 * float(quadrature.abs().max()))
        if kappa <= 4.0:
            series = von_mises_dz_dkappa(theta, k)
            circle = tail_quadrature(theta, k, 2)[2]
            assert torch.allclose(series, circle, atol=1e-9 * float(circle.abs().max()))


def test_survival_is_differentiable() -> None:
    theta = torch.tensor([0.3, 1.2, 2.9], dtype=F64, requires_grad=True)
    kappa = torch.tensor(7.0, dtype=F64, requires_grad=True)
    assert torch.autograd.gradcheck(
        lambda t, k: angle_survival(t, k, 10), (theta, kappa), eps=1e-6, atol=1e-6
    )
