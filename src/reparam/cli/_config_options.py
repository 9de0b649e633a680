"""A model config's fields as command-line options: one option per field, generated.

The name is ``--`` and the field's name with dashes; the help is the field's,
with ``{field}`` references said as options; the value is parsed from its type
(integers, numbers, comma-separated widths, or the field's choices) and then
checked by the field's own check, whose error becomes the option's one-line
error. A field added to a config is thereby an option with its own validation.
"""

from __future__ import annotations

import argparse
import dataclasses
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from reparam.cli._parser import checked, comma_list, finite_float, integer
from reparam.models.config import check_field, option_fields

__all__ = ["add_config_arguments", "config_keys"]

ALIASES: Mapping[str, Sequence[str]] = {"num_samples": ("--samples",)}
"""Older spellings that still work."""
METAVARS: Mapping[str, str] = {"hidden": "W1,W2,...", "num_samples": "N", "iw_k": "K"}


def flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def config_keys(config: type) -> tuple[str, ...]:
    """The names of the config's fields that are options."""
    return tuple(f.name for f in option_fields(config))


def add_config_arguments(
    group: argparse._ArgumentGroup,
    config: type,
    groups: Mapping[str, argparse._ArgumentGroup] | None = None,
) -> None:
    """An option per field of ``config`` into ``group`` (or ``groups[name]``)."""
    names = {f.name: flag(f.name) for f in dataclasses.fields(config)}
    for field in option_fields(config):
        note = field.metadata.get("note")
        text = field.metadata["help"] + (note() if note is not None else "")
        kwargs: dict[str, Any] = {"dest": field.name, "help": text.format(**names)}
        choices = field.metadata.get("choices")
        if choices is not None:
            kwargs["choices"] = list(choices())
        else:
            kwargs["type"] = checked(_parse(field), _check(config, field.name))
        if field.name in METAVARS:
            kwargs["metavar"] = METAVARS[field.name]
        target = (groups or {}).get(field.name, group)
        target.add_argument(flag(field.name), *ALIASES.get(field.name, ()), **kwargs)


def _check(config: type, name: str) -> Callable[[Any], None]:
    def check(value: Any) -> None:
        check_field(config, name, value)

    return check


def _parse(field: dataclasses.Field[Any]) -> Callable[[str], Any]:
    """Text -> value, by the field's kind or type (its range is the field's check's)."""
    annotation = str(field.type)
    if field.metadata.get("kind") == "widths":
        widths = comma_list(integer, "hidden widths")
        if annotation.startswith("int |"):  # one width stays a number (saved as before)
            return lambda text: _one_or_many(widths(text))
        return widths
    if annotation.startswith("float"):
        return finite_float
    if annotation.startswith("int"):
        return integer
    return str


def _one_or_many(values: list[int]) -> int | list[int]:
    return values[0] if len(values) == 1 else values
