"""What the timing benchmarks share: their options, an interleaved timer and the JSON report.

Used by ``compiled.py``, ``estimators.py`` and ``distributions.py`` (run as
``python benchmarks/X.py``, so this module is found beside them; a runner that
executes them otherwise, as ``benchmarks/gpu.sh`` does with ``runpy``, puts
their folder on ``sys.path`` first).

The clock depends on where the work runs, torch's default device when the
timing starts:

* on the CPU, the CPU time of the calling thread (``time.thread_time``): PyTorch
  runs its work on that thread with ``--threads 1``, and time lost to other
  processes on a shared machine is not counted;
* on CUDA, wall-clock time (``time.perf_counter``) between two
  ``torch.cuda.synchronize()``: kernels run asynchronously, so the host's CPU
  time measures only the launches, not the work.

Each report says which (``clock``).
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from collections.abc import Callable, Mapping

import torch

Timed = Callable[[], object]
Fields = Mapping[str, object]


def timing_parser(doc: str, repeats: int, inner: int | None = None) -> argparse.ArgumentParser:
    """A parser titled by ``doc``'s first line, with ``--repeats``, ``--threads`` and,
    when ``inner`` is given, ``--inner`` (consecutive calls per timing)."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=repeats)
    if inner is not None:
        parser.add_argument("--inner", type=int, default=inner)
    parser.add_argument("--threads", type=int, default=1)
    return parser


def start(args: argparse.Namespace) -> None:
    """``--threads`` for PyTorch and the seed 0 that every benchmark starts from."""
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)


def on_cuda() -> bool:
    """Whether torch's default device is a CUDA device (``torch.set_default_device``)."""
    return torch.empty(0).device.type == "cuda"


def clock_name() -> str:
    """What :func:`seconds_per_call` measures here (see the module docstring)."""
    if on_cuda():
        return "wall-clock, CUDA synchronised (time.perf_counter)"
    return "CPU time of the calling thread (time.thread_time)"


def seconds_per_call(fn: Timed, inner: int = 1) -> float:
    """Seconds per call over ``inner`` consecutive calls, by the clock of :func:`clock_name`.

    On CUDA the device is synchronised before the first call and after the
    last, so the time includes every kernel the calls queued.
    """
    if not on_cuda():
        begin = time.thread_time()
        for _ in range(inner):
            fn()
        return (time.thread_time() - begin) / inner
    torch.cuda.synchronize()
    begin = time.perf_counter()
    for _ in range(inner):
        fn()
    torch.cuda.synchronize()
    return (time.perf_counter() - begin) / inner


def interleaved_medians(fns: Mapping[str, Timed], repeats: int, inner: int = 1) -> dict[str, float]:
    """Median seconds per call of each function, timed in turns.

    After one warm-up timing of each, every repeat times each function once
    (``inner`` calls), in the given order on even repeats and reversed on odd
    ones, so that a drift of the machine hits all of them alike.
    """
    for fn in fns.values():
        seconds_per_call(fn, inner)
    times: dict[str, list[float]] = {name: [] for name in fns}
    order = list(fns)
    for repeat in range(repeats):
        for name in order if repeat % 2 == 0 else order[::-1]:
            times[name].append(seconds_per_call(fns[name], inner))
    return {name: statistics.median(values) for name, values in times.items()}


def print_report(
    benchmark: str, settings: Mapping[str, object], body: Mapping[str, object]
) -> None:
    """One JSON object: the benchmark's name, its settings, the software and machine,
    the clock, then ``body``."""
    report = {
        "benchmark": benchmark,
        **settings,
        "torch": torch.__version__,
        "python": platform.python_version(),
        "machine": platform.machine(),
        "device": torch.cuda.get_device_name() if on_cuda() else "cpu",
        "clock": clock_name(),
        **body,
    }
    print(json.dumps(report, indent=2))
