"""Time per gradient estimate: ``reparam.expectation`` eager against ``torch.compile``.

Problem: ``--dims`` independent dimensions (batch elements, 1,000 by default),
``--num-samples`` samples (16); ``z ~ Normal(loc, scale)`` with ``f(z) = (z - 1)^2``
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

Usage: ``python benchmarks/compiled.py [--dims 1000] [--num-samples 16] [--repeats 21]
[--inner 20]`` (``--samples`` is the same as ``--num-samples``)
"""

from __future__ import annotations

import time
from collections.abc import Callable

import torch
from torch import Tensor
from torch.distributions import Bernoulli, Normal

import reparam

from _common import Timed, interleaved_medians, print_report, start, timing_parser

ESTIMATORS = ("pathwise", "score-loo", "mvd", "disarm", "gumbel-softmax")
DISCRETE = ("disarm", "gumbel-softmax")


def objective(estimator: str, num_samples: int) -> Callable[[Tensor, Tensor], Tensor]:
    def loss(a: Tensor, b: Tensor) -> Tensor:
        if estimator in DISCRETE:
            dist = Bernoulli(logits=a + b, validate_args=False)
            costs = reparam.expectation(lambda z: (z - 0.45) ** 2, dist, estimator, num_samples)
            return costs.sum()
        dist = Normal(a, b.exp(), validate_args=False)
        return reparam.expectation(lambda z: (z - 1.0) ** 2, dist, estimator, num_samples).sum()

    return loss


def step(loss: Callable[[Tensor, Tensor], Tensor], a: Tensor, b: Tensor) -> Timed:
    return lambda: torch.autograd.grad(loss(a, b), (a, b))


def compare(estimator: str, dims: int, num_samples: int, repeats: int, inner: int) -> dict:
    a = torch.zeros(dims, requires_grad=True)
    b = torch.zeros(dims, requires_grad=True)
    loss = objective(estimator, num_samples)
    torch.compiler.reset()
    compiled = step(torch.compile(loss, fullgraph=True), a, b)
    begin = time.perf_counter()
    compiled()
    compile_s = time.perf_counter() - begin
    medians = interleaved_medians({"eager": step(loss, a, b), "compiled": compiled}, repeats, inner)
    eager, fast = 1e6 * medians["eager"], 1e6 * medians["compiled"]
    return {
        "estimator": estimator,
        "eager_us": round(eager, 1),
        "compiled_us": round(fast, 1),
        "speed_up": round(eager / fast, 2),
        "compile_s": round(compile_s, 1),
    }


def main() -> None:
    parser = timing_parser(__doc__, repeats=21, inner=20)
    parser.add_argument("--dims", type=int, default=1000)
    parser.add_argument("--num-samples", "--samples", dest="num_samples", type=int, default=16)
    args = parser.parse_args()
    start(args)
    results = [
        compare(name, args.dims, args.num_samples, args.repeats, args.inner) for name in ESTIMATORS
    ]
    settings = {"dims": args.dims, "num_samples": args.num_samples, "repeats": args.repeats}
    settings |= {"inner": args.inner, "threads": args.threads}
    print_report("compiled", settings, {"results": results})


if __name__ == "__main__":
    main()
