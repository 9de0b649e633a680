"""Strict JSON for results that may hold ``nan`` or ``inf``.

JSON (RFC 8259, section 6) has no value for a number that is not finite, yet
Python's :func:`json.dumps` writes the non-standard tokens ``NaN``, ``Infinity``
and ``-Infinity`` by default, which strict parsers (``jq``, JavaScript's
``JSON.parse``) reject. Here such a float becomes ``null``, and the object that
holds it gains a field :data:`NON_FINITE_KEY` saying which of its fields were
not finite and what they were (``"nan"``, ``"inf"`` or ``"-inf"``; each spelling
turns back into the float with ``float(...)``):

>>> to_strict_json({"loss": float("nan"), "steps": 3})
'{"loss": null, "steps": 3, "non_finite": {"loss": "nan"}}'

A non-finite number inside a list is named by its index, in the nearest object:

>>> to_strict_json({"history": [1.0, float("inf")]})
'{"history": [1.0, null], "non_finite": {"history[1]": "inf"}}'

Use :func:`to_strict_json` to print or write a result, and
:func:`replace_non_finite` for a JSON-ready copy (e.g. from a ``to_dict``
method). ``None`` already in the data stays a plain ``null`` (a value that is
unknown), with no note.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

NON_FINITE_KEY = "non_finite"
"""Field added to an object whose fields held ``nan`` or ``inf``: field -> spelling."""


def to_strict_json(data: Any, **dumps_options: Any) -> str:
    """``data`` as standard JSON text: non-finite floats as ``null`` with a note.

    Args:
        data: dicts, lists, tuples, strings, numbers, booleans and ``None``; a
            non-finite float must sit inside a dict (somewhere under it), which
            takes the note.
        dumps_options: passed to :func:`json.dumps` (``indent``, ``sort_keys``,
            ...); ``allow_nan`` is always ``False``, the final guard.

    Raises:
        ValueError: a non-finite float with no object to hold its note, or an
            object that already has a :data:`NON_FINITE_KEY` field and needs a
            new note in it.
    """
    if "allow_nan" in dumps_options:
        raise TypeError("to_strict_json always writes allow_nan=False; do not pass allow_nan")
    return json.dumps(replace_non_finite(data), allow_nan=False, **dumps_options)


def replace_non_finite(data: Any) -> Any:
    """A copy of ``data`` with non-finite floats replaced as :func:`to_strict_json` does.

    Applying it twice changes nothing more:

    >>> once = replace_non_finite({"snr": float("-inf")})
    >>> once
    {'snr': None, 'non_finite': {'snr': '-inf'}}
    >>> replace_non_finite(once) == once
    True
    """
    cleaned, notes = _clean(data, "")
    if notes:
        raise ValueError(
            f"non-finite number at {', '.join(notes)} with no enclosing object to say why "
            "it is null; wrap the data in a dict"
        )
    return cleaned


def _clean(value: Any, path: str) -> tuple[Any, dict[str, str]]:
    """``value`` cleaned, and the notes for non-finite floats not inside a nested dict."""
    if isinstance(value, float) and not math.isfinite(value):
        return None, {path: _spelling(value)}
    if isinstance(value, Mapping):
        return _clean_object(value), {}
    if isinstance(value, (list, tuple)):
        items: list[Any] = []
        notes: dict[str, str] = {}
        for index, item in enumerate(value):
            cleaned, inner = _clean(item, f"{path}[{index}]")
            items.append(cleaned)
            notes.update(inner)
        return items, notes
    return value, {}


def _clean_object(data: Mapping[Any, Any]) -> dict[Any, Any]:
    out: dict[Any, Any] = {}
    notes: dict[str, str] = {}
    for key, value in data.items():
        out[key], inner = _clean(value, str(key))
        notes.update(inner)
    if notes:
        if NON_FINITE_KEY in out:
            raise ValueError(
                f"cannot note the non-finite {', '.join(notes)}: the object already has a "
                f"field {NON_FINITE_KEY!r}; rename that field"
            )
        out[NON_FINITE_KEY] = notes
    return out


def _spelling(value: float) -> str:
    if math.isnan(value):
        return "nan"
    return "inf" if value > 0 else "-inf"
