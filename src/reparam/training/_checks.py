"""Checks of settings on construction, shared by the library and the command line.

Each check raises :class:`SettingsError` naming the Python argument at fault.
The message is a template whose positional fields ``{0}``, ``{1}``... are the
arguments it is about, so the command line can say the same thing in its own
words (``--batch-size`` for ``batch_size``) without a check of its own:

>>> error = SettingsError("{0} must be >= 1, got {got}", "batch_size", got=0)
>>> str(error), error.render({"batch_size": "--batch-size"})
('batch_size must be >= 1, got 0', '--batch-size must be >= 1, got 0')
"""

from __future__ import annotations

import math
import os
from collections.abc import Collection, Mapping

MAX_SEED = 2**63 - 1
"""The largest seed every torch generator takes."""
THREADS_PER_CPU = 4
"""Bound on ``threads``: this many per logical CPU; more only slows torch down, and
a huge count crashes its thread pool."""


class SettingsError(ValueError):
    """A run's settings cannot work; said before anything is trained or written.

    ``template`` refers to the ``arguments`` it is about as ``{0}``, ``{1}``...
    and to ``values`` by their keys.
    """

    def __init__(self, template: str, *arguments: str, **values: object) -> None:
        self.template = template
        self.arguments = arguments
        self.values = values
        super().__init__(self.render())

    def render(self, names: Mapping[str, str] | None = None) -> str:
        """The message with each argument called by ``names`` (default: its Python name)."""
        if not self.arguments and not self.values:
            return self.template
        names = names or {}
        called = [names.get(argument, argument) for argument in self.arguments]
        return self.template.format(*called, **self.values)

    def requirement(self) -> str:
        """The message without the argument it starts with (for an option parser)."""
        if not self.arguments:
            return self.render()
        return self.render({self.arguments[0]: ""}).lstrip(": ")


def is_integer(value: object) -> bool:
    """An ``int`` that is not a ``bool``."""
    return isinstance(value, int) and not isinstance(value, bool)


def check_integer(
    value: object,
    argument: str,
    lowest: int,
    highest: int | None = None,
    why: str = "",
    optional: bool = False,
) -> None:
    """``value`` must be an integer in ``[lowest, highest]`` (or ``None`` if ``optional``);
    ``why`` ends the requirement."""
    if optional and value is None:
        return
    if is_integer(value) and value >= lowest and (highest is None or value <= highest):  # type: ignore[operator]
        return
    bound = f">= {lowest}" if highest is None else f"from {lowest} to {highest}"
    template = "{0} must be an integer {bound}{why}{none}, got {got}"
    none = " or None" if optional else ""
    raise SettingsError(template, argument, bound=bound, why=why, none=none, got=repr(value))


def check_optional_integer(
    value: object, argument: str, lowest: int, highest: int | None = None
) -> None:
    """``None``, or as :func:`check_integer`."""
    check_integer(value, argument, lowest, highest, optional=True)


def check_seed(value: object, argument: str = "seed") -> None:
    """A seed every torch generator takes: an integer in ``[0, 2**63)``."""
    if not (is_integer(value) and 0 <= value <= MAX_SEED):  # type: ignore[operator]
        template = "{0} must be an integer >= 0 and below 2**63 (what torch takes), got {got}"
        raise SettingsError(template, argument, got=repr(value))


def check_positive_number(value: object, argument: str) -> None:
    """A finite real number > 0 (an ``int`` or a ``float``, not a ``bool``)."""
    real = isinstance(value, (int, float)) and not isinstance(value, bool)
    if real and math.isfinite(value) and value > 0:  # type: ignore[arg-type, operator]
        return
    raise SettingsError("{0} must be > 0 and finite, got {got}", argument, got=repr(value))


def check_choice(value: object, argument: str, choices: Collection[str]) -> None:
    if not (isinstance(value, str) and value in choices):
        raise SettingsError(
            "{0} must be one of {choices}, got {got}",
            argument,
            choices=", ".join(choices),
            got=repr(value),
        )


def check_flag(value: object, argument: str) -> None:
    if not isinstance(value, bool):
        raise SettingsError("{0} must be True or False, got {got}", argument, got=repr(value))


def max_threads() -> int:
    """The most CPU threads a run accepts on this machine (:data:`THREADS_PER_CPU` per CPU)."""
    return THREADS_PER_CPU * (os.cpu_count() or 1)


def check_threads(value: object, argument: str = "threads") -> None:
    """``None`` (torch's choice) or ``1`` to :func:`max_threads`."""
    if value is None or (is_integer(value) and 1 <= value <= max_threads()):  # type: ignore[operator]
        return
    if is_integer(value) and value > 1:  # type: ignore[operator]
        raise SettingsError(
            "{0}: {got} threads is more than {per} per CPU of this machine ({cpus} CPUs); "
            "use at most {most}",
            argument,
            got=value,
            per=THREADS_PER_CPU,
            cpus=os.cpu_count() or 1,
            most=max_threads(),
        )
    check_integer(value, argument, 1, max_threads())
