"""What :func:`reparam.lab.compare_model` found: runs, rows per group, a recommendation.

A *run* is one estimator (at one ``num_samples``, trained or not) measured by
``R`` replicate gradients at fixed weights. Its rows summarise the gradients per
group of coordinates, chosen with ``by``:

* ``"tensor"`` (the default): one row per named parameter (``encoder.0.weight``);
* ``"module"``: one row per module (``encoder.0``), its tensors together;
* ``"all"``: one row for the whole model;
* ``"scalar"``: the full table, one row per coordinate (``encoder.0.weight[3, 1]``),
  for small models.

Each run also gets a row ``(all)`` whatever ``by`` is: the recommendation
compares those. The statistics are those of :mod:`reparam.lab._model_stats`.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
from typing import Any, Literal

import torch
from torch import Tensor

from reparam._json import replace_non_finite
from reparam.lab._model_stats import GroupStats, group_stats, resample_counts
from reparam.lab._table import aligned_lines

GroupBy = Literal["tensor", "module", "all", "scalar"]
GROUPINGS: tuple[str, ...] = ("tensor", "module", "all", "scalar")
ALL = "(all)"


@dataclasses.dataclass(frozen=True)
class ModelRun:
    """One estimator's replicate gradients ``[R, P]`` (float64) and seconds per gradient.

    ``seconds`` is the fastest replicate's (loss and backward pass).

    ``train_steps`` is ``None`` for an estimator with nothing to learn, else the
    number of steps its learned part was trained for before measuring (0: untrained).
    """

    estimator: str
    unbiased: bool
    num_samples: int | None
    train_steps: int | None
    seconds: float
    gradients: Tensor = dataclasses.field(repr=False, compare=False)

    @property
    def label(self) -> str:
        if not self.train_steps:
            return self.estimator
        return f"{self.estimator} (trained {self.train_steps} steps)"


@dataclasses.dataclass(frozen=True)
class ModelRow:
    """One run's statistics over one group of coordinates."""

    estimator: str
    unbiased: bool
    num_samples: int | None
    train_steps: int | None
    group: str
    size: int
    replicates: int
    mean_norm: float
    variance: float
    variance_se: float
    variance_low: float
    variance_high: float
    snr: float
    median_snr: float
    time: float
    work_variance: float
    work_low: float
    work_high: float

    def to_dict(self) -> dict[str, Any]:
        return replace_non_finite(dataclasses.asdict(self))


@dataclasses.dataclass(frozen=True)
class ModelRecommendation:
    """The unbiased run with the lowest summed variance x time, and why."""

    estimator: str
    num_samples: int | None
    work_variance: float
    reason: str


