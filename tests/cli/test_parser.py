"""Option types of the command line: each bad value is one line naming the option."""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch

from reparam.cli import main
from reparam.cli._parser import (
    Parser,
    comma_list,
    int_at_least,
    max_threads,
    nonempty_path,
    plot_path,
    seed_option,
    threads_option,
)
from reparam.training.distributed import check_device


def parse_error(kind: Callable[[str], Any], text: str, capsys: pytest.CaptureFixture[str]) -> str:
    """The error of ``--opt TEXT`` for an option of type ``kind``: exit 2, one line."""
    parser = Parser(prog="reparam test")
    parser.add_argument("--opt", type=kind)
    with pytest.raises(SystemExit) as exit_info:
        parser.parse_args(["--opt", text])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    assert "argument --opt:" in err
    return err


@pytest.mark.parametrize("text", ["512,,256", ",512", "512,", "512, ,256", ",", ""])
def test_comma_list_refuses_empty_entries(text: str, capsys: pytest.CaptureFixture[str]) -> None:
    err = parse_error(comma_list(int_at_least(1), "widths"), text, capsys)
    assert "empty" in err or "one or more values" in err


def test_comma_list_names_the_bad_entry(capsys: pytest.CaptureFixture[str]) -> None:
    parse = comma_list(int_at_least(1), "widths")
    assert parse(" 512 , 256 ") == [512, 256]
    assert "widths: must be an integer >= 1, got 0" in parse_error(parse, "512,0", capsys)


def test_dvae_hidden_widths_refuse_an_empty_entry(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["dvae", "--hidden", "512,,256"])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "--hidden" in err and "entry 2" in err


def test_seed_option_takes_what_torch_takes() -> None:
    assert seed_option("0") == 0
    assert seed_option(str(2**63 - 1)) == 2**63 - 1


@pytest.mark.parametrize("text", [str(2**63), "99999999999999999999", "-1", "1.5"])
def test_seed_option_refuses_out_of_range(text: str, capsys: pytest.CaptureFixture[str]) -> None:
    parse_error(seed_option, text, capsys)


def test_threads_option_bound_comes_from_the_cpu_count(
    capsys: pytest.CaptureFixture[str],
) -> None:
    bound = max_threads()
    assert bound == 4 * (os.cpu_count() or 1)
    assert threads_option("1") == 1 and threads_option(str(bound)) == bound
    err = parse_error(threads_option, str(bound + 1), capsys)
    assert f"use at most {bound}" in err
    parse_error(threads_option, "100000", capsys)
    parse_error(threads_option, "0", capsys)


@pytest.mark.parametrize("text", ["cpu", "cuda", "cuda:0", "cuda:1"])
def test_device_names_accepted_where_the_devices_exist(text: str) -> None:
    # the device is parsed and checked once, by the library (the CLI passes the text on)
    assert check_device(text, cuda_devices=2) == torch.device(text)


@pytest.mark.parametrize(
    ("text", "cuda_devices", "expected"),
    [
        ("mps", 2, "unknown device 'mps'"),
        ("meta", 2, "unknown device 'meta'"),
        ("cuda:x", 2, "unknown device"),
        ("CPU", 2, "unknown device"),
        ("cuda:2", 2, "cuda:0 to cuda:1"),
        ("cuda", 0, "no CUDA device"),
        ("cuda:0", 0, "no CUDA device"),
    ],
)
def test_device_names_refused(text: str, cuda_devices: int, expected: str) -> None:
    with pytest.raises(ValueError, match=re.escape(expected)):
        check_device(text, cuda_devices)


def test_the_device_option_is_checked_by_the_library(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["vae", "--device", f"cuda:{torch.cuda.device_count()}", "--data-dir", "missing"]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "--device cuda:" in err and ("no CUDA device" in err or "this machine has" in err)


@pytest.mark.parametrize("text", ["", "   "])
def test_nonempty_path_refuses_an_empty_path(text: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert nonempty_path("runs/a") == "runs/a"
    assert "expected a path" in parse_error(nonempty_path, text, capsys)


def test_plot_path_adds_the_suffix_that_is_written(tmp_path: Path) -> None:
    assert plot_path(str(tmp_path / "noext")) == tmp_path / "noext.png"
    assert plot_path(str(tmp_path / "new" / "deeper" / "a.PNG")) == tmp_path / "new/deeper/a.PNG"


def test_plot_path_refusals(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "figs").mkdir()
    (tmp_path / "afile").write_text("")
    assert "is a folder" in parse_error(plot_path, str(tmp_path / "figs"), capsys)
    assert "is a folder" in parse_error(plot_path, str(tmp_path), capsys)
    assert "with .png" in parse_error(plot_path, str(tmp_path / "x.txt"), capsys)
    err = parse_error(plot_path, str(tmp_path / "afile" / "sub" / "x.png"), capsys)
    assert "afile is a file, not a folder" in err
    assert "expected a path" in parse_error(plot_path, "", capsys)


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write into a read-only folder")
def test_plot_path_refuses_a_read_only_folder(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        assert "is not writable" in parse_error(plot_path, str(locked / "x.png"), capsys)
    finally:
        locked.chmod(0o700)


@pytest.mark.skipif(not Path("/proc/self").is_dir(), reason="needs Linux's /proc")
def test_plot_path_refuses_a_folder_nobody_may_create_files_in(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # Not even root creates files in /proc/self: the same check, for any user.
    assert "is not writable" in parse_error(plot_path, "/proc/self/x.png", capsys)
