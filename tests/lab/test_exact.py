"""The lab's exact answers: gradients and per-sample variances of the built-in problems.

Exact per-sample variances come from quadrature; here they meet a high-sample
Monte Carlo estimate (2 * 10^5 independent gradient terms from the library's
own estimators) in a z-test on the variance at a false-failure rate of 1e-4
per (problem, estimator), split over its parameters. Exact gradients are checked
against quadrature by central differences, independently of the closed forms.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import pytest
import torch
from torch.distributions import Distribution, Normal

from reparam.estimators import Cost, Estimator, Pathwise, resolve_estimator
from reparam.lab import PROBLEMS, Problem, compare_problem
from reparam.lab._measurement import estimate, one_thread
from reparam.lab._quadrature import gamma_rule, normal_rule, standard_gamma_dalpha
from tests.stats import assert_mean, assert_variance

MC_TRIALS = 200_000


def monte_carlo_terms(problem: Problem, estimator: Estimator, seed: int) -> torch.Tensor:
    """``MC_TRIALS`` independent one-sample gradient terms ``[MC_TRIALS, P]``."""
    torch.manual_seed(seed)
    with one_thread():
        return estimate(problem, estimator, "under test", 1, MC_TRIALS).estimates


def problems() -> list[Problem]:
    # The Bernoulli toy at theta = 0 has a symmetric two-point score term, whose
    # sample variance has no normal limit (kurtosis 1); theta = 1 avoids that.
    return [f(theta=1.0) if n == "bernoulli-toy" else f() for n, f in PROBLEMS.items()]


CASES = [(p, e) for p in problems() for e in p.per_sample_variances]


@pytest.mark.parametrize(("problem", "estimator"), CASES, ids=[f"{p.name}-{e}" for p, e in CASES])
def test_exact_variance_matches_high_sample_monte_carlo(problem: Problem, estimator: str) -> None:
    resolved = resolve_estimator(estimator)
    terms = monte_carlo_terms(problem, resolved, seed=20261124)
    exact = problem.exact_variance(estimator, 1)
    assert exact is not None
    assert_variance(terms, exact)
    if resolved.unbiased:  # biased ones (straight-through, relaxations) are tested elsewhere
        assert_mean(terms, problem.flat_gradient())  # and the closed-form gradient is right


def test_every_problem_has_an_exact_gradient_and_some_exact_variance() -> None:
    for problem in problems():
        assert problem.flat_gradient() is not None
        assert problem.per_sample_variances, problem.name
    gaussian = {"pathwise", "score", "mvd", "mvd-uncoupled"}
    for name in ("channel", "quadratic", "cos", "bump"):
        assert set(PROBLEMS[name]().per_sample_variances) == gaussian
    assert set(PROBLEMS["gamma-poly"]().per_sample_variances) == {"pathwise", "score"}


def test_measure_valued_variances_match_the_closed_forms_for_a_quadratic() -> None:
    # x ~ N(1, 1), f = x^2 (quadratic with k = 0): by hand, coupled, mean:
    # c^2 Var(4 W) = (16 / 2 pi) (2 - pi / 2); scale: Var(M^2 (1 - U^2) + 2 M (1 - U)) = 8.
    # Uncoupled: (1 / 2 pi) (Var f(1 + W) + Var f(1 - W)) and Var (M + 1)^2 + Var (E + 1)^2.
    problem = PROBLEMS["quadratic"](k=0.0)
    coupled = problem.per_sample_variances["mvd"]()
    assert float(coupled["mu"]) == pytest.approx(16 / (2 * math.pi) * (2 - math.pi / 2))
    assert float(coupled["sigma"]) == pytest.approx(8.0)
    uncoupled = problem.per_sample_variances["mvd-uncoupled"]()
    assert float(uncoupled["sigma"]) == pytest.approx(24.0)  # 18 + 6


def test_the_variance_check_rejects_a_wrong_exact_variance() -> None:
    # Pathwise terms here have a kurtosis near 3: the variance is resolved to
    # ~0.5%, so a 5% error is ~10 standard errors. (Heavy-tailed terms, e.g. the
    # score function's on gamma-poly, are resolved only to ~5%.)
    problem = PROBLEMS["quadratic"]()
    terms = monte_carlo_terms(problem, resolve_estimator("pathwise"), seed=0)
    exact = problem.exact_variance("pathwise", 1)
    assert exact is not None
    assert_variance(terms, exact)
    with pytest.raises(AssertionError):
        assert_variance(terms, exact * 1.05)


class WidePathwise(Pathwise):
    """Deliberately wrong: samples Normal(loc, 1.1 * scale) instead of Normal(loc, scale)."""

    def surrogate(self, f: Cost, dist: Distribution, num_samples: int) -> torch.Tensor:
        assert isinstance(dist, Normal)
        z = dist.rsample(torch.Size([num_samples]))
        return f(dist.loc + 1.1 * (z - dist.loc))


def test_the_variance_check_rejects_a_wrong_estimator() -> None:
    problem = PROBLEMS["cos"]()
    terms = monte_carlo_terms(problem, WidePathwise(), seed=0)
    exact = problem.exact_variance("pathwise", 1)
    with pytest.raises(AssertionError):
        assert_variance(terms, exact)


def test_lab_variance_at_four_samples_is_the_exact_per_sample_variance_over_four() -> None:
    for name in ("quadratic", "gamma-poly", "dirichlet-poly"):
        result = compare_problem(name, ["pathwise", "score"], num_samples=4, trials=20_000)
        problem = PROBLEMS[name]()
        for estimator in ("pathwise", "score"):
            exact = problem.exact_variance(estimator, 4)
            rows = [r for r in result.rows if r.estimator == estimator]
            if exact is None:
                assert all(r.exact_variance is None for r in rows)
                continue
            assert [r.exact_variance for r in rows] == pytest.approx(exact.tolist(), rel=1e-12)
            # Bonferroni over the three problems' checks: 1e-4 in all.
            assert_variance(result.estimates[(estimator, 4)], exact, rate=1e-4 / 6)


def central_difference(objective: Callable[[float], float], x: float, h: float = 1e-5) -> float:
    return (objective(x + h) - objective(x - h)) / (2 * h)


@pytest.mark.parametrize("name", ["quadratic", "cos", "bump"])
@pytest.mark.parametrize("k", [0.5, 2.0])
def test_gaussian_gradients_match_quadrature(name: str, k: float) -> None:
    cost = {
        "quadratic": lambda x: (x - k) ** 2,
        "cos": lambda x: torch.cos(k * x),
        "bump": lambda x: torch.exp(-k * x**2),
    }[name]
    eps, w = normal_rule()

    def mean(mu: float, sigma: float) -> float:
        return float((w * cost(mu + sigma * eps)).sum())

    gradient = PROBLEMS[name](k=k).flat_gradient()
    assert gradient is not None
    expected = [
        central_difference(lambda m: mean(m, 1.0), 1.0),
        central_difference(lambda s: mean(1.0, s), 1.0),
    ]
    assert gradient.tolist() == pytest.approx(expected, rel=1e-6, abs=1e-9)


def test_channel_bernoulli_and_gamma_gradients_match_direct_computation() -> None:
    channel = PROBLEMS["channel"](delta=0.7).flat_gradient()
    assert channel is not None and channel.tolist() == pytest.approx([1.4])
    t, theta = 0.49, 1.0
    toy = PROBLEMS["bernoulli-toy"](t=t, theta=theta).flat_gradient()

    def bernoulli_mean(x: float) -> float:
        p = 1 / (1 + math.exp(-x))
        return p * (1 - t) ** 2 + (1 - p) * t**2

    assert toy is not None
    assert toy.tolist() == pytest.approx([central_difference(bernoulli_mean, theta)], rel=1e-6)

    def gamma_mean(alpha: float, rate: float) -> float:
        w, weights = gamma_rule(alpha)
        return float((weights * (w / rate - 1) ** 2).sum())

    gamma = PROBLEMS["gamma-poly"]().flat_gradient()
    assert gamma is not None
    expected = [
        central_difference(lambda a: gamma_mean(a, 1.0), 2.0),
        central_difference(lambda r: gamma_mean(2.0, r), 1.0),
    ]
    assert gamma.tolist() == pytest.approx(expected, rel=1e-5)


def test_implicit_gamma_derivative_matches_torch_and_is_continuous() -> None:
    alpha = torch.full((2000,), 2.0, dtype=torch.float64, requires_grad=True)
    torch.manual_seed(1)
    w = torch.distributions.Gamma(alpha, 1.0).rsample()
    (torch_dw,) = torch.autograd.grad(w.sum(), alpha)
    # PyTorch's own implicit derivative is an approximation good to ~1e-4.
    ours = standard_gamma_dalpha(w.detach(), 2.0)
    assert ours.tolist() == pytest.approx(torch_dw.tolist(), rel=1e-3)
    near_one = torch.tensor([1 - 1e-9, 1.0], dtype=torch.float64)  # the two forms meet
    below, above = standard_gamma_dalpha(near_one, 2.0).tolist()
    assert below == pytest.approx(above, rel=1e-7)
