"""TruncatedNormal against 700-digit references: any scale, narrow intervals, far tails.

The tolerances are the accuracy the module docstring states: ``1e-13`` in float64
(relative for the variance; for the mean, of the standard deviation plus one
ulp of the mean itself; for ``log_prob`` and the entropy, of ``max(1, |value|)``;
absolute for the CDF), and float32's rounding in float32. A quantile is judged
by the reference CDF at it, allowing one ulp of the quantile times the density:
no float nearer to the exact quantile exists.
"""

from __future__ import annotations

import math

import pytest
import torch

from reparam.distributions import TruncatedNormal
from tests.distributions.truncated_normal_reference import Reference

INF = math.inf
WIDE = [(0.0, s, -1.0, 1.0) for s in (1e6, 1e8, 1e12, 1e15, 1e16, 1e17, 1e150)] + [
    (0.3, 1e10, -1.0, 2.0),
    (5.0, 1e12, -1.0, 1.0),
]
NARROW = [
    (0.0, 1.0, 0.0, 1e-5),
    (0.0, 1.0, -2.0, -2.0 + 1e-8),
    (0.0, 1.0, 0.0, 1e-16),
    (0.0, 1.0, 8.0, 8.0 + 1e-10),
    (5.0, 2.0, 1e3, 1e3 + 1e-9),
    (0.0, 1.0, -0.7, 0.7),
]
CENTRAL = [
    (0.3, 1.5, -1.0, 2.0),
    (0.0, 1.0, -INF, 0.5),
    (1.0, 0.5, 1.2, INF),
    (0.0, 1.0, -1.42, 1.42),
    (0.0, 1.0, -2.5, -1.5),
    (0.0, 1.0, -1e6, -2.9),
]
TAIL = [
    (0.0, 1.0, 8.0, 9.0),
    (0.0, 1.0, 30.0, INF),
    (0.0, 1e-4, 1.0, 2.0),
    (2.0, 2.0, -16.0, -14.0),
    (0.0, 1.0, -40.0, -39.9),
]
CASES = WIDE + NARROW + CENTRAL + TAIL
PROBABILITIES = (1e-6, 0.01, 0.5, 0.97, 1 - 1e-6)
EPS = torch.finfo(torch.float64).eps
RTOL = {torch.float64: 1e-13, torch.float32: 4 * torch.finfo(torch.float32).eps}


def rounded(case: tuple[float, ...], dtype: torch.dtype) -> tuple[float, ...] | None:
    """The parameters as ``dtype`` holds them; ``None`` where they are no longer valid."""
    values = tuple(torch.tensor(v, dtype=dtype).item() for v in case)
    loc, scale, low, high = values
    if not (math.isfinite(loc) and math.isfinite(scale) and scale > 0 and low < high):
        return None
    return values


def ulp(x: float, dtype: torch.dtype) -> float:
    return torch.finfo(dtype).eps * abs(x)


def moment_failures(
    mean: float, variance: float, entropy: float, ref: Reference, dtype: torch.dtype
) -> list[str]:
    rtol, failures = RTOL[dtype], []
    exact_mean, exact_var, exact_entropy = ref.mean(), ref.variance(), ref.entropy()
    if not abs(mean - exact_mean) <= rtol * math.sqrt(exact_var) + ulp(exact_mean, dtype):
        failures.append(f"mean {mean!r} against {exact_mean!r}")
    if not abs(variance - exact_var) <= rtol * exact_var:
        failures.append(f"variance {variance!r} against {exact_var!r}")
    if not abs(entropy - exact_entropy) <= rtol * max(1.0, abs(exact_entropy)):
        failures.append(f"entropy {entropy!r} against {exact_entropy!r}")
    return failures


def ids(case: tuple[float, ...]) -> str:
    return "loc={}-scale={}-[{},{}]".format(*case)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("case", CASES, ids=ids)
