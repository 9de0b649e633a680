"""Implicit angle gradients chained through levels, against adaptive quadrature."""

from __future__ import annotations

import math

import pytest
import torch
from scipy import integrate

from reparam.distributions._special.angle import _mode, angle_dtheta_dkappa
from reparam.distributions._special.angle_chain import (
    LEVELS,
    MIN_SHARED,
    chained_dtheta_dkappa,
    shares_concentration,
)
from reparam.distributions._special.bessel import bessel_iv_ratio
from reparam.distributions._special.limit_law import concentrated_threshold
from reparam.distributions._von_mises_fisher import vmf_angle

F64 = torch.float64


def reference(theta: float, kappa: float, dim: int) -> float:
    """``d theta / d k`` by adaptive quadrature over the side away from the mode."""
    k = torch.tensor(kappa, dtype=F64)
    mean_cos = bessel_iv_ratio(dim / 2 - 1, k).item()
    mode = _mode(k, dim).item()

    def log_h(t: float) -> float:
        return kappa * math.cos(t) + (dim - 2) * math.log(math.sin(t))

    def integrand(t: float) -> float:
        return (math.cos(t) - mean_cos) * math.exp(log_h(t) - log_h(theta))

    if theta >= mode:
        return integrate.quad(integrand, theta, math.pi, epsabs=1e-14, epsrel=1e-12, limit=400)[0]
    return -integrate.quad(integrand, 0.0, theta, epsabs=1e-14, epsrel=1e-12, limit=400)[0]


KAPPAS: list[float | str] = [1e-3, 1.0, 10.0, 300.0, "threshold"]
CASES = [(dim, kappa) for dim in (4, 5, 10, 100) for kappa in KAPPAS]
CASES += [(2, kappa) for kappa in (10.0, 300.0, "threshold")]  # below 4: the Fourier series


@pytest.mark.parametrize(("dim", "kappa"), CASES)
def test_chained_slopes_match_adaptive_quadrature(dim: int, kappa: float | str) -> None:
    k = 0.99 * concentrated_threshold(dim) if kappa == "threshold" else float(kappa)
    torch.manual_seed(0)
    theta = vmf_angle(torch.tensor(k, dtype=F64), dim, torch.Size([4000]))
    chained = chained_dtheta_dkappa(theta, torch.tensor(k, dtype=F64), dim)
    order = theta.argsort()
    checked = torch.cat([order[:15], order[-15:], order[torch.randperm(4000)[:40]]])
    expected = torch.tensor([reference(theta[i].item(), k, dim) for i in checked], dtype=F64)
    scale = expected.abs().max()
    assert torch.allclose(chained[checked], expected, rtol=0, atol=1e-8 * float(scale))


def test_a_batch_of_concentrations_matches_the_per_angle_rule() -> None:
    torch.manual_seed(1)
    kappa = torch.tensor([[0.5, 10.0, 300.0]], dtype=F64)
    theta = vmf_angle(kappa, 10, torch.Size([500, 1, 3]))
    chained = chained_dtheta_dkappa(theta, kappa, 10)
    per_angle = angle_dtheta_dkappa(theta, kappa, 10)
    assert torch.allclose(chained, per_angle, rtol=0, atol=1e-9 * float(per_angle.abs().max()))


def test_ties_far_tails_and_one_sided_batches() -> None:
    """Repeated angles, angles past the last level (per-angle rule), all on one side."""
    k = torch.tensor(30.0, dtype=F64)
    mode = _mode(k, 10).item()
    cases = {
        "ties": torch.tensor([0.3, 0.3, 0.3, 0.5, 0.5, 0.9, 1.2, 1.2], dtype=F64),
        "beyond the last level": torch.tensor(
            [0.01, 0.02, 0.4, 0.6, 2.0, 2.5, 3.0, 3.1], dtype=F64
        ),
        "upper side only": torch.linspace(mode + 0.01, 2.0, 16, dtype=F64),
        "lower side only": torch.linspace(0.02, mode - 0.01, 16, dtype=F64),
    }
    for name, theta in cases.items():
        expected = torch.tensor([reference(t, 30.0, 10) for t in theta.tolist()], dtype=F64)
        got = chained_dtheta_dkappa(theta, k, 10)
        scale = float(expected.abs().max())
        assert torch.allclose(got, expected, rtol=0, atol=1e-8 * scale), name
    far = (30.0 * (1 - math.cos(3.1)) - 8 * math.log(math.sin(3.1) / math.sin(mode))) > LEVELS
    assert far  # the case above does reach past the last level


def test_when_chaining_applies() -> None:
    k = torch.tensor(2.0, dtype=F64)
    assert shares_concentration(torch.zeros(MIN_SHARED, dtype=F64), k, 10)
    assert not shares_concentration(torch.zeros(MIN_SHARED - 1, dtype=F64), k, 10)
    assert not shares_concentration(torch.zeros(MIN_SHARED, dtype=F64), k, 3)  # closed form
    assert shares_concentration(torch.zeros(MIN_SHARED, dtype=F64), k, 2)  # von Mises
    batch = torch.ones(4, dtype=F64)
    assert shares_concentration(torch.zeros(MIN_SHARED, 4, dtype=F64), batch, 10)
    assert not shares_concentration(torch.zeros(MIN_SHARED, 4, 1, dtype=F64), batch, 10)
