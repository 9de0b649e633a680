"""What a comparison found: one row per estimator, sample count and parameter.

For ``n`` independent estimates ``g_1..g_n`` of one parameter's gradient:

* ``mean``; ``bias = mean - exact`` with standard error ``std / sqrt(n)``;
* ``variance`` (unbiased sample variance) with standard error
  ``sqrt((m4 - variance^2 (n - 3) / (n - 1)) / n)``, ``m4`` the fourth central
  moment (the exact variance of a sample variance, with moments estimated);
* ``snr = |mean| / std``, the signal-to-noise ratio;
* ``time``: seconds per estimate, amortised over a batch of independent trials
  (see :func:`reparam.lab._measurement.time_per_estimate`);
* ``work_variance = variance * time``: variance at equal computing time, the
  number to compare across estimators of different cost.

:func:`aggregate` summarises the rows of a tensor with several coordinates
(``alpha[0]``, ``alpha[1]``, ...) in one row named after the tensor (``alpha``,
``size`` its number of coordinates): ``mean`` and ``exact`` are the norms of
the mean and exact vectors, ``bias`` and ``bias_se`` those of the coordinate
furthest from its exact value in standard errors, ``variance``,
``exact_variance`` and ``work_variance`` are summed over the coordinates (the
trace of the covariance), ``variance_se`` is the root of the summed squared
standard errors, ``snr = |mean| / sqrt(summed variance)``; it has no quantiles.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import torch
from torch import Tensor

from reparam._json import replace_non_finite

QUANTILES = (0.05, 0.25, 0.5, 0.75, 0.95)


@dataclasses.dataclass(frozen=True)
class Row:
    """The statistics of one estimator's estimates of one parameter's gradient."""

    estimator: str
    unbiased: bool
    num_samples: int
    parameter: str
    trials: int
    mean: float
    exact: float | None
    bias: float | None
    bias_se: float
    variance: float
    variance_se: float
    exact_variance: float | None
    snr: float
    time: float
    work_variance: float
    quantiles: tuple[float, ...]
    size: int = 1

    @property
    def bias_z(self) -> float | None:
        """``bias / bias_se``: how many standard errors the mean is off the exact value."""
        if self.bias is None:
            return None
        if self.bias_se == 0:
            return 0.0 if self.bias == 0 else math.copysign(math.inf, self.bias)
        return self.bias / self.bias_se

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: a ``nan`` or ``inf`` is ``None``, named in ``non_finite`` (see ``_json``)."""
        out = dataclasses.asdict(self)
        out["quantiles"] = dict(
            zip([f"q{round(q * 100):02d}" for q in QUANTILES], self.quantiles, strict=False)
        )
        return replace_non_finite(out)


def summarise(
    label: str,
    unbiased: bool,
    num_samples: int,
    parameters: list[str],
    estimates: Tensor,
    per_estimate: float,
    exact: Tensor | None,
    exact_variance: Tensor | None,
) -> list[Row]:
    """One :class:`Row` per parameter (column of ``estimates [n, P]``)."""
    n = estimates.shape[0]
    mean = estimates.mean(0)
    centred = estimates - mean
    variance = centred.square().sum(0) / (n - 1)
    m4 = centred.pow(4).mean(0)
    shrink = (n - 3) / (n - 1)
    variance_se = ((m4 - shrink * variance.square()).clamp_min(0) / n).sqrt()
    std = variance.sqrt()
    quantiles = torch.quantile(estimates, torch.tensor(QUANTILES, dtype=estimates.dtype), dim=0)
    rows = []
    for j, name in enumerate(parameters):
        exact_j = None if exact is None else float(exact[j])
        rows.append(
            Row(
                estimator=label,
                unbiased=unbiased,
                num_samples=num_samples,
                parameter=name,
                trials=n,
                mean=float(mean[j]),
                exact=exact_j,
                bias=None if exact_j is None else float(mean[j]) - exact_j,
                bias_se=float(std[j]) / math.sqrt(n),
                variance=float(variance[j]),
                variance_se=float(variance_se[j]),
                exact_variance=None if exact_variance is None else float(exact_variance[j]),
                snr=float(mean[j].abs() / std[j]) if std[j] > 0 else math.inf,
                time=per_estimate,
                work_variance=float(variance[j]) * per_estimate,
                quantiles=tuple(float(q) for q in quantiles[:, j]),
            )
        )
    return rows


def tensor_name(parameter: str) -> str:
    """``alpha`` for ``alpha[0, 1]``; a scalar parameter's name as it is."""
    return parameter.split("[", 1)[0]


def aggregate(rows: list[Row] | tuple[Row, ...]) -> list[Row]:
    """One row per estimator, sample count and tensor (see the module docstring)."""
    groups: dict[tuple[str, int, str], list[Row]] = {}
    for row in rows:
        groups.setdefault((row.estimator, row.num_samples, tensor_name(row.parameter)), []).append(
            row
        )
    return [
        parts[0] if len(parts) == 1 and parts[0].parameter == name else _summary(name, parts)
        for (_, _, name), parts in groups.items()
    ]


def _summary(name: str, parts: list[Row]) -> Row:
    first = parts[0]
    mean = math.sqrt(sum(r.mean**2 for r in parts))
    variance = sum(r.variance for r in parts)
    known = all(r.exact is not None for r in parts)
    worst = max(parts, key=lambda r: abs(r.bias_z or 0.0)) if known else None
    exact_variances = [r.exact_variance for r in parts]
    return Row(
        estimator=first.estimator,
        unbiased=first.unbiased,
        num_samples=first.num_samples,
        parameter=name,
        trials=min(r.trials for r in parts),
        mean=mean,
        exact=math.sqrt(sum((r.exact or 0.0) ** 2 for r in parts)) if known else None,
        bias=None if worst is None else worst.bias,
        bias_se=worst.bias_se if worst is not None else math.sqrt(sum(r.bias_se**2 for r in parts)),
        variance=variance,
        variance_se=math.sqrt(sum(r.variance_se**2 for r in parts)),
        exact_variance=None
        if any(v is None for v in exact_variances)
        else sum(v or 0.0 for v in exact_variances),
        snr=mean / math.sqrt(variance) if variance > 0 else math.inf,
        time=first.time,
        work_variance=sum(r.work_variance for r in parts),
        quantiles=(),
        size=len(parts),
    )
