"""Statistics of replicate gradients, per group of coordinates, with bootstrap intervals.

For ``R`` replicate gradients ``g_1..g_R`` of one estimator at fixed weights and
a group ``C`` of coordinates (a tensor, a module, one scalar, or all of them):

* ``mean``: ``m = (1/R) sum_r g_r``; ``mean_norm = ||m_C||``;
* ``variance``: the summed variance ``V = sum_{i in C} s_i^2``, with ``s_i^2`` the
  unbiased sample variance of coordinate ``i`` (the trace of the covariance);
* ``snr = ||m_C|| / sqrt(V)``, and ``median_snr``, the median over the group's
  coordinates of ``|m_i| / s_i`` (coordinates with ``m_i = s_i = 0``, which no
  gradient reaches, are left out);
* the uncertainty of ``V``: a nonparametric bootstrap over the replicates
  (Efron and Tibshirani, 1993, "An Introduction to the Bootstrap", ch. 13):
  ``B`` resamples of ``R`` replicates with replacement, ``V`` recomputed on each;
  ``variance_se`` is the resamples' standard deviation and
  ``[variance_low, variance_high]`` their percentile interval at ``level``.

``||m||^2`` overestimates ``||E g||^2`` by ``V / R`` on average: with few
replicates and a low SNR, the SNR is biased upwards.
"""

from __future__ import annotations

import dataclasses
import math

import torch
from torch import Tensor

_CHUNK = 4096
"""Coordinates per block in the bootstrap's matrix products (bounds its memory)."""


@dataclasses.dataclass(frozen=True)
class GroupStats:
    """Statistics of one group of coordinates (see the module docstring)."""

    size: int
    mean_norm: float
    variance: float
    variance_se: float
    variance_low: float
    variance_high: float
    snr: float
    median_snr: float


def resample_counts(replicates: int, resamples: int, generator: torch.Generator) -> Tensor:
    """``[resamples, replicates]`` counts: how often each replicate is drawn per resample."""
    index = torch.randint(replicates, (resamples, replicates), generator=generator)
    counts = torch.zeros(resamples, replicates, dtype=torch.float64)
    return counts.scatter_add_(1, index, torch.ones_like(counts))


def group_stats(gradients: Tensor, columns: Tensor, counts: Tensor, level: float) -> GroupStats:
    """:class:`GroupStats` of ``gradients[:, columns]`` (``[R, P]``, float64).

    >>> g = torch.randn(400, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    >>> counts = resample_counts(400, 500, torch.Generator().manual_seed(1))
    >>> s = group_stats(g * 2.0, torch.arange(3), counts, 0.95)
    >>> s.variance_low < 12.0 < s.variance_high  # three coordinates of variance 4
    True
    """
    g = gradients[:, columns]
    replicates = g.shape[0]
    mean = g.mean(0)
    variance = g.var(0, correction=1)
    summed = float(variance.sum())
    reached = (mean != 0) | (variance > 0)
    ratio = mean.abs() / variance.sqrt()
    median_snr = float(ratio[reached].median()) if bool(reached.any()) else math.nan
    boot = _bootstrap(g, counts)
    tail = (1.0 - level) / 2
    low, high = torch.quantile(boot, torch.tensor([tail, 1.0 - tail], dtype=boot.dtype))
    norm = float(mean.norm())
    return GroupStats(
        size=int(columns.numel()),
        mean_norm=norm,
        variance=summed,
        variance_se=float(boot.std()) if replicates > 1 else math.nan,
        variance_low=float(low),
        variance_high=float(high),
        snr=norm / math.sqrt(summed) if summed > 0 else (math.inf if norm > 0 else math.nan),
        median_snr=median_snr,
    )


def _bootstrap(g: Tensor, counts: Tensor) -> Tensor:
    """The summed variance on each resample, ``[B]``, accumulated over column blocks."""
    replicates = g.shape[0]
    total = torch.zeros(counts.shape[0], dtype=torch.float64)
    for start in range(0, g.shape[1], _CHUNK):
        block = g[:, start : start + _CHUNK]
        first = counts @ block
        second = counts @ block.square()
        total += ((second - first.square() / replicates) / (replicates - 1)).sum(1)
    return total
