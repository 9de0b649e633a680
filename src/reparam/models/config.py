"""Typed, frozen model configs: each field documented and checked by itself.

A model family's config is a frozen dataclass whose fields are made with
:func:`option`: a default, a one-line help (in which ``{name}`` refers to
another field, so a front end can call it its own way), and a check of the
value alone, raising :class:`~reparam.training._checks.SettingsError` naming
the field. ``__post_init__`` runs every field's check (:func:`check_fields`),
then the checks across fields. :func:`check_field` checks one value on its own,
which is how a command line validates an option as it parses it; the options
of ``reparam vae`` and ``reparam dvae`` are generated from these fields.

>>> from reparam.models import VAEConfig
>>> VAEConfig(latent_dim=0)
Traceback (most recent call last):
...
reparam.training._checks.SettingsError: latent_dim must be an integer >= 1, got 0
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from typing import Any

from reparam.training._checks import SettingsError, check_choice, check_integer

__all__ = [
    "Check",
    "at_least",
    "check_field",
    "check_fields",
    "one_of",
    "option",
    "option_fields",
    "widths",
]

Check = Callable[[Any, str], None]
"""``check(value, name)`` raises a :class:`SettingsError` naming ``name``, or returns."""


def option(
    default: Any,
    help: str,
    check: Check | None = None,
    *,
    kind: str | None = None,
    choices: Callable[[], Sequence[str]] | None = None,
    note: Callable[[], str] | None = None,
    command_line: bool = True,
) -> Any:
    """A config field: ``default``, ``help`` (``{field}`` names another field), ``check``.

    ``kind`` says how text becomes the value where the type does not
    (``"widths"``: comma-separated integers); ``choices`` lists the strings a
    command offers (a function, called when needed; the library's check is
    ``check``, which may accept more, e.g. an estimator object); ``note`` adds to the help
    what is computed (e.g. which choices need which other setting); ``command_line=False``
    keeps the field out of the command's options.
    """
    metadata = {
        "help": help,
        "check": check,
        "kind": kind,
        "choices": choices,
        "note": note,
        "command_line": command_line,
    }
    return dataclasses.field(default=default, metadata=metadata)


def option_fields(config: type) -> list[dataclasses.Field[Any]]:
    """The fields of ``config`` that are options of its command."""
    return [f for f in dataclasses.fields(config) if f.metadata.get("command_line", False)]


def check_field(config: type, name: str, value: Any) -> None:
    """The check of field ``name`` of ``config`` on ``value`` alone."""
    field = {f.name: f for f in dataclasses.fields(config)}[name]
    check = field.metadata.get("check")
    if check is not None:
        check(value, name)


def check_fields(config: object) -> None:
    """Every field's own check (call it first in ``__post_init__``)."""
    for field in dataclasses.fields(config):  # type: ignore[arg-type]
        check_field(type(config), field.name, getattr(config, field.name))


def at_least(lowest: int, optional: bool = False) -> Check:
    """An integer ``>= lowest`` (or ``None`` if ``optional``)."""

    def check(value: Any, name: str) -> None:
        check_integer(value, name, lowest, optional=optional)

    return check


def one_of(choices: Sequence[str]) -> Check:
    def check(value: Any, name: str) -> None:
        check_choice(value, name, choices)

    return check


def widths(allow_none: bool = True) -> Check:
    """Layer widths: integers >= 1 (an empty sequence when ``allow_none``)."""

    def check(value: Any, name: str) -> None:
        values = [value] if isinstance(value, int) and not isinstance(value, bool) else value
        try:
            items = list(values)
        except TypeError:
            items = None
        if items is not None and (allow_none or items) and all(map(_is_width, items)):
            return
        raise SettingsError(
            "{0} must be layer widths, integers >= 1, got {got}", name, got=repr(value)
        )

    return check


def _is_width(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 1
