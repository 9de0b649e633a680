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
