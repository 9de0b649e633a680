"""The timing scripts' shared parts: how ``benchmarks/gpu.sh`` runs them, and their clock.

No GPU is needed: the runner is tried with the CPU as the default device, and the
CUDA clock with ``torch.cuda.synchronize`` and the wall clock replaced, inside
these tests only, by stand-ins that record their calls.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from types import ModuleType

import pytest
import torch

from tests.conftest import REPO

BENCHMARKS = REPO / "benchmarks"


@pytest.fixture
def common() -> Iterator[ModuleType]:
    """``benchmarks/_common.py``, imported as the scripts beside it import it."""
    sys.path.insert(0, str(BENCHMARKS))
    try:
        import _common

        yield _common
    finally:
        sys.path.remove(str(BENCHMARKS))


def test_on_the_cpu_the_clock_is_the_threads_cpu_time(common: ModuleType) -> None:
    assert not common.on_cuda()
    assert "thread_time" in common.clock_name()


def test_on_cuda_the_clock_is_the_wall_between_synchronisations(
    common: ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    events: list[str] = []
    ticks = iter([10.0, 13.0])
    monkeypatch.setattr(common, "on_cuda", lambda: True)
    monkeypatch.setattr(torch.cuda, "synchronize", lambda: events.append("sync"))
    monkeypatch.setattr(common.time, "perf_counter", lambda: next(ticks))
    seconds = common.seconds_per_call(lambda: events.append("call"), inner=3)
    assert events == ["sync", "call", "call", "call", "sync"]
    assert seconds == 1.0  # (13 - 10) / 3 calls
    assert "synchronised" in common.clock_name()


def _gpu_runner() -> str:
    """The Python line with which ``gpu.sh`` runs a timing script on CUDA."""
    text = (BENCHMARKS / "gpu.sh").read_text()
    match = re.search(r"^ON_CUDA='(.*)'$", text, re.MULTILINE)
    assert match, "gpu.sh defines ON_CUDA='...'"
    return match.group(1)


@pytest.mark.slow
def test_gpu_sh_runs_a_timing_script_that_imports_common() -> None:
    """The runner of gpu.sh, with the CPU for CUDA: the script finds ``_common`` beside it."""
    runner = _gpu_runner().replace('set_default_device("cuda")', 'set_default_device("cpu")')
    assert "cuda" not in runner
    script = [str(BENCHMARKS / "estimators.py"), "--dims", "10", "--repeats", "1", "--inner", "1"]
    done = subprocess.run(
        [sys.executable, "-c", runner, *script],
        capture_output=True, text=True, timeout=300, check=False, cwd=REPO.parent,
        env={**os.environ, "PYTHONPATH": str(REPO / "src")},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["benchmark"] == "estimators" and report["device"] == "cpu"
