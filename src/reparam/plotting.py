"""Saving figures without a display: one helper shared by every command."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from matplotlib.figure import Figure


def new_figure(ncols: int = 1, width: float = 5.0, height: float = 3.8) -> Figure:
    """A figure with ``ncols`` axes side by side, drawn off-screen (Agg)."""
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width * ncols, height), layout="constrained")
    figure.subplots(1, ncols)
    return figure


def save_figure(figure: Figure, path: str | Path) -> Path:
    """Write ``figure`` to ``path`` (PNG at 120 dpi), creating parent folders."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(target, dpi=120)
    return target
