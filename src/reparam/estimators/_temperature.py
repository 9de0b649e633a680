"""Temperatures for the relaxed estimators: a number, or a schedule the caller owns.

A temperature is either a positive float or any callable ``() -> float`` read
each time the estimator draws samples. :class:`ExponentialAnnealing` is the
schedule of Jang, Gu and Poole (2017), ``tau_t = max(minimum, initial * exp(-rate * t))``;
its step ``t`` is the public attribute ``step``, advanced only when the caller
calls :meth:`ExponentialAnnealing.advance` (typically once per optimizer step),
so there is no hidden counter and the schedule can be saved and restored with
the rest of a training state.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from reparam.estimators._discrete import check_temperature

Temperature = float | Callable[[], float]
"""A fixed temperature or a callable returning the current one."""


def current_temperature(temperature: Temperature) -> float:
    """The temperature to use now, checked to be a finite number > 0."""
    value = temperature() if callable(temperature) else temperature
    check_temperature(value)
    return float(value)


class ExponentialAnnealing:
    """``tau = max(minimum, initial * exp(-rate * step))``, stepped explicitly.

    >>> schedule = ExponentialAnnealing(initial=1.0, rate=0.5, minimum=0.5)
    >>> schedule()
    1.0
    >>> schedule.advance()
    >>> round(schedule(), 4), schedule.step
    (0.6065, 1)
    >>> schedule.step = 10  # restore a saved position
    >>> schedule()
    0.5
    """

    def __init__(self, initial: float = 1.0, rate: float = 1e-4, minimum: float = 0.5) -> None:
        check_temperature(initial)
        check_temperature(minimum)
        if not (rate >= 0 and math.isfinite(rate)):
            raise ValueError(f"rate must be a finite number >= 0, got {rate}")
        self.initial = initial
        self.rate = rate
        self.minimum = minimum
        self.step = 0

    def __call__(self) -> float:
        return max(self.minimum, self.initial * math.exp(-self.rate * self.step))

    def advance(self, steps: int = 1) -> None:
        """Move the schedule ``steps`` steps on."""
        self.step += steps

    def __repr__(self) -> str:
        return (
            f"ExponentialAnnealing(initial={self.initial}, rate={self.rate}, "
            f"minimum={self.minimum}, step={self.step})"
        )
