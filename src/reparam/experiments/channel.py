"""The seed experiment: one real number sent over a noisy channel.

Each step draws inputs ``x ~ U(-1, 1)``, sends them as ``y ~ N(x, delta)`` and
pays ``(y - x)^2``; ``delta`` is the only parameter, trained by plain gradient
descent. The exact objective is

    L(delta) = E[(y - x)^2] = delta^2,   dL/ddelta = 2 delta,

so every step's Monte Carlo gradient can be shown beside the exact one.

Three ways to draw ``y``:

* ``naive``: ``Normal(x, delta).sample()``. The sample is not a differentiable
  function of ``delta``, so no gradient reaches it; this raises
  :class:`~reparam.GradientCutError` instead of failing silently.
* ``trick``: ``y = x + delta * eps`` with ``eps ~ N(0, 1)``, the
  reparameterization trick written by hand.
* ``builtin``: ``Normal(x, delta).rsample()``, the distribution's own
  reparameterized sampler.

With one sample per step the update is ``delta <- delta (1 - 2 lr eps^2)``, a
product of random factors that shrinks geometrically, so ``delta`` falls far
below ``1e-4`` within 100 steps at ``lr = 0.1``.
"""

from __future__ import annotations

import dataclasses
import math
import warnings
from collections.abc import Callable
from typing import Any, Literal

import torch
from torch import Tensor
from torch.distributions import Normal

from reparam.safety import GradientCutError, strict

Mode = Literal["naive", "trick", "builtin"]


def naive_output(x: Tensor, delta: Tensor) -> Tensor:
    """``y ~ N(x, delta)`` by the ordinary sampler: no gradient path to ``delta``."""
    return Normal(x, delta, validate_args=False).sample()


def trick_output(x: Tensor, delta: Tensor) -> Tensor:
    """``y = x + delta * eps``, ``eps ~ N(0, 1)``: the reparameterization trick."""
    return x + delta * torch.randn_like(x)


def builtin_output(x: Tensor, delta: Tensor) -> Tensor:
    """``y ~ N(x, delta)`` by ``Normal.rsample()``.

    Validation is off because plain gradient descent may step ``delta`` below
    zero; ``N(x, -delta)`` is the same channel (the noise is symmetric), which is
    why results report ``|delta|``.
    """
    return Normal(x, delta, validate_args=False).rsample()


MODES: dict[str, Callable[[Tensor, Tensor], Tensor]] = {
    "naive": naive_output,
    "trick": trick_output,
    "builtin": builtin_output,
}


@dataclasses.dataclass(frozen=True)
class ChannelConfig:
    """Settings of one run; the defaults are the seed experiment's."""

    mode: Mode = "trick"
    steps: int = 100
    lr: float = 0.1
    init: float = 1.0
    seed: int = 0
    samples: int = 1
    dtype: Literal["float32", "float64"] = "float32"

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"mode must be one of {', '.join(MODES)}, got {self.mode!r}")
        if self.steps < 1:
            raise ValueError(f"steps must be >= 1, got {self.steps}")
        if self.samples < 1:
            raise ValueError(f"samples must be >= 1, got {self.samples}")
        if not (math.isfinite(self.lr) and self.lr > 0):
            raise ValueError(f"lr must be a finite number > 0, got {self.lr}")
        if not math.isfinite(self.init):
            raise ValueError(f"init must be a finite number, got {self.init}")


class ChannelDiverged(RuntimeError):
    """``delta``, the loss or the gradient stopped being a finite number: the run stopped.

    ``step`` is the gradient step (from 1) where it happened; ``None`` when the
    error was rebuilt from its message alone (``ChannelDiverged(message)``, as
    code that re-raises ``type(e)(text)`` does).
    """

    def __init__(self, step: int | str, what: str | None = None, fix: str | None = None) -> None:
        if isinstance(step, str) and what is None and fix is None:  # a whole message
            super().__init__(step)
            self.step: int | None = None
            return
        super().__init__(f"training diverged at step {step}: {what}; {fix}")
        self.step = int(step)


NUMBERS_PER_SAMPLE = 4
"""Numbers a step holds per sample, at least: ``x``, the noise, ``y`` and ``y - x``
(8 measured by peak resident memory, with autograd's own)."""


def bytes_per_step(config: ChannelConfig) -> int:
    """A lower bound on the memory one step of ``config`` needs, in bytes.

    >>> bytes_per_step(ChannelConfig(samples=1000, dtype="float64"))
    32000
    """
    itemsize = getattr(torch, config.dtype).itemsize
    return NUMBERS_PER_SAMPLE * itemsize * config.samples


