"""The result of a comparison: rows, a recommendation, a table and a JSON form."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from torch import Tensor

from reparam._json import replace_non_finite
from reparam.lab._results import Row, aggregate
from reparam.lab._table import aligned_lines

BIAS_FLAG_Z = 4.0
"""A bias beyond this many standard errors is flagged ``!`` in the table."""


@dataclasses.dataclass(frozen=True)
class Recommendation:
    """The unbiased estimator (and sample count) with the least variance per unit time.

    ``work_variance`` is summed over the parameters: the trace of the estimate's
    covariance times the time per estimate.
    """

    estimator: str
    num_samples: int
    work_variance: float


@dataclasses.dataclass(frozen=True)
class Comparison:
    """Rows per estimator x sample count x parameter, plus what could not be run.

    ``estimates[(estimator, num_samples)]`` holds the raw estimates ``[trials, P]``
    (columns in the order of ``parameters``).
    """

    problem: str
    summary: str
    seed: int
    parameters: tuple[str, ...]
    rows: tuple[Row, ...]
    notes: tuple[str, ...] = ()
    estimates: Mapping[tuple[str, int], Tensor] = dataclasses.field(
        default_factory=dict, repr=False, compare=False
    )

    @property
    def recommendation(self) -> Recommendation | None:
        """The unbiased (estimator, S) with the lowest summed work-normalised variance."""
        totals: dict[tuple[str, int], float] = {}
        for row in self.rows:
            if row.unbiased:
                key = (row.estimator, row.num_samples)
                totals[key] = totals.get(key, 0.0) + row.work_variance
        if not totals:
            return None
        (estimator, samples), total = min(totals.items(), key=lambda item: item[1])
        return Recommendation(estimator, samples, total)

    def row(self, estimator: str, num_samples: int, parameter: str) -> Row:
        """The row of one estimator, sample count and parameter."""
        for row in self.rows:
            if (row.estimator, row.num_samples, row.parameter) == (
                estimator,
                num_samples,
                parameter,
            ):
                return row
        raise KeyError((estimator, num_samples, parameter))

    def summary_rows(self) -> list[Row]:
        """One row per estimator, sample count and parameter *tensor* (see ``_results``)."""
        return aggregate(self.rows)

    def to_dict(self, full: bool = False) -> dict[str, Any]:
        """A JSON-ready dict: the rows with every column, and the recommendation.

        The rows are one per parameter tensor (:meth:`summary_rows`), or with
        ``full`` one per scalar parameter (:attr:`rows`). A ``nan`` or ``inf``
        becomes ``None``, named with its value in the field ``non_finite`` of the
        object holding it (see :mod:`reparam._json`).
        """
        best = self.recommendation
        return replace_non_finite(
            {
                "problem": self.problem,
                "summary": self.summary,
                "seed": self.seed,
                "parameters": list(self.parameters),
                "rows": [row.to_dict() for row in (self.rows if full else self.summary_rows())],
                "recommendation": None if best is None else dataclasses.asdict(best),
                "notes": list(self.notes),
            }
        )

    def __str__(self) -> str:
        return self.table()

    def table(self, full: bool = False) -> str:
        """The text table: one row per parameter tensor, or with ``full`` per scalar."""
        shown = list(self.rows) if full else self.summary_rows()
        lines = [f"problem {self.problem}: {self.summary} (seed {self.seed})"]
        for samples in sorted({row.num_samples for row in shown}):
            rows = [row for row in shown if row.num_samples == samples]
            lines += ["", *_table(samples, rows)]
        lines += ["", *_legend(shown)]
        best = self.recommendation
        if best is None:
            lines.append("no recommendation: none of the estimators measured is unbiased")
        else:
            lines.append(
                f"recommended: {best.estimator} with S = {best.num_samples}, the unbiased "
                f"estimator with the lowest variance x time ({best.work_variance:.3g}, "
                "summed over parameters)"
            )
        return "\n".join(lines + [f"note: {note}" for note in self.notes])


_COLUMNS = (
    "estimator",
    "unbiased",
    "parameter",
    "coords",
    "mean",
    "exact",
    "bias ± se",
    "variance ± se",
    "exact var",
    "SNR",
    "s/estimate",
    "var x time",
)


def _cells(row: Row) -> tuple[str, ...]:
    z = row.bias_z
    flag = "!" if z is not None and abs(z) > BIAS_FLAG_Z else ""
    return (
        row.estimator,
        "yes" if row.unbiased else "no",
        row.parameter,
        str(row.size),
        f"{row.mean:.3e}",
        _maybe(row.exact),
        "n/a" if row.bias is None else f"{row.bias:+.2e} ± {row.bias_se:.1e}{flag}",
        f"{row.variance:.3e} ± {row.variance_se:.1e}",
        _maybe(row.exact_variance),
        f"{row.snr:.3g}",
        f"{row.time:.2e}",
        f"{row.work_variance:.2e}",
    )


def _table(samples: int, rows: list[Row]) -> list[str]:
    trials = sorted({row.trials for row in rows})
    counts = f"{trials[0]}" if len(trials) == 1 else f"{trials[0]} to {trials[-1]}"
    title = f"S = {samples} sample{'s' if samples > 1 else ''} per estimate, {counts} trials"
    header, *body = aligned_lines(_COLUMNS, [_cells(row) for row in rows])
    return [title, header, "-" * len(header), *body]


def _legend(rows: list[Row] | tuple[Row, ...]) -> list[str]:
    lines = [
        "unbiased: the estimator's class fact; bias = mean - exact (n/a where the exact "
        "gradient is unknown), ± one standard error;",
        f"! marks a bias beyond {BIAS_FLAG_Z:g} standard errors; SNR = |mean| / std; "
        "var x time = variance x seconds per estimate.",
    ]
    if any(row.exact_variance is None for row in rows):
        lines.append("exact var '-': no exact variance known for that estimator and problem.")
    if any(row.size > 1 for row in rows):
        lines.append(
            "a tensor's row (coords > 1): mean and exact are norms, bias the coordinate "
            "furthest off, variances summed over its coordinates; full=True for one row "
            "per coordinate."
        )
    return lines


def _maybe(value: float | None) -> str:
    return "-" if value is None else f"{value:.3e}"
