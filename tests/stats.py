"""Statistical checks with a stated false-failure rate.

Every randomized test in this suite fixes its seed, so it either always passes
or always fails; the false-failure rate says how unlucky a seed would have to be
for a *correct* estimator to fail: the probability, over seeds, that the check
rejects when the null hypothesis (the estimator is right) holds. Each function
returns the z-scores so a test can also show that a deliberately wrong estimator
is rejected.

A check over ``k`` values uses a per-value rate of ``rate / k`` (Bonferroni).
"""

from __future__ import annotations

import functools
import math

import torch
from torch import Tensor

FALSE_FAILURE_RATE = 1e-4
"""Default per-check false-failure rate."""


def z_threshold(rate: float = FALSE_FAILURE_RATE, count: int = 1) -> float:
    """Two-sided standard normal quantile for a total rate over ``count`` checks."""
    per_check = rate / count
    return (
        math.sqrt(2.0)
        * torch.special.erfinv(torch.tensor(1.0 - per_check, dtype=torch.float64)).item()
    )


def mean_z_scores(samples: Tensor, expected: Tensor | float) -> Tensor:
    """z-scores of the sample mean over dim 0 against ``expected``."""
    samples = samples.to(torch.float64)
    n = samples.shape[0]
    mean = samples.mean(0)
    stderr = samples.std(0) / math.sqrt(n)
    expected_t = torch.as_tensor(expected, dtype=torch.float64)
    diff = mean - expected_t
    # A zero standard error (a constant estimator) must match exactly.
    return torch.where(
        stderr > 0, diff / stderr.clamp_min(1e-300), diff.abs() * math.inf
    ).nan_to_num(0.0)


def variance_z_scores(samples: Tensor, expected: Tensor | float) -> Tensor:
    """z-scores of the sample variance over dim 0 against ``expected``.

    Uses the asymptotic standard error of the sample variance,
    ``sqrt((m4 - s^4) / n)``, with the fourth central moment ``m4`` estimated from
    the same samples (valid for large ``n``; use n >= 10^4).
    """
    samples = samples.to(torch.float64)
    n = samples.shape[0]
    centred = samples - samples.mean(0)
    variance = centred.pow(2).mean(0) * n / (n - 1)
    m4 = centred.pow(4).mean(0)
    stderr = ((m4 - variance.pow(2)).clamp_min(0) / n).sqrt()
    return (variance - torch.as_tensor(expected, dtype=torch.float64)) / stderr


def assert_mean(
    samples: Tensor, expected: Tensor | float, rate: float = FALSE_FAILURE_RATE
) -> None:
    """Two-sided z-test that ``samples.mean(0)`` estimates ``expected``."""
    z = mean_z_scores(samples, expected)
    limit = z_threshold(rate, z.numel())
    assert bool((z.abs() <= limit).all()), (
        f"mean off by {z.abs().max().item():.2f} standard errors (limit {limit:.2f} at "
        f"false-failure rate {rate}): mean {samples.double().mean(0)}, expected {expected}"
    )


def assert_unbiased(estimates: Tensor, exact: Tensor, rate: float = FALSE_FAILURE_RATE) -> None:
    """z-test of every column's mean against ``exact`` at total false-failure rate ``rate``.

    Columns whose estimates are all equal (a deterministic gradient, e.g. a
    linear cost's pathwise gradient in the mean) have no standard error: they
    must equal the exact value up to float64 rounding.
    """
    spread = estimates.max(0).values - estimates.min(0).values
    scale = 1.0 + exact.abs()
    fixed = spread <= 1e-12 * scale
    if bool(fixed.any()):
        error = (estimates.mean(0) - exact).abs()[fixed]
        assert bool((error <= 1e-9 * scale[fixed]).all()), (
            f"deterministic gradient {estimates.mean(0)[fixed]} != exact {exact[fixed]}"
        )
    if bool(fixed.all()):
        return
    z = mean_z_scores(estimates[:, ~fixed], exact[~fixed])
    limit = z_threshold(rate, int((~fixed).sum()))
    assert bool((z.abs() <= limit).all()), (
        f"gradient off by {z.abs().max().item():.2f} standard errors (limit {limit:.2f} at "
        f"false-failure rate {rate}): mean {estimates.mean(0)}, exact {exact}"
    )


def assert_variance(
    samples: Tensor, expected: Tensor | float, rate: float = FALSE_FAILURE_RATE
) -> None:
    """Two-sided z-test that the sample variance over dim 0 estimates ``expected``."""
    z = variance_z_scores(samples, expected)
    limit = z_threshold(rate, z.numel())
    assert bool((z.abs() <= limit).all()), (
        f"variance off by {z.abs().max().item():.2f} standard errors (limit {limit:.2f}): "
        f"variance {samples.double().var(0)}, expected {expected}"
    )


def ks_statistics(cdf_values: Tensor) -> Tensor:
    """Kolmogorov-Smirnov statistics ``D_n`` over dim 0 of ``F(x_i)`` values.

    If the samples ``x_i`` come from the distribution with continuous CDF ``F``, the
    values ``F(x_i)`` are uniform on ``[0, 1]`` and ``D_n = sup |F_n - F|`` follows
    Kolmogorov's distribution for ``n`` samples, whatever ``F`` is. Returns one
    statistic per trailing index (e.g. per batch element).
    """
    u = cdf_values.to(torch.float64).sort(dim=0).values
    n = u.shape[0]
    ranks = torch.arange(1, n + 1, dtype=torch.float64, device=u.device)
    ranks = ranks.reshape((n,) + (1,) * (u.dim() - 1))
    above = (ranks / n - u).amax(0)
    below = (u - (ranks - 1) / n).amax(0)
    return torch.maximum(above, below)


@functools.lru_cache(maxsize=64)
def ks_threshold(n: int, rate: float = FALSE_FAILURE_RATE, count: int = 1) -> float:
    """The exact critical value of ``D_n`` for a total rate over ``count`` tests (Bonferroni)."""
    from scipy import stats  # dev dependency; only the tests need it

    return float(stats.kstwo.isf(rate / count, n))


def assert_ks(cdf_values: Tensor, rate: float = FALSE_FAILURE_RATE) -> None:
    """KS goodness-of-fit test: ``F(x_i)`` over dim 0 are uniform, per trailing index."""
    d = ks_statistics(cdf_values)
    limit = ks_threshold(cdf_values.shape[0], rate, d.numel())
    assert bool((d <= limit).all()), (
        f"KS statistic {d.max().item():.4g} above the critical value {limit:.4g} for "
        f"n={cdf_values.shape[0]} at false-failure rate {rate}"
    )
