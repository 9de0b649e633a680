"""The lab's picture: variance against samples, and the estimates' spread.

Left: each estimator's variance against the number of samples ``S`` on log-log
axes (error bars: one standard error), exact variances as open circles, and a
``1/S`` reference line: an average of ``S`` independent terms falls along it.
Right, one panel per parameter (the first three): each estimator's estimates
around the exact gradient, as a box from the 25th to the 75th percentile, a
whisker from the 5th to the 95th, and a dot at the mean.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from reparam.lab._comparison import Comparison
from reparam.lab._results import Row
from reparam.plotting import new_figure, save_figure

if TYPE_CHECKING:
    from matplotlib.axes import Axes

MAX_SPREAD_PANELS = 3
_STYLES = ("-", "--", ":", "-.")


def plot_comparison(result: Comparison, path: str | Path) -> Path:
    """Save the variance and spread panels of ``result`` to ``path`` (PNG)."""
    parameters = list(result.parameters[:MAX_SPREAD_PANELS])
    figure = new_figure(ncols=1 + len(parameters), width=4.6, height=4.0)
    estimators = list(dict.fromkeys(row.estimator for row in result.rows))
    colors = {name: f"C{i % 10}" for i, name in enumerate(estimators)}
    _variance_panel(figure.axes[0], result, colors)
    for axes, parameter in zip(figure.axes[1:], parameters, strict=False):
        _spread_panel(axes, [r for r in result.rows if r.parameter == parameter], colors)
        axes.set_title(f"estimates of d/d{parameter}")
    shown = "" if len(result.parameters) <= MAX_SPREAD_PANELS else " (first parameters)"
    figure.suptitle(f"{result.problem}: {result.summary}{shown}", fontsize=10)
    return save_figure(figure, path)


def _variance_panel(axes: Axes, result: Comparison, colors: dict[str, str]) -> None:
    styles = {p: _STYLES[i % len(_STYLES)] for i, p in enumerate(result.parameters)}
    several = len(result.parameters) > 1
    for (estimator, parameter), rows in _groups(result.rows).items():
        s = np.array([r.num_samples for r in rows], dtype=float)
        var = np.array([r.variance if r.variance > 0 else np.nan for r in rows])
        se = np.array([r.variance_se for r in rows])
        label = f"{estimator}, {parameter}" if several else estimator
        if np.isnan(var).all():
            label += " (variance 0: not shown)"
        axes.errorbar(
            s, var, yerr=np.minimum(se, 0.99 * var), color=colors[estimator],
            ls=styles[parameter], marker=".", capsize=2, lw=1.2, label=label,
        )  # fmt: skip
        exact = np.array([np.nan if r.exact_variance is None else r.exact_variance for r in rows])
        axes.plot(s, np.where(exact > 0, exact, np.nan), "o", mfc="none", color=colors[estimator])
    _reference_line(axes, result.rows)
    axes.set(xscale="log", yscale="log", xlabel="samples per estimate S", ylabel="variance")
    _sample_ticks(axes, result.rows)
    axes.set_title("variance (open circles: exact)")
    axes.grid(True, which="major", alpha=0.3)
    axes.legend(fontsize=7)


def _reference_line(axes: Axes, rows: tuple[Row, ...]) -> None:
    positive = [r for r in rows if r.variance > 0]
    if not positive:
        return
    smallest = min(r.num_samples for r in positive)
    # Above every measured line, so that it never hides one.
    start = 2 * max(r.variance for r in positive if r.num_samples == smallest)
    s = np.array(sorted({r.num_samples for r in rows}), dtype=float)
    axes.plot(s, start * smallest / s, color="0.5", ls=":", lw=1.5, label="∝ 1/S")


def _spread_panel(axes: Axes, rows: list[Row], colors: dict[str, str]) -> None:
    estimators = list(dict.fromkeys(r.estimator for r in rows))
    width = 0.5 / max(len(estimators), 1)
    for i, estimator in enumerate(estimators):
        mine = [r for r in rows if r.estimator == estimator]
        # Side by side on a log axis: shift each estimator by a constant factor.
        x = np.array([r.num_samples for r in mine]) * 2 ** ((i - (len(estimators) - 1) / 2) * width)
        q = np.array([r.quantiles for r in mine])
        color = colors[estimator]
        axes.vlines(x, q[:, 0], q[:, 4], color=color, lw=1)
        axes.vlines(x, q[:, 1], q[:, 3], color=color, lw=5, alpha=0.6)
        axes.plot(x, [r.mean for r in mine], "o", ms=3, color=color, label=estimator)
    exact = next((r.exact for r in rows if r.exact is not None), None)
    if exact is not None:
        axes.axhline(exact, color="k", ls="--", lw=1, label="exact gradient")
    axes.set(xscale="log", xlabel="samples per estimate S", ylabel="gradient estimate")
    _sample_ticks(axes, rows)
    axes.grid(True, axis="y", alpha=0.3)
    axes.legend(fontsize=7)


def _sample_ticks(axes: Axes, rows: list[Row] | tuple[Row, ...]) -> None:
    samples = sorted({r.num_samples for r in rows})
    axes.set_xticks(samples, [str(s) for s in samples])
    axes.minorticks_off()


def _groups(rows: tuple[Row, ...]) -> dict[tuple[str, str], list[Row]]:
    groups: dict[tuple[str, str], list[Row]] = {}
    for row in rows:
        groups.setdefault((row.estimator, row.parameter), []).append(row)
    return groups
