"""``kl_divergence(VonMisesFisher, VonMisesFisher)`` in closed form.

Checked against Monte Carlo, ``mean(log p(x) - log q(x))`` over ``x ~ p`` in
float64, by a z-test at a false-failure rate of 1e-4 over all cases
(Bonferroni); a deliberately wrong formula (the mean resultant length left out
of the cross term) fails the same test. Also: ``KL(p, p) = 0`` exactly, the
limit ``k_q -> 0`` is the KL to the uniform distribution, batches broadcast.
"""

from __future__ import annotations

import math

import pytest
import torch
from torch import Tensor
from torch.distributions import kl_divergence

from reparam.distributions import HypersphericalUniform, VonMisesFisher
from tests.stats import z_threshold

SAMPLES = 200_000


def _unit(*values: float) -> Tensor:
    v = torch.tensor(values, dtype=torch.float64)
    return v / v.norm()


CASES = [
    (_unit(0, 0, 1), 5.0, _unit(0, 1, 0), 2.0),
    (_unit(1, 2, 2), 0.5, _unit(1, 2, 2.5), 30.0),
    (_unit(1, 0, 0, 0, 0), 40.0, _unit(1, 0.2, 0, 0, 0), 35.0),
    (_unit(*range(1, 11)), 3.0, _unit(*range(10, 0, -1)), 8.0),
]


def _pair(case: tuple[Tensor, float, Tensor, float]) -> tuple[VonMisesFisher, VonMisesFisher]:
    mu_p, k_p, mu_q, k_q = case
    k = lambda v: torch.tensor(v, dtype=torch.float64)  # noqa: E731
    return VonMisesFisher(mu_p, k(k_p)), VonMisesFisher(mu_q, k(k_q))


def _monte_carlo_z(kl: Tensor, p: VonMisesFisher, q: VonMisesFisher) -> float:
    torch.manual_seed(0)
    x = p.sample((SAMPLES,))
    terms = p.log_prob(x) - q.log_prob(x)
    return float((terms.mean() - kl) / (terms.std() / math.sqrt(SAMPLES)))


def _wrong_kl(p: VonMisesFisher, q: VonMisesFisher) -> Tensor:
    """The mean resultant length left out of the cross term: ``k_q mu_q^T mu_p`` alone."""
    log_c = lambda d: d._scaled_log_normalizer() - d.concentration  # noqa: E731
    a = p._mean_resultant()
    return log_c(p) - log_c(q) + a * p.concentration - q.concentration * (p.loc * q.loc).sum(-1)


def test_closed_form_matches_monte_carlo_and_a_wrong_formula_does_not() -> None:
    limit = z_threshold(count=len(CASES))
    wrong = []
    for case in CASES:
        p, q = _pair(case)
        z = _monte_carlo_z(kl_divergence(p, q), p, q)
        assert abs(z) < limit, (case, z)
        wrong.append(abs(_monte_carlo_z(_wrong_kl(p, q), p, q)))
    assert max(wrong) > limit


def test_matches_the_three_dimensional_formula() -> None:
    """``d = 3``: ``C(k) = k / (4 pi sinh k)`` and ``A(k) = coth k - 1 / k``."""
    p, q = _pair(CASES[0])
    a = 1 / math.tanh(5.0) - 1 / 5.0
    log_c = lambda k: math.log(k / (4 * math.pi * math.sinh(k)))  # noqa: E731
    expected = log_c(5.0) - log_c(2.0) + a * 5.0  # mu_q is orthogonal to mu_p
    assert float(kl_divergence(p, q)) == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize("kappa", [1e-3, 1.0, 50.0, 1e5])
@pytest.mark.parametrize("dim", [2, 3, 16])
def test_kl_of_a_distribution_with_itself_is_zero(kappa: float, dim: int) -> None:
    p = VonMisesFisher(_unit(*range(1, dim + 1)), torch.tensor(kappa, dtype=torch.float64))
    assert float(kl_divergence(p, p)) == 0.0


def test_the_limit_of_a_flat_q_is_the_kl_to_the_uniform_distribution() -> None:
    p = VonMisesFisher(_unit(1, 2, 3, 4), torch.tensor(6.0, dtype=torch.float64))
    flat = VonMisesFisher(_unit(0, 0, 0, 1), torch.tensor(1e-9, dtype=torch.float64))
    to_uniform = kl_divergence(p, HypersphericalUniform(4, dtype=torch.float64))
    torch.testing.assert_close(kl_divergence(p, flat), to_uniform, rtol=1e-8, atol=0)


def test_large_concentrations_near_directions_are_accurate_and_positive() -> None:
    """Two k = 1e6 directions 1e-4 apart: KL ~ k |mu_p - mu_q|^2 / 2 = 5e-3 (no cancellation)."""
    angle = 1e-4
    mu_p = torch.tensor([0.0, 0.0, 1.0], dtype=torch.float64)
    mu_q = torch.tensor([math.sin(angle), 0.0, math.cos(angle)], dtype=torch.float64)
    k = torch.tensor(1e6, dtype=torch.float64)
    kl = float(kl_divergence(VonMisesFisher(mu_p, k), VonMisesFisher(mu_q, k)))
    # KL = k A(k) (1 - cos angle), A = coth k - 1/k, 1 - cos angle = 2 sin^2(angle / 2)
    assert kl == pytest.approx(1e6 * (1 - 1e-6) * 2 * math.sin(angle / 2) ** 2, rel=1e-9)


def test_batches_broadcast_and_dimensions_must_match() -> None:
    p = VonMisesFisher(_unit(0, 0, 1).expand(4, 3), torch.linspace(1, 4, 4, dtype=torch.float64))
    q = VonMisesFisher(_unit(0, 1, 1), torch.tensor(2.0, dtype=torch.float64))
    kl = kl_divergence(p, q)
    assert kl.shape == (4,) and bool((kl > 0).all())
    with pytest.raises(ValueError, match="the dimensions must match"):
        kl_divergence(p, VonMisesFisher(_unit(0, 0, 0, 1), torch.tensor(1.0)))
