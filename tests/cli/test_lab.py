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
    "size",
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


@pytest.mark.parametrize(
    ("option", "value"),
    [("--estimators", "pathwise,,score"), ("--samples", "1,,4"), ("--samples", "1,")],
)
def test_empty_list_entries_are_refused(
    option: str, value: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["lab", "--problem", "cos", option, value, "--trials", "50"])
    assert exit_info.value.code == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    err = captured.err.strip()
    assert len(err.splitlines()) == 1 and option in err and "is empty" in err


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--samples", "100000000"], "--samples 100000000 (timed on a batch of 1024 trials)"),
        (["--trials", "10000000000"], "--samples 64 with --trials 10000000000"),
    ],
)
def test_sizes_that_cannot_fit_in_memory_are_refused_up_front(
    args: list[str], expected: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["lab", "--problem", "cos", *args]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    assert expected in err and "needs at least" in err and "of memory" in err


def test_json_says_why_a_value_is_null(capsys: pytest.CaptureFixture[str]) -> None:
    # DisARM's estimate on the one-parameter Bernoulli toy does not vary: SNR = inf.
    def refuse(token: str) -> float:
        raise ValueError(f"not JSON: {token}")

    args = ["lab", "--problem", "bernoulli-toy", "--estimators", "disarm", "--samples", "1"]
    assert main([*args, "--trials", "50", "--json"]) == 0
    data = json.loads(capsys.readouterr().out, parse_constant=refuse)
    (row,) = data["rows"]
    assert row["variance"] == 0 and row["snr"] is None
    assert row["non_finite"] == {"snr": "inf"}


def test_seed_overflow_names_the_option(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["lab", "--problem", "cos", "--seed", str(2**64)])
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "--seed" in err


@pytest.mark.parametrize("name", ["figs", "x.txt", "afile/x.png"])
def test_bad_plot_paths_are_refused_before_the_run(
    name: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "figs").mkdir()
    (tmp_path / "afile").write_text("")
    with pytest.raises(SystemExit) as exit_info:
        main(["lab", "--problem", "cos", "--plot", str(tmp_path / name)])
    assert exit_info.value.code == 2
    captured = capsys.readouterr()
    assert captured.out == "" and "--plot" in captured.err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["afile", "figs"]


def test_plot_without_suffix_says_the_file_it_wrote(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["lab", "--problem", "cos", "--estimators", "pathwise", "--samples", "1"]
    assert main([*args, "--trials", "50", "--plot", str(tmp_path / "noext")]) == 0
    assert f"plot saved to {tmp_path / 'noext.png'}\n" in capsys.readouterr().out
    assert png_size(tmp_path / "noext.png")


def test_rows_per_tensor_by_default_and_per_coordinate_with_full(
    capsys: pytest.CaptureFixture[str],
) -> None:
    args = ("--problem", "dirichlet-poly", "--estimators", "pathwise", "--samples", "1",
            "--trials", "100")  # fmt: skip
    summary = run_json(capsys, *args)["rows"]
    assert [(r["parameter"], r["size"]) for r in summary] == [("concentration", 3)]  # type: ignore[index]
    full = run_json(capsys, *args, "--full")["rows"]
    assert [r["parameter"] for r in full] == [f"concentration[{i}]" for i in range(3)]  # type: ignore[index]
    assert summary[0]["variance"] == pytest.approx(sum(r["variance"] for r in full))  # type: ignore[index]
    assert main(["lab", *args]) == 0
    assert "concentration       3" in capsys.readouterr().out
    assert main(["lab", *args, "--full"]) == 0
    assert "concentration[2]" in capsys.readouterr().out


def test_a_trainable_estimator_gets_a_trained_row(capsys: pytest.CaptureFixture[str]) -> None:
    args = ("--problem", "bernoulli-toy", "--estimators", "relax", "--samples", "1",
            "--trials", "100")  # fmt: skip
    rows = run_json(capsys, *args, "--train-steps", "5")["rows"]
    assert [r["estimator"] for r in rows] == ["relax", "relax (trained 5 steps)"]  # type: ignore[index]
    rows = run_json(capsys, *args, "--train-steps", "0")["rows"]
    assert [r["estimator"] for r in rows] == ["relax"]  # type: ignore[index]


@pytest.mark.parametrize("extra", [["--full"], ["--train-steps", "3"]])
def test_options_that_do_not_apply_to_the_iwae_study_are_refused(
    extra: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["lab", "--problem", "iwae-gaussian", "--samples", "1", "--trials", "10", *extra]
    assert main(args) == 2
    assert f"{extra[0]} do not apply" in capsys.readouterr().err