def test_moments_match_the_reference(case: tuple[float, ...], dtype: torch.dtype) -> None:
    values = rounded(case, dtype)
    if values is None:
        pytest.skip(f"the parameters do not survive rounding to {dtype}")
    dist = TruncatedNormal(*(torch.tensor(v, dtype=dtype) for v in values), validate_args=True)
    ref = Reference(*values)
    mean, var, entropy = dist.mean, dist.variance, dist.entropy()
    assert mean.dtype == var.dtype == entropy.dtype == dtype
    assert moment_failures(mean.item(), var.item(), entropy.item(), ref, dtype) == []


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("case", CASES, ids=ids)
def test_quantile_cdf_and_log_prob_match_the_reference(
    case: tuple[float, ...], dtype: torch.dtype
) -> None:
    values = rounded(case, dtype)
    if values is None:
        pytest.skip(f"the parameters do not survive rounding to {dtype}")
    rtol = RTOL[dtype]
    dist = TruncatedNormal(*(torch.tensor(v, dtype=dtype) for v in values), validate_args=True)
    ref = Reference(*values)
    u = torch.tensor(PROBABILITIES, dtype=dtype)
    z = dist.icdf(u)
    assert z.dtype == dtype and bool(((z >= values[2]) & (z <= values[3])).all())
    cdf, log_prob = dist.cdf(z), dist.log_prob(z)
    for i, point in enumerate(z.tolist()):
        exact_cdf = float(ref.cdf(point))
        slack = float(ref.density(point)) * ulp(point, dtype)
        assert abs(exact_cdf - u[i].item()) <= rtol + slack, (point, exact_cdf, u[i].item())
        assert abs(cdf[i].item() - exact_cdf) <= rtol, (point, cdf[i].item(), exact_cdf)
        exact_log_prob = ref.log_prob(point)
        error = abs(log_prob[i].item() - exact_log_prob)
        assert error <= rtol * max(1.0, abs(exact_log_prob)), (point, error)


@pytest.mark.parametrize("case", CASES, ids=ids)
def test_quantile_gradients_match_the_implicit_formula(case: tuple[float, ...]) -> None:
    # dz/dtheta = -(dF(z; theta)/dtheta) / f(z), the reference differentiating F at 700 digits.
    leaves = [torch.tensor(v, dtype=torch.float64, requires_grad=True) for v in case]
    ref = Reference(*case)
    for u in (0.01, 0.5, 0.97):
        z = TruncatedNormal(*leaves).icdf(torch.tensor(u, dtype=torch.float64))
        grads = torch.autograd.grad(z, leaves)
        # at the exact quantile: the float z answers a probability up to f(z) ulp(z) away
        exact_z = ref.quantile(u, z.item())
        loc, scale, low, high = case
        for name, value, grad in zip(("loc", "scale", "low", "high"), case, grads, strict=True):
            if not math.isfinite(value):
                continue
            exact = ref.quantile_gradient(exact_z, name)
            # a derivative crossing zero is judged against the standardized distances
            floor = 10 * EPS * (abs(z.item() - loc) + abs(low - loc) + abs(high - loc)) / scale
            floor = floor if math.isfinite(floor) else 10 * EPS
            assert abs(grad.item() - exact) <= 1e-10 * abs(exact) + floor, (name, u, grad, exact)


def naive_moments(loc: float, scale: float, low: float, high: float) -> tuple[float, ...]:
    """The textbook forms in float64: differences of ``Phi``, ``1 + tilt - mean^2``."""
    a, b = (torch.tensor((v - loc) / scale, dtype=torch.float64) for v in (low, high))
    phi = lambda x: torch.exp(-0.5 * x * x) / math.sqrt(2 * math.pi)  # noqa: E731
    z = torch.special.ndtr(b) - torch.special.ndtr(a)
    m = (phi(a) - phi(b)) / z
    tilt = (a * phi(a) - b * phi(b)) / z
    entropy = 0.5 * math.log(2 * math.pi * math.e) + math.log(scale) + torch.log(z) + 0.5 * tilt
    return (loc + scale * m.item(), scale**2 * (1 + tilt - m * m).item(), entropy.item())


@pytest.mark.parametrize(
    "case", [(0.0, 1e8, -1.0, 1.0), (0.0, 1.0, -2.0, -2.0 + 1e-8), (0.0, 1e-4, 1.0, 2.0)], ids=ids
)
def test_the_textbook_forms_fail_the_same_check(case: tuple[float, ...]) -> None:
    failures = moment_failures(*naive_moments(*case), Reference(*case), torch.float64)
    assert failures, "the check cannot tell the naive forms from accurate ones"


def test_the_issue_cases_give_the_uniform_limit() -> None:
    # TruncatedNormal(0, s, -1, 1): variance 1/3, samples spread over [-1, 1], finite log_prob.
    for s in (1e6, 1e8, 1e12, 1e15, 1e16, 1e17):
        dist = TruncatedNormal(0.0, torch.tensor(s, dtype=torch.float64), -1.0, 1.0)
        assert dist.variance.item() == pytest.approx(1 / 3, rel=1e-14)
        x = dist.icdf(torch.linspace(0, 1, 1001, dtype=torch.float64))
        assert x.unique().numel() == 1001
        # log f = -log 2 + O(1 / s^2): the density's curvature over the interval
        assert dist.log_prob(x).sub(-math.log(2)).abs().max().item() <= max(1 / s**2, 4 * EPS)
        assert dist.mean.abs().item() < 1e-14
