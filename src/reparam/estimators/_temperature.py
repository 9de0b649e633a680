"""Temperatures for the relaxed estimators: a number, a tensor, or a schedule the caller owns.

A temperature is a positive float, a positive 0-dim tensor, or any callable
returning one of them, read each time the estimator draws samples.
:class:`ExponentialAnnealing` is the schedule of Jang, Gu and Poole (2017),
``tau_t = max(minimum, initial * exp(-rate * t))``; its step ``t`` is the public
attribute ``step``, advanced only when the caller calls
:meth:`ExponentialAnnealing.advance` (typically once per optimizer step) or sets
it, so there is no hidden counter and the schedule can be saved and restored
with the rest of a training state. The floor ``minimum`` only stops the
annealing: it may not exceed ``initial``, so a schedule never starts above its
own start.

A float is checked each time it is read; a tensor is not, because reading it
on the host would make the step wait for the device and would break a compiled
graph. A tensor temperature is checked where it is made:
:meth:`ExponentialAnnealing.at` gives one whose step ``t`` is itself a tensor
(a model's step counter), between the schedule's ``minimum`` and ``initial``,
both checked when the schedule was made. With a float the value is a constant
that ``torch.compile`` specialises a graph on, so an annealed float would
compile a new graph at every step; the tensor is an input of one graph.

This module depends on nothing else in the package; the relaxed estimators and
the RELAX control variate import their temperature checks from here.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import Tensor

Temperature = float | Tensor | Callable[[], float | Tensor]
"""A fixed temperature (a number or a 0-dim tensor) or a callable returning the current one."""


def check_temperature(temperature: float | Tensor, name: str = "temperature") -> None:
    """Raise ``ValueError`` unless ``temperature`` is a finite number > 0.

    >>> check_temperature(0.0, "minimum")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ValueError: minimum must be a finite number > 0, got 0.0; ...
    """
    value = float(temperature.detach()) if isinstance(temperature, Tensor) else temperature
    if not value > 0 or value == float("inf"):
        raise ValueError(
            f"{name} must be a finite number > 0, got {value}; a relaxation "
            "needs a positive temperature (small values approach the discrete samples)"
        )


def current_temperature(temperature: Temperature) -> float | Tensor:
    """The temperature to use now: a number checked to be finite and > 0, or a tensor
    as it is (checked where it was made; a check here would read it on the host)."""
    value = temperature() if callable(temperature) else temperature
    if isinstance(value, Tensor):
        return value
    check_temperature(value)
    return float(value)


class ExponentialAnnealing:
    """``tau = max(minimum, initial * exp(-rate * step))``, stepped explicitly.

    ``minimum`` must not exceed ``initial``; with ``rate = 0`` the schedule is
    the constant ``initial``.

    >>> schedule = ExponentialAnnealing(initial=1.0, rate=0.5, minimum=0.5)
    >>> schedule()
    1.0
    >>> schedule.advance()
    >>> round(schedule(), 4), schedule.step
    (0.6065, 1)
    >>> schedule.step = 10  # restore a saved position
    >>> schedule()
    0.5

    ``step`` may also be a 0-dim integer tensor (a model's step counter, on its
    device); ``schedule()`` is then ``schedule.at(step)``, a tensor.
    """

    def __init__(self, initial: float = 1.0, rate: float = 1e-4, minimum: float = 0.5) -> None:
        check_temperature(initial, "initial")
        check_temperature(minimum, "minimum")
        if not (rate >= 0 and math.isfinite(rate)):
            raise ValueError(f"rate must be a finite number >= 0, got {rate}")
        if minimum > initial:
            raise ValueError(
                f"minimum {minimum} is above initial {initial}: the floor of the annealing "
                "would replace the starting temperature. Pass minimum <= initial."
            )
        self.initial = initial
        self.rate = rate
        self.minimum = minimum
        self.step: int | Tensor = 0

    def __call__(self) -> float | Tensor:
        if isinstance(self.step, Tensor):
            return self.at(self.step)
        return max(self.minimum, self.initial * math.exp(-self.rate * self.step))

    def at(self, step: Tensor) -> Tensor:
        """The schedule at a step count held in a tensor, without reading it on the host.

        Returns a 0-dim float64 tensor on ``step``'s device, computed with the
        operations of ``schedule()`` in the same order, so on a CPU it is the
        float ``schedule()`` gives at that step, to the last bit.

        >>> import torch
        >>> schedule = ExponentialAnnealing(initial=1.0, rate=0.5, minimum=0.5)
        >>> schedule.step = 1
        >>> schedule.at(torch.tensor(1)).item() == schedule()
        True
        """
        decay = torch.exp(-self.rate * step.to(torch.float64))
        return torch.clamp_min(self.initial * decay, self.minimum)

    def advance(self, steps: int = 1) -> None:
        """Move the schedule ``steps`` steps on."""
        self.step = self.step + steps

    def __repr__(self) -> str:
        return (
            f"ExponentialAnnealing(initial={self.initial}, rate={self.rate}, "
            f"minimum={self.minimum}, step={self.step})"
        )
