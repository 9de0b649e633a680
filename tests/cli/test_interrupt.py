"""Ctrl-C anywhere in the command: one line, exit code 130."""

from __future__ import annotations

import subprocess
import sys

import pytest

import reparam.cli
from reparam.cli import Parser, main
from tests.conftest import REPO

# A first Ctrl-C during a long run, a second one while Python shuts down (an atexit
# callback registered after torch's runs first and presses it).
TWICE = """
import atexit, os, runpy, signal, sys, threading, time
import reparam.cli

def press():
    os.kill(os.getpid(), signal.SIGINT)

def press_again_at_exit():
    press()
    time.sleep(1)

atexit.register(press_again_at_exit)
threading.Timer(1.0, press).start()
sys.argv = ["reparam", "channel", "--steps", "100000000"]
runpy.run_module("reparam", run_name="__main__")
"""

# Ctrl-C (twice) while torch is being imported, at start-up.
WHILE_IMPORTING = """
import importlib.abc, os, signal, sys

class PressWhileImportingTorch(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name in ("torch", "torch.nn"):
            os.kill(os.getpid(), signal.SIGINT)
        return None

sys.meta_path.insert(0, PressWhileImportingTorch())
sys.argv = ["reparam", "channel"]
import _reparam_entry
_reparam_entry.run()
"""


class InterruptedParser(Parser):
    def parse_args(self, *args: object, **kwargs: object) -> object:  # type: ignore[override]
        raise KeyboardInterrupt


def test_ctrl_c_while_parsing_is_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(reparam.cli, "build_parser", lambda: InterruptedParser(prog="reparam"))
    assert main(["channel"]) == 130
    assert capsys.readouterr().err == "reparam: error: interrupted\n"


@pytest.mark.slow
def test_ctrl_c_twice_is_one_line_and_exit_130() -> None:
    done = subprocess.run(
        [sys.executable, "-c", TWICE], capture_output=True, text=True, timeout=120, cwd=REPO
    )
    assert done.returncode == 130, done.stderr
    assert done.stderr == "reparam: error: interrupted\n"


@pytest.mark.slow
def test_ctrl_c_while_importing_torch_is_one_line_and_exit_130() -> None:
    done = subprocess.run(
        [sys.executable, "-c", WHILE_IMPORTING],
        capture_output=True, text=True, timeout=120, cwd=REPO,
    )  # fmt: skip
    assert done.returncode == 130, done.stderr
    assert done.stderr == "reparam: error: interrupted\n"
