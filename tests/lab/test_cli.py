"""``reparam lab``: listing, tables, JSON schema, the picture, and bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from reparam.cli import main
from reparam.lab import PROBLEMS
from tests.images import png_size

ROW_KEYS = {
    "estimator",
    "unbiased",
    "num_samples",
    "parameter",
    "trials",
    "mean",
    "exact",
    "bias",
    "bias_se",
    "variance",
    "variance_se",
    "exact_variance",
    "snr",
    "time",
    "work_variance",
    "quantiles",
}


def run_json(capsys: pytest.CaptureFixture[str], *args: str) -> dict[str, object]:
    assert main(["lab", *args, "--json"]) == 0
    return json.loads(capsys.readouterr().out)  # type: ignore[no-any-return]


def test_list_names_every_problem(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["lab", "--list"]) == 0
    out = capsys.readouterr().out
    for name in PROBLEMS:
        assert f"  {name}  " in out
    assert "estimators: score" in out  # the Bernoulli toy's


def test_table_per_sample_count(capsys: pytest.CaptureFixture[str]) -> None:
    args = ["lab", "--problem", "quadratic", "--estimators", "pathwise,score", "--trials", "300"]
    assert main([*args, "--samples", "1,4", "--k", "2"]) == 0
    out = capsys.readouterr().out
    assert "f(x) = (x - 2)^2" in out
    assert "S = 1 sample per estimate, 300 trials" in out
    assert "S = 4 samples per estimate, 300 trials" in out
    assert "recommended: pathwise" in out
    assert out.count("score      yes       mu") == 2


def test_json_schema(capsys: pytest.CaptureFixture[str]) -> None:
    data = run_json(
        capsys, "--problem", "channel", "--estimators", "pathwise,score", "--samples", "1,2,8",
        "--trials", "200", "--seed", "4",
    )  # fmt: skip
    assert set(data) == {
        "problem", "summary", "seed", "parameters", "rows", "recommendation", "notes"
    }  # fmt: skip
    assert data["problem"] == "channel" and data["seed"] == 4 and data["parameters"] == ["delta"]
    rows = data["rows"]
    assert isinstance(rows, list) and len(rows) == 2 * 3
    for row in rows:
        assert set(row) == ROW_KEYS
        assert row["trials"] == 200 and row["unbiased"] is True
        assert row["exact"] == pytest.approx(2.0)
        assert row["exact_variance"] == pytest.approx(
            {"pathwise": 8.0, "score": 74.0}[row["estimator"]] / row["num_samples"]
        )
        assert set(row["quantiles"]) == {"q05", "q25", "q50", "q75", "q95"}
    assert data["recommendation"]["estimator"] in ("pathwise", "score")  # type: ignore[index]


def test_json_has_null_for_unknown_exact_variance(capsys: pytest.CaptureFixture[str]) -> None:
    data = run_json(capsys, "--problem", "cos", "--estimators", "score-loo", "--samples", "2",
                    "--trials", "50")  # fmt: skip
    assert all(row["exact_variance"] is None for row in data["rows"])  # type: ignore[attr-defined]


def test_same_seed_same_numbers(capsys: pytest.CaptureFixture[str]) -> None:
    args = ("--problem", "bump", "--estimators", "score", "--samples", "1", "--trials", "100")

    def numbers(*extra: str) -> list[float]:
        return [row["mean"] for row in run_json(capsys, *args, *extra)["rows"]]  # type: ignore[attr-defined]

    assert numbers("--seed", "1") == numbers("--seed", "1") != numbers("--seed", "2")


def test_plot_is_a_real_png(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "figs" / "lab.png"
    args = ["lab", "--problem", "cos", "--estimators", "pathwise,score", "--trials", "400"]
    assert main([*args, "--plot", str(target)]) == 0
    assert f"plot saved to {target}" in capsys.readouterr().out
    width, height = png_size(target)
    assert 1000 <= width <= 3000 and 300 <= height <= 1000
    assert target.stat().st_size > 30_000  # three panels of lines, not a blank canvas


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--problem", "nope"], "unknown problem 'nope'; choose one of: channel, quadratic"),
        (["--problem", "cos", "--estimators", "magic"], "unknown estimator 'magic'; choose"),
        (["--problem", "cos", "--trials", "1"], "--trials"),
        (["--problem", "cos", "--samples", "0"], "--samples"),
        (["--problem", "cos", "--samples", "1,x"], "--samples"),
        (["--problem", "cos", "--k", "nan"], "--k"),
        (["--problem", "gamma-poly", "--k", "2"], "has no parameter k"),
        (["--problem", "bernoulli-toy", "--estimators", "pathwise"], "does not apply to problem"),
        ([], "--problem is required"),
        (["--problem", "cos", "--estimators", "score-loo", "--samples", "1"], "needs S >= 2"),
    ],
)
def test_bad_input_is_a_one_line_error(
    args: list[str], expected: str, capsys: pytest.CaptureFixture[str]
) -> None:
    try:
        code = main(["lab", *args])
    except SystemExit as exit_info:
        code = exit_info.code  # type: ignore[assignment]
    assert code == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    assert expected in err
