"""Time per gradient estimate: ``reparam.expectation`` eager against ``torch.compile``.

Problem: ``--dims`` independent dimensions (batch elements, 1,000 by default),
``--samples`` samples (16); ``z ~ Normal(loc, scale)`` with ``f(z) = (z - 1)^2``
for the continuous estimators, ``z ~ Bernoulli(logits)`` with
``f(z) = (z - 0.45)^2`` for the discrete ones. One estimate: build the
distribution (``validate_args=False``), call ``reparam.expectation``, sum, and
``torch.autograd.grad`` with respect to the parameters. Compiled, the function
up to the sum is ``torch.compile(fullgraph=True)`` (Inductor; the backward pass
is compiled with it); the first call, which compiles (or loads the result from
Inductor's on-disk cache), is timed on its own (``compile_s``, wall clock). The
per-estimate figures are the median over ``--repeats`` repeats of ``--inner``
consecutive estimates, eager and compiled interleaved, as the CPU time of the
calling thread (``time.thread_time``; PyTorch and Inductor's kernels on
``--threads`` threads). Prints one JSON object.

Usage: ``python benchmarks/compiled.py [--dims 1000] [--samples 16] [--repeats 21] [--inner 20]``
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from collections.abc import Callable

import torch
from torch import Tensor
from torch.distributions import Bernoulli, Normal

import reparam

ESTIMATORS = ("pathwise", "score-loo", "mvd", "disarm", "gumbel-softmax")
DISCRETE = ("disarm", "gumbel-softmax")

Step = Callable[[], object]


def objective(estimator: str, samples: int) -> Callable[[Tensor, Tensor], Tensor]:
    def loss(a: Tensor, b: Tensor) -> Tensor:
        if estimator in DISCRETE:
            dist = Bernoulli(logits=a + b, validate_args=False)
            return reparam.expectation(lambda z: (z - 0.45) ** 2, dist, estimator, samples).sum()
        dist = Normal(a, b.exp(), validate_args=False)
        return reparam.expectation(lambda z: (z - 1.0) ** 2, dist, estimator, samples).sum()

    return loss


def step(loss: Callable[[Tensor, Tensor], Tensor], a: Tensor, b: Tensor) -> Step:
    return lambda: torch.autograd.grad(loss(a, b), (a, b))


def time_once(fn: Step, inner: int) -> float:
    start = time.thread_time()
    for _ in range(inner):
        fn()
    return (time.thread_time() - start) / inner * 1e6


def compare(estimator: str, dims: int, samples: int, repeats: int, inner: int) -> dict:
    a = torch.zeros(dims, requires_grad=True)
    b = torch.zeros(dims, requires_grad=True)
    loss = objective(estimator, samples)
    torch.compiler.reset()
    compiled = step(torch.compile(loss, fullgraph=True), a, b)
    start = time.perf_counter()
    compiled()
    compile_s = time.perf_counter() - start
    pair = {"eager": step(loss, a, b), "compiled": compiled}
    for fn in pair.values():  # warm-up
        time_once(fn, inner)
    times: dict[str, list[float]] = {"eager": [], "compiled": []}
    for repeat in range(repeats):
        order = ["eager", "compiled"] if repeat % 2 == 0 else ["compiled", "eager"]
        for name in order:
            times[name].append(time_once(pair[name], inner))
    eager, fast = statistics.median(times["eager"]), statistics.median(times["compiled"])
    return {
        "estimator": estimator,
        "eager_us": round(eager, 1),
        "compiled_us": round(fast, 1),
        "speed_up": round(eager / fast, 2),
        "compile_s": round(compile_s, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dims", type=int, default=1000)
    parser.add_argument("--samples", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=21)
    parser.add_argument("--inner", type=int, default=20)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    results = [
        compare(name, args.dims, args.samples, args.repeats, args.inner) for name in ESTIMATORS
    ]
    report = {
        "benchmark": "compiled",
        "dims": args.dims,
        "samples": args.samples,
        "repeats": args.repeats,
        "inner": args.inner,
        "threads": args.threads,
        "torch": torch.__version__,
        "python": platform.python_version(),
        "results": results,
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
