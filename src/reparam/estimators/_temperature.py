"""Temperatures for the relaxed estimators: a number, or a schedule the caller owns.

A temperature is either a positive float or any callable ``() -> float`` read
each time the estimator draws samples. :class:`ExponentialAnnealing` is the
schedule of Jang, Gu and Poole (2017), ``tau_t = max(minimum, initial * exp(-rate * t))``;
its step ``t`` is the public attribute ``step``, advanced only when the caller
calls :meth:`ExponentialAnnealing.advance` (typically once per optimizer step),
so there is no hidden counter and the schedule can be saved and restored with
the rest of a training state. The floor ``minimum`` only stops the annealing: it
may not exceed ``initial``, so a schedule never starts above its own start.

This module depends on nothing else in the package; the relaxed estimators and
the RELAX control variate import their temperature checks from here.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from torch import Tensor

Temperature = float | Callable[[], float]
"""A fixed temperature or a callable returning the current one."""


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


def current_temperature(temperature: Temperature) -> float:
    """The temperature to use now, checked to be a finite number > 0."""
    value = temperature() if callable(temperature) else temperature
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
