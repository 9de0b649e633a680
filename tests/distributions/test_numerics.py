"""The shared numerics: Bessel functions, the angle's survival function and derivatives."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy import integrate, special

from reparam.distributions._angular import (
    angle_dtheta_dkappa,
    angle_survival,
    log_normalizer,
    tail_quadrature,
)
from reparam.distributions._bessel import bessel_iv_ratio, log_bessel_iv, log_iv_and_ratio
from reparam.distributions._von_mises_series import von_mises_dz_dkappa

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


def test_bessel_derivatives_are_exact_identities() -> None:
    k = torch.tensor([1e-3, 0.7, 30.0, 900.0], dtype=F64, requires_grad=True)
    for nu in (0.0, 1.5, 49.0):
        assert torch.autograd.gradcheck(lambda x, n=nu: log_bessel_iv(n, x), (k,), atol=1e-6)
        assert torch.autograd.gradcheck(lambda x, n=nu: bessel_iv_ratio(n, x), (k,), atol=1e-6)


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
