"""Temperature options of a model that owns a relaxed estimator (the discrete VAE).

Who sets the temperature: an estimator given *by name* is the model's, and gets
the schedule of the model's options, ``tau = max(min_temperature, temperature *
exp(-anneal_rate * step))``; an estimator given *as an object* keeps its own
temperature (a number, or a schedule its owner advances), and the options must
then be left unset. Estimators without a temperature (``temperature is None``)
ignore the options, which are still checked.

The floor only stops the annealing (Jang, Gu and Poole, 2017), so it may not
exceed the initial temperature; its default gives way to a lower
``temperature`` when nothing anneals, and is refused when something does.
Errors name the model's parameters.
"""

from __future__ import annotations

import math

from reparam.estimators import Estimator, ExponentialAnnealing, check_temperature

__all__ = ["annealing", "schedule_for"]

TEMPERATURE, MIN_TEMPERATURE = 1.0, 0.5
"""Defaults: the initial temperature and the floor of its annealing."""


def schedule_for(
    given: str | Estimator, estimator: Estimator, options: dict[str, float | None]
) -> ExponentialAnnealing | None:
    """The model's temperature schedule, installed in ``estimator`` if the model owns it."""
    chosen = {name: value for name, value in options.items() if value is not None}
    if not isinstance(given, str) and estimator.temperature is not None:
        if chosen:
            raise ValueError(
                f"{estimator!r} brings its own temperature, so the model's "
                f"{', '.join(chosen)} would be ignored; leave them unset, or pass the "
                f"estimator by name (estimator={estimator.name!r}) to use them"
            )
        return None
    schedule = annealing(**options)
    if estimator.temperature is None:  # nothing to relax: the options are only checked
        return None
    estimator.temperature = schedule
    return schedule


def annealing(
    temperature: float | None = None,
    anneal_rate: float | None = None,
    min_temperature: float | None = None,
) -> ExponentialAnnealing:
    """The schedule of the model's temperature options (``None``: the default).

    The floor applies only to the annealing: it must not exceed ``temperature``.
    The default floor gives way to a lower ``temperature`` when ``anneal_rate``
    is 0, and is refused with a lower one when something anneals.

    >>> annealing(temperature=0.1)()
    0.1
    """
    initial = TEMPERATURE if temperature is None else temperature
    rate = 0.0 if anneal_rate is None else anneal_rate
    check_temperature(initial, "temperature")
    if not (rate >= 0 and math.isfinite(rate)):
        raise ValueError(f"anneal_rate must be a finite number >= 0, got {rate}")
    if min_temperature is not None:
        check_temperature(min_temperature, "min_temperature")
    floor = min_temperature
    if floor is None:
        floor = MIN_TEMPERATURE if rate > 0 else min(MIN_TEMPERATURE, initial)
    if floor > initial:
        default = " (the default)" if min_temperature is None else ""
        raise ValueError(
            f"min_temperature={floor}{default} is above temperature={initial}: the floor of "
            "the annealing would replace the "
            f"starting temperature. Pass min_temperature={initial} or lower."
        )
    return ExponentialAnnealing(initial, rate, floor)