@dataclasses.dataclass(frozen=True)
class ChannelStep:
    """One gradient step: the loss and gradients at ``delta`` before the update."""

    step: int
    loss: float
    delta: float
    grad: float
    exact_grad: float


@dataclasses.dataclass(frozen=True)
class ChannelResult:
    config: ChannelConfig
    history: list[ChannelStep]
    final_delta: float
    final_loss: float

    def to_dict(self) -> dict[str, Any]:
        settings = dataclasses.asdict(self.config)
        mode = settings.pop("mode")
        return {
            "mode": mode,
            "settings": settings,
            "final_delta": self.final_delta,
            "final_loss": self.final_loss,
            "history": [dataclasses.asdict(step) for step in self.history],
        }


def run_channel(config: ChannelConfig) -> ChannelResult:
    """Train ``delta`` by gradient descent; raises :class:`GradientCutError` for ``naive``.

    Raises :class:`ChannelDiverged` as soon as the loss, the gradient or ``delta``
    is not a finite number (a learning rate too large for the noise).

    The global random state is left as it was: the run draws from its own seed.

    >>> result = run_channel(ChannelConfig(mode="builtin", steps=100))
    >>> abs(result.final_delta) < 1e-4
    True
    """
    if config.init == 0:
        warnings.warn(
            "init=0 is a fixed point: the gradient 2*delta*eps^2 is zero there, so delta "
            "stays 0 and nothing is learned",
            RuntimeWarning,
            stacklevel=2,
        )
    dtype = getattr(torch, config.dtype)
    output = MODES[config.mode]
    delta = torch.tensor(config.init, dtype=dtype, requires_grad=True)
    history: list[ChannelStep] = []
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.seed)
        for step in range(1, config.steps + 1):
            x = torch.rand(config.samples, dtype=dtype) * 2 - 1
            y = _send(output, x, delta)
            loss = ((y - x) ** 2).mean()
            (grad,) = torch.autograd.grad(loss, delta)
            row = ChannelStep(step, loss.item(), delta.item(), grad.item(), 2 * delta.item())
            history.append(row)
            first = _init_fix(config) if step == 1 else _lr_fix(config)
            _check_finite(step, first, **{"the loss": row.loss, "the gradient": row.grad})
            with torch.no_grad():
                delta -= config.lr * grad
            _check_finite(step, _lr_fix(config), **{"delta after the update": delta.item()})
        final_loss = _loss_at(output, delta, config.samples, dtype)
    _check_finite(config.steps, _lr_fix(config), **{"the loss after the last step": final_loss})
    return ChannelResult(config, history, delta.item(), final_loss)


def _check_finite(step: int, fix: str, **values: float) -> None:
    """Raise :class:`ChannelDiverged` at ``step`` for the first value that is not finite."""
    for name, value in values.items():
        if not math.isfinite(value):
            raise ChannelDiverged(step, f"{name} is {value}", fix)


def _init_fix(config: ChannelConfig) -> str:
    """At step 1 an overflowing loss comes from the initial delta, not from the steps."""
    other = " or --dtype float64" if config.dtype == "float32" else ""
    return (
        f"delta^2 overflows {config.dtype} at the initial delta {config.init:g}: try a "
        f"smaller --init{other}"
    )


def _lr_fix(config: ChannelConfig) -> str:
    return (
        "each step multiplies delta by 1 - 2 lr mean(eps^2), which at lr "
        f"{config.lr:g} grew without bound: try a smaller --lr"
    )


def _send(output: Callable[[Tensor, Tensor], Tensor], x: Tensor, delta: Tensor) -> Tensor:
    try:
        with strict():
            return output(x, delta)
    except GradientCutError as cut:
        raise GradientCutError(
            call="Normal(x, delta).sample()",
            parameter="delta",
            reason=(
                "sampling y draws a number that is not a differentiable function of "
                "delta, so the path from the loss (y - x)^2 back to delta is cut and "
                "gradient descent has nothing to follow"
            ),
            fix=(
                "reparameterize: y = x + delta * eps with eps ~ N(0, 1) (--mode trick), or "
                "Normal(x, delta).rsample() (--mode builtin)"
            ),
        ) from cut


def _loss_at(
    output: Callable[[Tensor, Tensor], Tensor], delta: Tensor, samples: int, dtype: torch.dtype
) -> float:
    """The loss after the last update, on fresh inputs and noise."""
    with torch.no_grad():
        x = torch.rand(samples, dtype=dtype) * 2 - 1
        return ((output(x, delta) - x) ** 2).mean().item()
