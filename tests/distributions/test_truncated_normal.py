"""TruncatedNormal: implicit gradients, closed-form moments, tails far out, errors."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy import stats

from reparam.distributions import TruncatedNormal
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
# (loc, scale, low, high): central, one-sided, and far in either tail.
CASES = [
    (0.3, 1.5, -1.0, 2.0),
    (1.0, 0.5, 1.2, math.inf),
    (0.0, 1.0, 8.0, 9.0),
    (2.0, 2.0, -16.0, -14.0),
]


def params(case: tuple[float, ...]) -> list[torch.Tensor]:
    return [torch.tensor(v, dtype=F64) for v in case]


def scipy_dist(loc: float, scale: float, low: float, high: float) -> stats.rv_continuous:
    return stats.truncnorm((low - loc) / scale, (high - loc) / scale, loc=loc, scale=scale)


@pytest.mark.parametrize("case", CASES[:3])
def test_moments_match_scipy(case: tuple[float, ...]) -> None:
    dist = TruncatedNormal(*params(case))
    reference = scipy_dist(*case)
    assert dist.mean.item() == pytest.approx(reference.mean(), rel=1e-10)
    assert dist.variance.item() == pytest.approx(reference.var(), rel=1e-8)


def test_far_tail_moments_match_the_mirrored_interval() -> None:
    # [8, 9] sd out: compare with the mirror image [-9, -8], where SciPy is accurate.
    dist = TruncatedNormal(*params((0.0, 1.0, 8.0, 9.0)))
    reference = stats.truncnorm(-9.0, -8.0)
    assert dist.mean.item() == pytest.approx(-reference.mean(), rel=1e-12)
    assert dist.variance.item() == pytest.approx(reference.var(), rel=1e-8)
    assert dist.entropy().item() == pytest.approx(reference.entropy(), rel=1e-9)


@pytest.mark.parametrize("case", [CASES[0], CASES[1], (0.0, 1.0, -9.0, -8.0)])
def test_per_sample_gradient_matches_finite_differences_of_scipy_quantile(
    case: tuple[float, ...],
) -> None:
    u = torch.tensor([0.02, 0.3, 0.5, 0.77, 0.999], dtype=F64)
    leaves = [p.requires_grad_(True) for p in params(case)]
    samples = TruncatedNormal(*leaves).icdf(u)
    jacobian = torch.stack(
        [torch.stack(torch.autograd.grad(x, leaves, retain_graph=True)) for x in samples]
    )
    for i, value in enumerate(case):
        if not math.isfinite(value):
            continue
        h = 1e-6 * max(1.0, abs(value))
        up, down = list(case), list(case)
        up[i], down[i] = value + h, value - h
        fd = (scipy_dist(*up).ppf(u.numpy()) - scipy_dist(*down).ppf(u.numpy())) / (2 * h)
        np.testing.assert_allclose(jacobian[:, i].numpy(), fd, rtol=1e-5, atol=1e-7)


def first_two_moments(
    loc: torch.Tensor, scale: torch.Tensor, low: torch.Tensor, high: torch.Tensor
) -> torch.Tensor:
    dist = TruncatedNormal(loc, scale, low, high)
    return dist.mean + 0.1 * (dist.variance + dist.mean**2)


@pytest.mark.parametrize("case", CASES)
def test_pathwise_gradient_of_moments_is_unbiased(case: tuple[float, ...]) -> None:
    torch.manual_seed(1)
    ps = params(case)
    terms = gradient_terms(lambda x: x + 0.1 * x**2, TruncatedNormal, ps, num=10_000)
    for term, exact, value in zip(terms, exact_gradients(first_two_moments, ps), case, strict=True):
        if math.isfinite(value):
            assert_mean(term, exact)


def test_score_function_estimator_works_with_log_prob() -> None:
    # Fixed bounds: with bounds that require grad the score function misses a
    # boundary term, and the library refuses it.
    torch.manual_seed(2)
    loc, scale, low, high = params(CASES[0])

    def make(loc: torch.Tensor, scale: torch.Tensor) -> TruncatedNormal:
        return TruncatedNormal(loc, scale, low, high)

    def exact(loc: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
        return first_two_moments(loc, scale, low, high)

    terms = gradient_terms(lambda x: x + 0.1 * x**2, make, [loc, scale], 20_000, "score")
    for term, expected in zip(terms, exact_gradients(exact, [loc, scale]), strict=True):
        assert_mean(term, expected)


def test_dropping_the_upper_bound_term_fails_the_same_z_test() -> None:
    # dz/dloc = 1 - dx/da - dx/db; a sampler that forgot how the upper bound moves
    # with loc would give 1 - dx/da.
    torch.manual_seed(3)
    loc, scale, low, high = params(CASES[0])
    lows = low.expand(10_000).clone().requires_grad_(True)
    x = TruncatedNormal(loc, scale, lows, high).rsample()
    (dx_da,) = torch.autograd.grad(x.sum(), lows)
    exact = exact_gradients(lambda m: TruncatedNormal(m, scale, low, high).mean, [loc])[0]
    assert mean_z_scores(1.0 - dx_da, exact).abs().max() > z_threshold()


@pytest.mark.parametrize("case", CASES)
def test_samples_pass_a_ks_test_against_the_cdf(case: tuple[float, ...]) -> None:
    torch.manual_seed(4)
    dist = TruncatedNormal(*params(case))
    x = dist.rsample((5000,))
    assert_ks(dist.cdf(x))


def test_a_wrong_sampler_fails_the_ks_test() -> None:
    torch.manual_seed(5)
    x = TruncatedNormal(*params((0.0, 1.4, -1.0, 2.0))).rsample((5000,))
    assert ks_statistics(TruncatedNormal(*params((0.0, 1.0, -1.0, 2.0))).cdf(x)) > ks_threshold(
        5000
    )


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize(
    ("low", "high"), [(8.0, 9.0), (-9.0, -8.0), (30.0, 31.0), (-math.inf, -40.0), (-1e-6, 1e-6)]
)
def test_no_nan_or_inf_far_in_the_tails(dtype: torch.dtype, low: float, high: float) -> None:
    torch.manual_seed(6)
    leaves = [torch.tensor(v, dtype=dtype, requires_grad=True) for v in (0.0, 1.0, low, high)]
    dist = TruncatedNormal(*leaves)
    x = dist.rsample((2000,))
    assert x.dtype == dtype and bool(torch.isfinite(x).all())
    assert bool(((x >= low) & (x <= high)).all())
    loss = (
        (x**2).sum() + dist.log_prob(x.detach()).sum() + dist.entropy() + dist.mean + dist.variance
    )
    grads = torch.autograd.grad(loss, leaves, allow_unused=True)
    assert all(g is None or bool(torch.isfinite(g).all()) for g in grads)


def test_bad_parameters_are_rejected_naming_them() -> None:
    with pytest.raises(ValueError, match="scale"):
        TruncatedNormal(0.0, 0.0, -1.0, 1.0)
    with pytest.raises(ValueError, match="low and high"):
        TruncatedNormal(0.0, 1.0, 1.0, 1.0)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="CUDA not available")
def test_cuda() -> None:
    loc = torch.tensor(0.0, device="cuda", requires_grad=True)
    x = TruncatedNormal(loc, 1.0, 8.0, 9.0).rsample((100,))
    x.sum().backward()
    assert x.device.type == "cuda" and loc.grad is not None


class _Subclass(TruncatedNormal):
    pass


def test_expand_keeps_validation_and_the_subclass() -> None:
    dist = _Subclass(0.0, 1.0, -1.0, 1.0, validate_args=True)
    expanded = dist.expand((2,))
    assert type(expanded) is _Subclass and expanded.batch_shape == (2,)
    with pytest.raises(ValueError, match="support"):
        expanded.log_prob(torch.tensor(5.0))
    quiet = TruncatedNormal(0.0, 1.0, -1.0, 1.0, validate_args=False).expand((2,))
    assert bool((quiet.log_prob(torch.tensor(5.0)) == -math.inf).all())


@pytest.mark.parametrize(
    ("name", "args"),
    [("loc", (math.inf, 1.0)), ("loc", (-math.inf, 1.0)), ("scale", (0.0, math.inf))],
)
def test_infinite_loc_or_scale_is_refused(name: str, args: tuple[float, float]) -> None:
    with pytest.raises(ValueError, match=name):
        TruncatedNormal(*args, -1.0, 1.0, validate_args=True)


def test_mode_is_loc_clamped_to_the_interval() -> None:
    dist = TruncatedNormal(torch.tensor([-3.0, 0.5, 4.0]), 1.0, -1.0, 2.0)
    assert dist.mode.tolist() == [-1.0, 0.5, 2.0]


def test_icdf_outside_0_1_is_refused_or_nan() -> None:
    outside = torch.tensor([-0.1, 1.5])
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        TruncatedNormal(0.0, 1.0, -1.0, 1.0, validate_args=True).icdf(outside)
    quiet = TruncatedNormal(0.0, 1.0, -1.0, 1.0, validate_args=False)
    assert bool(quiet.icdf(outside).isnan().all())
    assert quiet.icdf(torch.tensor([0.0, 1.0])).tolist() == [-1.0, 1.0]