@dataclasses.dataclass(frozen=True)
class ModelComparison:
    """Replicate gradients of several estimators on one model and batch (see the module)."""

    parameters: tuple[str, ...]
    shapes: tuple[tuple[int, ...], ...]
    runs: tuple[ModelRun, ...]
    seed: int
    level: float = 0.95
    resamples: int = 1000
    notes: tuple[str, ...] = ()

    def rows(self, by: GroupBy = "tensor") -> list[ModelRow]:
        """Per run, one row per group (``by``) and one for the whole model, ``(all)``."""
        groups = self._groups(by)
        if by != "all":
            groups = [*groups, (ALL, torch.arange(sum(math.prod(s) for s in self.shapes)))]
        rows: list[ModelRow] = []
        for run in self.runs:
            generator = torch.Generator().manual_seed(self.seed)
            counts = resample_counts(run.gradients.shape[0], self.resamples, generator)
            for name, columns in groups:
                stats = group_stats(run.gradients, columns, counts, self.level)
                rows.append(_row(run, name, stats))
        return rows

    def row(self, estimator: str, group: str = ALL, by: GroupBy = "tensor") -> ModelRow:
        """The row of one run (its label, e.g. ``"relax (trained 200 steps)"``) and group."""
        for row in self.rows(by):
            if _label(row) == estimator and row.group == group:
                return row
        raise KeyError((estimator, group))

    @property
    def recommendation(self) -> ModelRecommendation | None:
        """The unbiased run with the lowest whole-model variance x time, with the reason."""
        totals = sorted((r for r in self.rows("all") if r.unbiased), key=lambda r: r.work_variance)
        if not totals:
            return None
        best = totals[0]
        reason = (
            f"the lowest summed variance x time among the unbiased estimators: {_interval(best)}"
        )
        if len(totals) > 1:
            second = totals[1]
            samples = "" if second.num_samples is None else f" at S = {second.num_samples}"
            reason += f", against {_interval(second)} for {_label(second)}{samples}"
            if best.work_high >= second.work_low:
                reason += (
                    f"; the {self.level:.0%} intervals overlap, so the two are not "
                    "separated at this number of replicates"
                )
            else:
                reason += f"; the {self.level:.0%} intervals do not overlap"
        return ModelRecommendation(_label(best), best.num_samples, best.work_variance, reason)

    def table(self, by: GroupBy = "tensor") -> str:
        """The rows as a text table, a legend and the recommendation."""
        rows = self.rows(by)
        header, *body = aligned_lines(_COLUMNS, [_cells(row) for row in rows])
        replicates = sorted({row.replicates for row in rows})
        lines = [
            f"{len(self.parameters)} parameter tensors, "
            f"{sum(math.prod(s) for s in self.shapes)} coordinates; "
            f"{', '.join(map(str, replicates))} replicate gradients per estimator at fixed "
            f"weights (seed {self.seed}); rows per {by}",
            header,
            "-" * len(header),
            *body,
            "",
            "variance: summed over the group's coordinates (trace of the covariance), from the "
            f"replicates; [low, high]: {self.level:.0%} bootstrap interval "
            f"({self.resamples} resamples of the replicates);",
            "SNR: |mean| / sqrt(summed variance); median SNR: median over coordinates of "
            "|mean_i| / std_i; s/grad: seconds per gradient (the fastest replicate); "
            "var x time: the figure to compare at equal cost.",
        ]
        best = self.recommendation
        if best is None:
            lines.append("no recommendation: none of the estimators measured is unbiased")
        else:
            samples = "" if best.num_samples is None else f" with num_samples = {best.num_samples}"
            lines.append(f"recommended: {best.estimator}{samples}: {best.reason}")
        return "\n".join(lines + [f"note: {note}" for note in self.notes])

    def __str__(self) -> str:
        return self.table()

    def to_dict(self, by: GroupBy = "tensor") -> dict[str, Any]:
        """JSON-ready: the rows (per ``by``), the recommendation and how they were measured."""
        best = self.recommendation
        return replace_non_finite(
            {
                "parameters": dict(zip(self.parameters, map(list, self.shapes), strict=True)),
                "seed": self.seed,
                "level": self.level,
                "resamples": self.resamples,
                "by": by,
                "rows": [row.to_dict() for row in self.rows(by)],
                "recommendation": None if best is None else dataclasses.asdict(best),
                "notes": list(self.notes),
            }
        )

    def _groups(self, by: GroupBy) -> list[tuple[str, Tensor]]:
        if by not in GROUPINGS:
            raise ValueError(f"by must be one of {', '.join(map(repr, GROUPINGS))}, got {by!r}")
        spans: dict[str, list[Tensor]] = {}
        start = 0
        for name, shape in zip(self.parameters, self.shapes, strict=True):
            size = math.prod(shape)
            columns = torch.arange(start, start + size)
            start += size
            if by == "scalar":
                for i, index in enumerate(itertools.product(*(range(n) for n in shape))):
                    label = f"{name}[{', '.join(map(str, index))}]" if shape else name
                    spans[label] = [columns[i : i + 1]]
                continue
            key = {"tensor": name, "module": name.rpartition(".")[0] or name, "all": ALL}[by]
            spans.setdefault(key, []).append(columns)
        return [(key, torch.cat(parts)) for key, parts in spans.items()]


_COLUMNS = (
    "estimator",
    "S",
    "group",
    "coords",
    "|mean|",
    "variance [low, high]",
    "SNR",
    "median SNR",
    "s/grad",
    "var x time",
)


def _label(row: ModelRow) -> str:
    if not row.train_steps:
        return row.estimator
    return f"{row.estimator} (trained {row.train_steps} steps)"


def _row(run: ModelRun, group: str, stats: GroupStats) -> ModelRow:
    return ModelRow(
        estimator=run.estimator,
        unbiased=run.unbiased,
        num_samples=run.num_samples,
        train_steps=run.train_steps,
        group=group,
        replicates=run.gradients.shape[0],
        time=run.seconds,
        work_variance=stats.variance * run.seconds,
        work_low=stats.variance_low * run.seconds,
        work_high=stats.variance_high * run.seconds,
        **{k: v for k, v in dataclasses.asdict(stats).items()},
    )


def _interval(row: ModelRow) -> str:
    return f"{row.work_variance:.3g} [{row.work_low:.3g}, {row.work_high:.3g}]"


def _cells(row: ModelRow) -> tuple[str, ...]:
    return (
        _label(row) + ("" if row.unbiased else " (biased)"),
        "-" if row.num_samples is None else str(row.num_samples),
        row.group,
        str(row.size),
        f"{row.mean_norm:.3e}",
        f"{row.variance:.3e} [{row.variance_low:.2e}, {row.variance_high:.2e}]",
        f"{row.snr:.3g}",
        f"{row.median_snr:.3g}",
        f"{row.time:.2e}",
        f"{row.work_variance:.2e}",
    )
