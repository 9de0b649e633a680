"""Per-sample gradient variances against exact values from numerical integration.

For ``x ~ N(mu, sigma^2)`` with ``mu = sigma = 1`` and ``f(x) = x^2`` (so
``x = mu + sigma e``, ``e ~ N(0, 1)``), the per-sample gradient terms are

* pathwise: ``d/dmu = 2 x``, ``d/dsigma = 2 x e`` (variances 4 and 12);
* score function, no baseline: ``d/dmu = f(x) e / sigma``,
  ``d/dsigma = f(x) (e^2 - 1) / sigma`` (the first has variance 30);
* measure-valued: ``d/dmu = (f(mu + sigma W) - f(mu - sigma W')) / (sigma sqrt(2 pi))``
  with Rayleigh ``W, W'``; ``d/dsigma = (f(mu + sigma M) - f(mu + sigma E)) / sigma`` with
  double-sided Maxwell ``M`` and ``E ~ N(0, 1)``; coupled: ``W' = W``, ``E = M U``.

The exact variances are computed here by quadrature (``scipy.integrate``) over
those densities, not by sampling, and compared with the sample variance of
40,000 independent one-sample estimates (z-test at false-failure rate 1e-4).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable

import pytest
import torch
from scipy import integrate

from reparam import expectation, per_sample_gradients
from reparam.lab import gradient_estimates
from tests.estimators import cases
from tests.stats import assert_variance, variance_z_scores, z_threshold

MU, SIGMA = 1.0, 1.0
TRIALS = 40_000
INF = math.inf


def f(x: float) -> float:
    return x * x


def normal_pdf(e: float) -> float:
    return math.exp(-e * e / 2) / math.sqrt(2 * math.pi)


def rayleigh_pdf(w: float) -> float:
    return w * math.exp(-w * w / 2)


def maxwell_pdf(m: float) -> float:
    return m * m * normal_pdf(m)


def moments(term: Callable[[float], float], pdf: Callable[[float], float], lo: float) -> tuple:
    """``E[T]`` and ``E[T^2]`` for ``T = term(u)``, ``u`` with density ``pdf`` on ``(lo, inf)``."""
    first = integrate.quad(lambda u: term(u) * pdf(u), lo, INF, epsabs=1e-12)[0]
    second = integrate.quad(lambda u: term(u) ** 2 * pdf(u), lo, INF, epsabs=1e-12)[0]
    return first, second


def variance(term: Callable[[float], float], pdf: Callable[[float], float], lo: float) -> float:
    first, second = moments(term, pdf, lo)
    return second - first**2


def difference_variance(plus: tuple, minus: tuple, weight: float) -> float:
    """``Var(weight (A - B))`` for independent ``A``, ``B`` given by their moments."""
    return weight**2 * (plus[1] - plus[0] ** 2 + minus[1] - minus[0] ** 2)


def coupled_scale_variance() -> float:
    """``Var((f(mu + sigma M) - f(mu + sigma M U)) / sigma)``, a double integral."""

    def term(u: float, m: float) -> float:
        return (f(MU + SIGMA * m) - f(MU + SIGMA * m * u)) / SIGMA

    first = integrate.dblquad(lambda u, m: term(u, m) * maxwell_pdf(m), -INF, INF, 0, 1)[0]
    second = integrate.dblquad(lambda u, m: term(u, m) ** 2 * maxwell_pdf(m), -INF, INF, 0, 1)[0]
    return second - first**2


MEAN_WEIGHT = 1 / (SIGMA * math.sqrt(2 * math.pi))


def exact_variances(estimator: str) -> tuple[float, float]:
    """Per-sample variances of the ``(d/dmu, d/dsigma)`` terms, by quadrature."""
    if estimator == "pathwise":
        return (
            variance(lambda e: 2 * (MU + SIGMA * e), normal_pdf, -INF),
            variance(lambda e: 2 * (MU + SIGMA * e) * e, normal_pdf, -INF),
        )
    if estimator == "score":
        return (
            variance(lambda e: f(MU + SIGMA * e) * e / SIGMA, normal_pdf, -INF),
            variance(lambda e: f(MU + SIGMA * e) * (e * e - 1) / SIGMA, normal_pdf, -INF),
        )
    scale_plus = moments(lambda m: f(MU + SIGMA * m), maxwell_pdf, -INF)
    if estimator == "mvd":
        mean = variance(
            lambda w: MEAN_WEIGHT * (f(MU + SIGMA * w) - f(MU - SIGMA * w)), rayleigh_pdf, 0.0
        )
        return mean, coupled_scale_variance()
    mean_plus = moments(lambda w: f(MU + SIGMA * w), rayleigh_pdf, 0.0)
    mean_minus = moments(lambda w: f(MU - SIGMA * w), rayleigh_pdf, 0.0)
    scale_minus = moments(lambda e: f(MU + SIGMA * e), normal_pdf, -INF)
    return (
        difference_variance(mean_plus, mean_minus, MEAN_WEIGHT),
        difference_variance(scale_plus, scale_minus, 1 / SIGMA),
    )


def test_quadrature_reproduces_the_known_values() -> None:
    """The figures quoted for ``N(1, 1)``, ``x^2``: 4 (pathwise) and 30 (score, mean)."""
    assert exact_variances("pathwise")[0] == pytest.approx(4.0, rel=1e-9)
    assert exact_variances("pathwise")[1] == pytest.approx(12.0, rel=1e-9)
    assert exact_variances("score")[0] == pytest.approx(30.0, rel=1e-9)


def one_sample_terms(estimator: str) -> torch.Tensor:
    family = dataclasses.replace(cases.NORMAL, values={"loc": MU, "scale": SIGMA})
    return gradient_estimates(family.problem("quadratic"), estimator, 1, TRIALS)


@pytest.mark.parametrize("estimator", ["pathwise", "score", "mvd", "mvd-uncoupled"])
def test_per_sample_variance_matches_quadrature(estimator: str) -> None:
    torch.manual_seed(41)
    exact = torch.tensor(exact_variances(estimator), dtype=torch.float64)
    assert_variance(one_sample_terms(estimator), exact)


def test_the_variance_check_rejects_a_wrong_value() -> None:
    """The same check fails when the expected variance is off by 5% (score's 30 vs 31.5)."""
    torch.manual_seed(41)
    z = variance_z_scores(one_sample_terms("score")[:, 0], 31.5)
    assert abs(z.item()) > z_threshold()


def test_per_sample_gradients_are_the_terms_of_the_estimate() -> None:
    """Their mean is the gradient of ``expectation``; their variance the per-sample one."""
    mu = torch.tensor(MU, dtype=torch.float64, requires_grad=True)
    sigma = torch.tensor(SIGMA, dtype=torch.float64, requires_grad=True)
    dist = torch.distributions.Normal(mu, sigma)
    torch.manual_seed(42)
    terms = per_sample_gradients(lambda x: x**2, dist, [mu, sigma], "score", num_samples=5)
    assert [t.shape for t in terms] == [(5,), (5,)]
    torch.manual_seed(42)
    grads = torch.autograd.grad(expectation(lambda x: x**2, dist, "score", 5), [mu, sigma])
    for term, grad in zip(terms, grads, strict=True):
        torch.testing.assert_close(term.mean(0), grad)
