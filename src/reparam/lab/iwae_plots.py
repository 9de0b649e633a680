"""The IWAE study's picture: signal-to-noise ratio against ``k``, log-log.

Left: the inference network's parameters, right: the generative model's; one
colour per gradient choice, one line style per parameter, error bars of one
standard error of the SNR (``sqrt((1 + SNR^2 / 2) / n)`` for ``n`` normal
estimates, by the delta method); an open circle marks an SNR below two standard
errors, which the trials do not resolve (more trials would). Grey lines
``∝ sqrt(k)`` and ``∝ 1/sqrt(k)``: the rates Rainforth et al. (2018) derive for
the generative model's and the standard inference-network gradient.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from reparam.lab._iwae_model import GENERATIVE, INFERENCE
from reparam.lab._iwae_study import IWAEStudy, snr_se
from reparam.lab._results import Row
from reparam.plotting import new_figure, save_figure

if TYPE_CHECKING:
    from matplotlib.axes import Axes

_STYLES = ("-", "--", ":")


def plot_iwae_snr(study: IWAEStudy, path: str | Path) -> Path:
    """Save the two SNR-against-``k`` panels of ``study`` to ``path`` (PNG)."""
    figure = new_figure(ncols=2, width=5.2, height=4.2)
    gradients = list(dict.fromkeys(row.estimator for row in study.rows))
    colors = {name: f"C{i}" for i, name in enumerate(gradients)}
    notes = ("", ",\nthe same for every choice")
    for axes, names, title, note in zip(
        figure.axes, (INFERENCE, GENERATIVE), ("inference network", "generative model"), notes,
        strict=True,
    ):  # fmt: skip
        _panel(axes, study.rows, names, colors)
        axes.set_title(f"{title}: SNR of d L_k / d({', '.join(names)}){note}", fontsize=9)
    figure.suptitle(f"{study.problem}: {study.summary}", fontsize=9)
    return save_figure(figure, path)


def _panel(axes: Axes, rows: Sequence[Row], names: Sequence[str], colors: dict[str, str]) -> None:
    for gradient, color in colors.items():
        for name, style in zip(names, _STYLES, strict=False):
            mine = [r for r in rows if r.estimator == gradient and r.parameter == name]
            k = np.array([r.num_samples for r in mine], dtype=float)
            snr = np.array([r.snr for r in mine])
            se = np.minimum([snr_se(r) for r in mine], 0.99 * snr)
            axes.errorbar(
                k, snr, yerr=se, color=color, ls=style, marker=".", capsize=2, lw=1.2,
                label=f"{gradient}, {name}",
            )  # fmt: skip
            unresolved = snr < 2 * np.array([snr_se(r) for r in mine])
            axes.plot(k[unresolved], snr[unresolved], "o", mfc="white", color=color, ms=6)
    ks = np.array(sorted({r.num_samples for r in rows}), dtype=float)
    if len(ks) > 1:
        mid = float(np.exp(np.mean(np.log([r.snr for r in rows if r.snr > 0]))))
        axes.plot(ks, mid * np.sqrt(ks / ks[0]), color="0.6", lw=1, label="∝ sqrt(k)")
        axes.plot(ks, mid / np.sqrt(ks / ks[0]), color="0.6", lw=1, ls="--", label="∝ 1/sqrt(k)")
    axes.set(xscale="log", yscale="log", xlabel="importance samples k", ylabel="SNR = |mean| / std")
    axes.set_xticks(ks, [str(int(k)) for k in ks])
    axes.minorticks_off()
    axes.grid(True, which="major", alpha=0.3)
    axes.legend(fontsize=6, ncol=2)
