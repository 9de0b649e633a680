"""Strict JSON: non-finite numbers become null, with a field saying why."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest

from reparam._json import NON_FINITE_KEY, replace_non_finite, to_strict_json


def strict_loads(text: str) -> Any:
    """Parse as a strict parser would: the tokens NaN and Infinity are errors."""

    def refuse(token: str) -> float:
        raise ValueError(f"not JSON: {token}")

    return json.loads(text, parse_constant=refuse)


def test_the_strict_parser_rejects_what_json_dumps_writes_by_default() -> None:
    # The check used below can fail: Python's own output is not strict JSON.
    with pytest.raises(ValueError, match="NaN"):
        strict_loads(json.dumps({"loss": math.nan}))


def test_non_finite_values_become_null_with_a_note_in_their_object() -> None:
    data = {
        "loss": math.nan,
        "rows": [{"snr": math.inf, "mean": 1.5}, {"snr": 2.0}],
        "history": [[1.0, -math.inf]],
        "exact": None,
        "name": "run",
    }
    out = strict_loads(to_strict_json(data))
    assert out["loss"] is None and out[NON_FINITE_KEY] == {"loss": "nan", "history[0][1]": "-inf"}
    assert out["rows"][0] == {"snr": None, "mean": 1.5, NON_FINITE_KEY: {"snr": "inf"}}
    assert out["rows"][1] == {"snr": 2.0}  # no note where nothing was replaced
    assert out["exact"] is None and out["name"] == "run"
    for spelling in ("nan", "inf", "-inf"):  # each note turns back into the float
        assert not math.isfinite(float(spelling))


def test_finite_data_is_unchanged_and_replacing_twice_changes_nothing() -> None:
    data = {"a": [1, 2.5, True, None, "x"], "b": {"c": -0.0}}
    assert strict_loads(to_strict_json(data)) == data
    once = replace_non_finite({"x": math.nan, "y": [math.inf]})
    assert replace_non_finite(once) == once


def test_a_non_finite_number_with_no_object_to_hold_the_note_is_an_error() -> None:
    with pytest.raises(ValueError, match=r"\[1\]"):
        to_strict_json([1.0, math.nan])


def test_an_existing_field_with_the_note_name_is_not_overwritten() -> None:
    with pytest.raises(ValueError, match=NON_FINITE_KEY):
        to_strict_json({"x": math.nan, NON_FINITE_KEY: "mine"})


def test_allow_nan_cannot_be_switched_back_on() -> None:
    with pytest.raises(TypeError, match="allow_nan"):
        to_strict_json({}, allow_nan=True)
