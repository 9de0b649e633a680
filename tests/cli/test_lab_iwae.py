"""``reparam lab --problem iwae-gaussian``: table, JSON, the SNR picture, bad input."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from reparam.cli import main
from tests.images import png_size

ARGS = ["lab", "--problem", "iwae-gaussian", "--samples", "1,5", "--trials", "200"]


def test_listed(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["lab", "--list"]) == 0
    out = capsys.readouterr().out
    assert re.search(r"^  iwae-gaussian +importance-weighted bound", out, re.MULTILINE)


def test_table(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([*ARGS, "--estimators", "standard,dreg"]) == 0
    out = capsys.readouterr().out
    assert "k = 5 importance samples, 200 trials" in out and "log p(x) = -1.82801" in out
    assert out.count("dreg      a ") == 2 and "stl       a " not in out


def test_json_and_plot(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "snr.png"
    assert main([*ARGS, "--json", "--plot", str(target)]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["problem"] == "iwae-gaussian" and data["parameters"] == ["a", "b", "c", "mu", "s"]
    assert [b["num_samples"] for b in data["bounds"]] == [1, 5]
    assert len(data["rows"]) == 3 * 2 * 5
    stl_5 = [r for r in data["rows"] if r["estimator"] == "stl" and r["num_samples"] == 5]
    assert not any(r["unbiased"] for r in stl_5)
    width, height = png_size(target)
    assert width > 1000 and height > 400 and target.stat().st_size > 30_000


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        (["--k", "2"], "has no parameter k; set the numbers of importance samples"),
        (["--estimators", "pathwise"], "gradient choices, among standard,stl,dreg"),
    ],
)
def test_bad_input(extra: list[str], expected: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main([*ARGS, *extra]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and expected in err


@pytest.mark.parametrize(
    ("options", "sizes"),
    [
        (["--samples", "1,100000000"], "--samples 100000000 with the default --trials 4000"),
        (["--samples", "100000000", "--trials", "4000"], "--samples 100000000 with --trials 4000"),
    ],
)
def test_sizes_that_cannot_fit_are_refused_with_an_estimate(
    options: list[str], sizes: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["lab", "--problem", "iwae-gaussian", *options]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1, err
    assert sizes in err and "needs at least 6.4 TB of memory" in err, err
