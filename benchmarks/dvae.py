"""Discrete VAEs on dynamically binarized MNIST: every discrete estimator, one budget.

For each latent type (``bernoulli``: 200 units; ``categorical``: 20 x 10) and
each estimator that supports it, train :class:`reparam.models.dvae.DiscreteVAE`
(linear 784-200-784 by default) with Adam (lr 1e-3, batch 100) for the same
number of optimizer steps from the same seed, on the same sequence of batches.
Gumbel-softmax temperatures are annealed ``1 -> 0.5`` over the run
(``tau = max(0.5, exp(-rate * step))`` with ``rate = ln 2 / steps``).

Reported per run:

* ``train_neg_elbo`` / ``test_neg_elbo``: honest one-sample ``-ELBO`` (exact
  discrete samples, exact KL) averaged over the first ``--eval-size`` training
  images and the test images, each binarized once with a fixed seed, nats;
* ``test_neg_iw_bound``: the importance-weighted bound with ``--eval-k`` samples;
* ``encoder_grad_variance``: at fixed steps, ``sum_i Var(g_i)`` over the encoder's
  parameters ``i``, from ``--variance-draws`` gradient estimates of the batch-mean
  ``-ELBO`` on one fixed batch of 100 training images (for biased estimators,
  the variance of their own, biased, gradient);
* ``seconds_per_step``: training wall time divided by steps (``--threads`` threads).

Prints one JSON object; ``--markdown`` prints the table of its benchmark page.

Usage: ``python benchmarks/dvae.py --data-dir DIR [--steps 3000] [--latents bernoulli,categorical]``
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import sys
import time
from typing import Any

import torch
from torch import Tensor

from reparam.data import load_mnist, present
from reparam.models.dvae import DiscreteVAE
from reparam.training import mean_loss, mean_neg_iw_bound

ESTIMATORS = {
    "bernoulli": (
        "score",
        "score-loo",
        "arm",
        "disarm",
        "relax",
        "straight-through",
        "st-gumbel-softmax",
        "gumbel-softmax",
    ),
    "categorical": (
        "score",
        "score-loo",
        "relax",
        "straight-through",
        "st-gumbel-softmax",
        "gumbel-softmax",
    ),
}
BATCH = 100


def encoder_variance(model: DiscreteVAE, x: Tensor, draws: int) -> float:
    """``sum_i Var(g_i)`` over the encoder's parameters, ``draws`` estimates on ``x``."""
    model.eval()
    params = list(model.encoder.parameters())
    grads = []
    for _ in range(draws):
        loss = model.loss(x).mean()
        grads.append(torch.cat([g.reshape(-1) for g in torch.autograd.grad(loss, params)]))
    model.train()
    return torch.stack(grads).double().var(0).sum().item()


def train_one(
    latent: str, estimator: str, data: dict[str, Tensor], args: argparse.Namespace
) -> dict[str, Any]:
    torch.manual_seed(args.seed)
    rate = math.log(2.0) / args.steps
    model = DiscreteVAE(latent, estimator, anneal_rate=rate, min_temperature=0.5)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    generator = torch.Generator().manual_seed(args.seed)
    images = data["train_images"]
    checkpoints = sorted({0, args.steps // 4, args.steps // 2, args.steps})
    variances: dict[str, float] = {}
    seconds = 0.0
    order = torch.randperm(images.shape[0], generator=generator)
    position = 0
    for step in range(args.steps + 1):
        if step in checkpoints:
            variances[str(step)] = encoder_variance(model, data["probe"], args.variance_draws)
        if step == args.steps:
            break
        if position + BATCH > order.numel():
            order, position = torch.randperm(images.shape[0], generator=generator), 0
        x = present(images[order[position : position + BATCH]], "binary", generator)
        position += BATCH
        started = time.perf_counter()
        loss = model.loss(x).sum()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        seconds += time.perf_counter() - started
    torch.manual_seed(args.seed + 1)
    return {
        "latent": latent,
        "estimator": estimator,
        "unbiased": model.estimator.unbiased,
        "num_samples": model.num_samples,
        "train_neg_elbo": mean_loss(model, data["train_eval"]),
        "test_neg_elbo": mean_loss(model, data["test"]),
        "test_neg_iw_bound": mean_neg_iw_bound(model, data["test"], args.eval_k)
        if args.eval_k
        else None,
        "encoder_grad_variance": variances,
        "seconds_per_step": seconds / args.steps,
    }


def load(args: argparse.Namespace) -> dict[str, Tensor]:
    mnist = load_mnist(args.data_dir)
    fixed = torch.Generator().manual_seed(0)
    train_eval = present(mnist.train_images[: args.eval_size], "binary", fixed)
    return {
        "train_images": mnist.train_images,
        "train_eval": train_eval,
        "probe": train_eval[:BATCH],
        "test": present(mnist.test_images[: args.eval_size], "binary", fixed),
    }


def markdown(results: list[dict[str, Any]], steps: int) -> str:
    lines = [
        "| latent | estimator | unbiased | train -ELBO | test -ELBO | test -log p(x) bound "
        f"| encoder grad. variance at steps 0 / {steps // 2} / {steps} | ms per step |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        v = r["encoder_grad_variance"]
        var = " / ".join(f"{v[k]:.2e}" for k in ("0", str(steps // 2), str(steps)))
        iw = "-" if r["test_neg_iw_bound"] is None else f"{r['test_neg_iw_bound']:.1f}"
        lines.append(
            f"| {r['latent']} | {r['estimator']} | {'yes' if r['unbiased'] else 'no'} "
            f"| {r['train_neg_elbo']:.1f} | {r['test_neg_elbo']:.1f} | {iw} | {var} "
            f"| {1000 * r['seconds_per_step']:.1f} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", help="folder with the MNIST idx files")
    parser.add_argument("--steps", type=int, default=3000)
    parser.add_argument("--latents", default="bernoulli,categorical")
    parser.add_argument("--estimators", help="comma-separated subset (default: all that apply)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--eval-size", type=int, default=10_000)
    parser.add_argument("--eval-k", type=int, default=100)
    parser.add_argument("--variance-draws", type=int, default=16)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--markdown", action="store_true", help="also print the results page table")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    data = load(args)
    chosen = None if args.estimators is None else set(args.estimators.split(","))
    results = []
    for latent in args.latents.split(","):
        for estimator in ESTIMATORS[latent]:
            if chosen is None or estimator in chosen:
                started = time.perf_counter()
                results.append(train_one(latent, estimator, data, args))
                print(
                    f"{latent} {estimator}: test -ELBO {results[-1]['test_neg_elbo']:.1f} "
                    f"({time.perf_counter() - started:.0f} s)",
                    file=sys.stderr,
                    flush=True,
                )
    meta = {"steps": args.steps, "batch_size": BATCH, "seed": args.seed, "threads": args.threads}
    meta |= {"torch": torch.__version__, "machine": platform.machine()}
    print(json.dumps({"settings": meta, "results": results}))
    if args.markdown:
        print(markdown(results, args.steps))


if __name__ == "__main__":
    main()
