"""Time per gradient estimate: ``reparam.expectation`` against the same estimator by hand.

Problem: ``z ~ Normal(loc, scale)`` with ``--dims`` independent dimensions (batch
elements; 1,000 by default), ``f(z) = (z - 1)^2``, the gradient of
``sum_d E[f(z_d)]`` with respect to ``loc`` and ``scale``. One estimate is: build
the distribution, draw ``num_samples`` samples, evaluate ``f``, and compute the
gradient with ``torch.autograd.grad``.

* pathwise: ``reparam.expectation(f, dist, "pathwise", S)`` against
  ``f(dist.rsample((S,))).mean(0)``;
* score: ``reparam.expectation(f, dist, "score", S)`` against the plain REINFORCE
  surrogate ``(dist.log_prob(z) * f(z)).mean(0)`` with ``z = dist.sample((S,))``
  (right first derivatives only);
* score-dice: the same library call against the same estimator by hand with
  DiCE's magic box, ``(exp(log q - stop(log q)) * f(z)).mean(0)``, whose higher
  derivatives are right too, as the library's are.

Both versions are timed in the same process, interleaved (the order alternates
every repeat) so that drifts of a shared machine hit both alike; each repeat
times ``--inner`` consecutive estimates, and the figure is the median over
``--repeats`` repeats, in microseconds per estimate. On the CPU, time is the
CPU time of the calling thread (``time.thread_time``; PyTorch runs on that
thread with ``--threads 1``, forward and backward), so time lost to other
processes on a shared machine is not counted; with CUDA as torch's default
device, the wall clock between synchronisations (``_common.py``). ``overhead``
is ``library / hand - 1``. Prints one JSON object.

Usage: ``python benchmarks/estimators.py [--dims 1000] [--repeats 41] [--inner 20] [--threads 1]``
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

import torch
from torch import Tensor
from torch.distributions import Normal

import reparam

from _common import interleaved_medians, print_report, start, timing_parser

SAMPLE_COUNTS = (1, 16, 256)


def cost(z: Tensor) -> Tensor:
    return (z - 1.0) ** 2


def library(estimator: str) -> Callable[[Tensor, Tensor, int], tuple[Tensor, ...]]:
    def estimate(loc: Tensor, scale: Tensor, num_samples: int) -> tuple[Tensor, ...]:
        loss = reparam.expectation(cost, Normal(loc, scale), estimator, num_samples).sum()
        return torch.autograd.grad(loss, (loc, scale))

    return estimate


def pathwise_by_hand(loc: Tensor, scale: Tensor, num_samples: int) -> tuple[Tensor, ...]:
    z = Normal(loc, scale).rsample((num_samples,))
    loss = cost(z).mean(0).sum()
    return torch.autograd.grad(loss, (loc, scale))


def score_by_hand(loc: Tensor, scale: Tensor, num_samples: int) -> tuple[Tensor, ...]:
    dist = Normal(loc, scale)
    z = dist.sample((num_samples,))
    loss = (dist.log_prob(z) * cost(z)).mean(0).sum()
    return torch.autograd.grad(loss, (loc, scale))


def score_dice_by_hand(loc: Tensor, scale: Tensor, num_samples: int) -> tuple[Tensor, ...]:
    dist = Normal(loc, scale)
    z = dist.sample((num_samples,))
    log_prob = dist.log_prob(z)
    loss = (torch.exp(log_prob - log_prob.detach()) * cost(z)).mean(0).sum()
    return torch.autograd.grad(loss, (loc, scale))


# Hand-written version -> the library estimator it is compared with.
HAND = {"pathwise": pathwise_by_hand, "score": score_by_hand, "score-dice": score_dice_by_hand}
LIBRARY = {"pathwise": "pathwise", "score": "score", "score-dice": "score"}
SAME_ESTIMATOR = ("pathwise", "score-dice")


def compare(estimator: str, num_samples: int, dims: int, repeats: int, inner: int) -> dict:
    loc = torch.zeros(dims, requires_grad=True)
    scale = torch.ones(dims, requires_grad=True)
    pair = {"library": library(LIBRARY[estimator]), "hand": HAND[estimator]}
    calls = {name: partial(fn, loc, scale, num_samples) for name, fn in pair.items()}
    medians = interleaved_medians(calls, repeats, inner)
    lib, hand = 1e6 * medians["library"], 1e6 * medians["hand"]
    return {
        "estimator": estimator,
        "num_samples": num_samples,
        "library_us": round(lib, 1),
        "hand_us": round(hand, 1),
        "overhead": round(lib / hand - 1.0, 3),
    }


def main() -> None:
    parser = timing_parser(__doc__, repeats=41, inner=20)
    parser.add_argument("--dims", type=int, default=1000)
    args = parser.parse_args()
    start(args)
    results = [
        compare(estimator, num_samples, args.dims, args.repeats, args.inner)
        for estimator in HAND
        for num_samples in SAMPLE_COUNTS
    ]
    settings = {"dims": args.dims, "repeats": args.repeats, "inner": args.inner}
    body = {
        "results": results,
        # The goal (at most 10%) is against the same estimator by hand: pathwise, and
        # the DiCE score function. Plain REINFORCE is first-order only; the gap to it
        # is the price of right higher derivatives, reported on its own.
        "max_overhead_same_estimator": max(
            r["overhead"] for r in results if r["estimator"] in SAME_ESTIMATOR
        ),
        "overhead_against_first_order_reinforce": max(
            r["overhead"] for r in results if r["estimator"] == "score"
        ),
    }
    print_report("estimators", {**settings, "threads": args.threads}, body)


if __name__ == "__main__":
    main()
