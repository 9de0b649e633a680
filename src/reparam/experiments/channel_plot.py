"""The channel's picture: loss and |delta| per step on log axes."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from reparam.experiments.channel import ChannelResult
from reparam.plotting import new_figure, save_figure


def plot_channel(result: ChannelResult, path: str | Path) -> Path:
    """Save the loss and ``|delta|`` curves, with the exact objective ``delta^2``."""
    steps = np.array([s.step for s in result.history])
    loss = np.array([s.loss for s in result.history])
    delta = np.abs(np.array([s.delta for s in result.history]))
    # Zeros (the squared error underflows, or y - x rounds to 0) have no place on a
    # log axis: they are left out and counted in the legend instead.
    zeros = int(np.sum(loss == 0))
    figure = new_figure(ncols=2)
    loss_axes, delta_axes = figure.axes
    label = "loss (one draw)" + (f"; {zeros} steps exactly 0, not shown" if zeros else "")
    loss_axes.semilogy(steps, np.where(loss > 0, loss, np.nan), ".-", lw=1, ms=3, label=label)
    loss_axes.semilogy(
        steps, np.where(delta > 0, delta**2, np.nan), "k--", lw=1, label="exact E[loss] = δ²"
    )
    loss_axes.set(xlabel="step", ylabel="loss", title="loss (y - x)²")
    loss_axes.legend()
    delta_axes.semilogy(steps, np.where(delta > 0, delta, np.nan), ".-", color="C1", lw=1, ms=3)
    delta_axes.set(xlabel="step", ylabel="|δ|", title="channel noise |δ|")
    for axes in figure.axes:
        axes.grid(True, which="major", alpha=0.3)
    config = result.config
    figure.suptitle(
        f"noisy channel, mode={config.mode}, lr={config.lr}, samples={config.samples}, "
        f"seed={config.seed}: final |δ| = {abs(result.final_delta):.2e}"
    )
    return save_figure(figure, path)
