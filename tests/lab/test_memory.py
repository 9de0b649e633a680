"""The lab's memory estimate: a lower bound, checked before any work."""

from __future__ import annotations

import subprocess
import sys

import pytest

from reparam._memory import memory_limit
from reparam.lab import compare_problem, get_problem
from reparam.lab._measurement import PILOT_TRIALS, TIMING_BATCH
from reparam.lab._memory import (
    COPIES,
    TooLargeError,
    bytes_needed,
    check_memory,
    trials_per_call,
)
from tests.conftest import REPO

# Peak resident memory of one estimator call, in a fresh process.
PEAK_SCRIPT = """
import sys
from reparam.estimators import resolve_estimator
from reparam.lab import get_problem
from reparam.lab._measurement import estimate
problem, estimator = get_problem(sys.argv[1]), resolve_estimator(sys.argv[2])
samples, trials = int(sys.argv[3]), int(sys.argv[4])
estimate(problem, estimator, sys.argv[2], 2, 2)
from pathlib import Path
def status(key):  # kB, from /proc/self/status
    line = next(l for l in Path('/proc/self/status').read_text().splitlines() if l.startswith(key))
    return int(line.split()[1])
Path('/proc/self/clear_refs').write_text('5')  # resets the peak (VmHWM) to the current use
before = status('VmRSS:')
estimate(problem, estimator, sys.argv[2], samples, trials)
print((status('VmHWM:') - before) * 1024)
"""


def test_every_call_has_at_least_the_timing_and_pilot_batch() -> None:
    assert trials_per_call(None) == max(PILOT_TRIALS, TIMING_BATCH)
    assert trials_per_call(2) == TIMING_BATCH
    assert trials_per_call(10**6) == 10**6


def test_the_estimate_counts_every_number_of_a_draw() -> None:
    # dirichlet-poly draws 3 numbers per sample, the channel 1: three times the bytes.
    channel = bytes_needed(get_problem("channel"), 8, 5000)
    assert channel == COPIES * 8 * 8 * 5000
    assert bytes_needed(get_problem("dirichlet-poly"), 8, 5000) == 3 * channel


@pytest.mark.slow
@pytest.mark.skipif(sys.platform != "linux", reason="reads the peak from /proc/self")
def test_the_estimate_is_below_the_measured_peak() -> None:
    # The estimator with the fewest copies measured (score on dirichlet-poly, ~3.7
    # numbers per drawn number): the bound must stay below its real peak.
    problem, samples, trials = get_problem("dirichlet-poly"), 64, 40_000
    peak = subprocess.run(
        [sys.executable, "-c", PEAK_SCRIPT, "dirichlet-poly", "score", str(samples), str(trials)],
        capture_output=True, text=True, timeout=120, check=True, cwd=REPO,
    )  # fmt: skip
    measured = int(peak.stdout)
    bound = bytes_needed(problem, samples, trials)
    assert bound <= measured, (bound, measured)
    assert 2 * bound > measured  # and not a uselessly low bound for this one


def test_check_memory_refuses_only_above_the_limit() -> None:
    problem = get_problem("cos")
    needed = bytes_needed(problem, 64, None)
    check_memory(problem, 64, None, limit=needed)
    with pytest.raises(TooLargeError, match="needs at least") as info:
        check_memory(problem, 64, None, limit=needed - 1)
    assert (info.value.num_samples, info.value.trials) == (64, TIMING_BATCH)


def test_compare_refuses_before_measuring() -> None:
    limit = memory_limit()
    if limit is None:
        pytest.skip("this platform does not say how much memory it has")
    too_many = limit // bytes_needed(get_problem("cos"), 1, None) + 1
    with pytest.raises(ValueError, match="num_samples"):
        compare_problem("cos", ["pathwise"], num_samples=[1, too_many])
