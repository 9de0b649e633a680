"""Gradient monitoring during training: variance and signal-to-noise ratio of the gradients.

Every ``every`` steps, :class:`GradientMonitor` draws ``R`` independent gradient
estimates ``g_1..g_R`` of the model's summed loss on one fixed batch (the
estimator the training uses, at the current parameters) and reports, for the
encoder's and the decoder's parameters separately,

* ``variance``: the mean over parameter components ``j`` of the sample variance
  ``s_j^2 = 1/(R-1) sum_r (g_rj - m_j)^2``, ``m_j = 1/R sum_r g_rj``;
* ``snr``: the mean over components of ``|m_j| / s_j``, the signal-to-noise
  ratio of Rainforth et al. (2018, "Tighter Variational Bounds are Not
  Necessarily Better", ICML, eq. 5), estimated from the replicates (components
  with ``s_j = 0``, which carry no noise, are left out);
* ``mean_norm``: the Euclidean norm of ``m``.

The replicates draw their noise inside :func:`reparam.training.seeded` with a
seed of their own per step, so they are reproducible and leave the training's
random stream as it was: a run with monitoring trains exactly as one without,
and resumes exactly. They are taken with ``torch.autograd.grad`` on the model
itself (not its data-parallel wrapper), so no gradient is accumulated and no
all-reduce is started; under data parallelism rank 0 alone measures (the
parameters are the same on every rank) and writes the figures.

Parameters whose names start with ``decoder`` form the decoder, the rest the
encoder (the layout of :class:`~reparam.models.GaussianVAE`); a model can say
otherwise with a method ``gradient_groups() -> dict[str, list[Parameter]]``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from reparam.training._checks import SettingsError, check_integer
from reparam.training._model import LatentVariableModel
from reparam.training._rng import seeded
from reparam.training.distributed import World, noise_seed

REPLICATES = 10
"""Gradient estimates per measurement when none is said."""
MAX_WORK = 100
"""The most gradient estimates the monitor may compute per training step, on average
(each costs about as much as a step): more would make a run 100 times slower."""

GradientRow = dict[str, Any]
"""One measurement: ``{"step": s, "encoder": {...}, "decoder": {...}}``."""


def check_replicates(replicates: object, every: object) -> None:
    """``replicates`` (``None``: :data:`REPLICATES`) measures only when ``every`` is set."""
    if replicates is None:
        return
    check_integer(replicates, "monitor_replicates", 2, why=" (a variance needs two)")
    if every is None:
        raise SettingsError(
            "{0} applies to the gradient measurements, and {1} is not set, so none would be "
            "taken; set {1} too, or leave {0} out",
            "monitor_replicates",
            "monitor_every",
        )


def check_monitor_work(every: int, replicates: int, steps: int) -> None:
    """Refuse monitoring that would cost more than :data:`MAX_WORK` times the training.

    A measurement every ``every`` of ``steps`` training steps draws ``replicates``
    gradient estimates, each about the cost of one step.

    >>> check_monitor_work(every=1, replicates=10**8, steps=4690)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    reparam.training._checks.SettingsError: monitor_replicates=100000000 every 1 step(s) is ...
    """
    estimates = (steps // every) * replicates
    if estimates <= MAX_WORK * steps:
        return
    raise SettingsError(
        "{0}={replicates} every {every} step(s) is {estimates:.3g} gradient estimates over the "
        "run's {steps} steps, about {ratio:.3g} times the training's own work (at most "
        "{most} times); lower {0} or raise {1}",
        "monitor_replicates",
        "monitor_every",
        replicates=replicates,
        every=every,
        estimates=estimates,
        steps=steps,
        ratio=estimates / steps,
        most=MAX_WORK,
    )


def gradient_groups(model: nn.Module) -> dict[str, list[nn.Parameter]]:
    """The parameters measured together: ``encoder`` and ``decoder`` (see the module)."""
    own = getattr(model, "gradient_groups", None)
    if callable(own):
        groups: dict[str, list[nn.Parameter]] = own()
        return groups
    encoder: list[nn.Parameter] = []
    decoder: list[nn.Parameter] = []
    for name, parameter in model.named_parameters():
        if parameter.requires_grad:
            (decoder if name.startswith("decoder") else encoder).append(parameter)
    return {"encoder": encoder, "decoder": decoder}


def measure_gradients(
    model: LatentVariableModel,
    x: Tensor,
    replicates: int,
    seed: int,
    stop_requested: Callable[[], object] | None = None,
) -> dict[str, dict[str, float | None]] | None:
    """``replicates`` gradient estimates of ``model.loss(x).sum()``: statistics per group.

    ``stop_requested`` is asked before each estimate; when it returns anything
    but ``None``, the measurement is abandoned and ``None`` returned.

    >>> import torch
    >>> from reparam.models import GaussianVAE
    >>> _ = torch.manual_seed(0)
    >>> model = GaussianVAE(input_dim=6, hidden=4, latent_dim=2)
    >>> figures = measure_gradients(model, torch.rand(3, 6), replicates=4, seed=0)
    >>> sorted(figures), sorted(figures["encoder"])
    (['decoder', 'encoder'], ['mean_norm', 'snr', 'variance'])
    """
    if replicates < 2:
        raise ValueError(f"replicates must be >= 2 to estimate a variance, got {replicates}")
    groups = gradient_groups(model)
    names = [name for name, parameters in groups.items() if parameters]
    parameters = [p for name in names for p in groups[name]]
    sizes = [sum(p.numel() for p in groups[name]) for name in names]
    total = sum(sizes)
    mean = torch.zeros(total, dtype=torch.float64, device=x.device)
    squares = torch.zeros_like(mean)
    with seeded(seed, x.device):
        for r in range(1, replicates + 1):
            if stop_requested is not None and stop_requested() is not None:
                return None
            loss = model.loss(x).sum()
            grads = torch.autograd.grad(loss, parameters, allow_unused=True)
            g = torch.cat(
                [
                    (torch.zeros_like(p) if d is None else d).reshape(-1).to(torch.float64)
                    for p, d in zip(parameters, grads, strict=True)
                ]
            )
            delta = g - mean  # Welford's running mean and sum of squared deviations
            mean += delta / r
            squares += delta * (g - mean)
    variance = squares / (replicates - 1)
    return {
        name: _summary(m, v)
        for name, m, v in zip(names, mean.split(sizes), variance.split(sizes), strict=True)
    }


def _summary(mean: Tensor, variance: Tensor) -> dict[str, float | None]:
    noisy = variance > 0
    snr = (mean[noisy].abs() / variance[noisy].sqrt()).mean().item() if noisy.any() else None
    return {
        "snr": snr,
        "variance": variance.mean().item(),
        "mean_norm": mean.norm().item(),
    }


class GradientMonitor:
    """Measures the gradients every ``every`` steps on the fixed batch ``batch``.

    The trainer calls :meth:`after_step` after each step, puts :meth:`take` into
    each epoch's record (``"gradients"``, a list of rows) and keeps
    :meth:`pending` rows in its checkpoints (:meth:`restore` on resume).

    Args:
        batch: ``[B, D]`` pixels as the model sees them, on the model's device.
        every: measure after every this many optimizer steps (counted over the run).
        replicates: independent gradient estimates per measurement (>= 2).
        seed: the measurements' noise; step ``s`` uses ``noise_seed(seed, "monitor", s)``.
    """

    def __init__(self, batch: Tensor, every: int, replicates: int = 10, seed: int = 0) -> None:
        if every < 1:
            raise ValueError(f"every must be >= 1 (steps between measurements), got {every}")
        if replicates < 2:
            raise ValueError(f"replicates must be >= 2 to estimate a variance, got {replicates}")
        self.batch, self.every, self.replicates, self.seed = batch, every, replicates, seed
        self._rows: list[GradientRow] = []

    def after_step(
        self,
        model: LatentVariableModel,
        step: int,
        world: World,
        stop_requested: Callable[[], object] | None = None,
    ) -> None:
        """Measure if ``step`` (1-based, over the whole run) is due; rank 0 only.

        A stop requested meanwhile abandons the measurement between two
        estimates; :meth:`catch_up` takes it after a resume.
        """
        if step % self.every != 0 or not world.is_main:
            return
        seed = noise_seed(self.seed, "monitor", step)
        figures = measure_gradients(model, self.batch, self.replicates, seed, stop_requested)
        if figures is not None:
            self._rows.append({"step": step, **figures})

    def catch_up(
        self,
        model: LatentVariableModel,
        step: int,
        world: World,
        stop_requested: Callable[[], object] | None = None,
    ) -> None:
        """After a resume at ``step``: take its measurement if due and not taken yet
        (one abandoned by a stop); the figures are those it would have had."""
        if not any(row["step"] == step for row in self._rows):
            self.after_step(model, step, world, stop_requested)

    def take(self) -> list[GradientRow]:
        """The rows measured since the last call."""
        rows, self._rows = self._rows, []
        return rows

    def pending(self) -> list[GradientRow]:
        """The rows not taken yet (for a checkpoint)."""
        return list(self._rows)

    def restore(self, rows: Sequence[GradientRow]) -> None:
        """Undo :meth:`pending` after a resume."""
        self._rows = list(rows)


def gradient_rows(history: Sequence[dict[str, Any]]) -> list[GradientRow]:
    """Every measurement in a run's epoch records, in order."""
    return [row for record in history for row in record.get("gradients", [])]


def plot_gradients(history: Sequence[dict[str, Any]], path: str | Path) -> Path | None:
    """SNR and variance of each group against the step (log scales); ``None`` if unmeasured."""
    rows = gradient_rows(history)
    if not rows:
        return None
    from reparam.plotting import new_figure, save_figure

    figure = new_figure(ncols=2, width=4.5)
    snr_axes, variance_axes = figure.axes
    steps = [row["step"] for row in rows]
    for group in ("encoder", "decoder"):
        for axes, key in ((snr_axes, "snr"), (variance_axes, "variance")):
            values = [_plottable(row.get(group, {}).get(key)) for row in rows]
            axes.plot(steps, values, marker=".", label=group)
    snr_axes.set(xlabel="step", ylabel="gradient SNR (mean over components)", yscale="log")
    variance_axes.set(xlabel="step", ylabel="gradient variance (mean)", yscale="log")
    snr_axes.legend()
    return save_figure(figure, path)


def _plottable(value: float | None) -> float:
    return math.nan if value is None or value <= 0 else float(value)
