"""N-VAE against S-VAE on MNIST at a fixed training budget, beside Davidson et al. (2018),
"Hyperspherical Variational Auto-Encoders", Table 1; prints one JSON object.

Settings as in the paper and the authors' public example: dynamically binarized
MNIST (``target="binary"``), encoder 784-256-128 and decoder 128-256-784 MLPs
with ReLU, Adam with learning rate 1e-3, batch 64; the S-VAE with a von
Mises-Fisher posterior and the uniform prior on ``S^(d-1)``, the N-VAE with a
diagonal Gaussian and N(0, I). Reported per configuration: the test -ELBO, the
test -log p(x) bound by importance sampling with k = 500 (the paper's estimate),
seconds per epoch and the epochs the budget allowed.

The paper trains to convergence (early stopping); here every configuration
gets the same wall-clock budget of training (``--budget`` seconds, default 240
on one thread), so the figures are those of under-trained models: compare the
two families with each other at equal budget, not with the table's values.

Budget rule (the machine is shared, so epochs vary in time): one epoch is
trained and timed; then, while ``n = floor(remaining budget / slowest epoch so
far)`` is at least 1, the run is resumed for ``ceil(n / 4)`` more epochs. Only the
trainer's epoch times count (not start-up, the test -ELBO after each epoch, or
the final evaluation).

Usage: ``python benchmarks/svae.py [--data-dir DIR] [--out DIR] [--budget S]
[--dims 5,10] [--threads 1] [--seed 0]`` (``--train-size`` / ``--test-size`` for
quick trials). About 4 x (budget + 2 minutes of evaluation) on one thread.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

from reparam.runs import DataSettings, Execution, RunSettings, evaluate_run, resume, train
from reparam.training import TrainConfig

REPO = Path(__file__).resolve().parents[1]
PAPER = {  # Table 1, MNIST, log-likelihood (IS, 500 samples), negated: -log p(x) in nats
    "normal": {5: 110.21, 10: 93.84, 20: 88.90},
    "vmf": {5: 108.43, 10: 93.16, 20: 89.02},
}
HIDDEN = (256, 128)
EVAL_K = 500


def default_data_dir() -> str:
    return os.environ.get("REPARAM_DATA_DIR") or str(REPO.parent / "shared" / "data" / "mnist")


def log(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def run_one(
    out: Path, data_dir: str, posterior: str, dim: int, budget: float, args: argparse.Namespace
) -> dict[str, Any]:
    """Train one configuration within ``budget`` seconds of training; its figures."""
    settings = RunSettings(
        model="vae",
        options={"latent_dim": dim, "hidden": list(HIDDEN), "posterior": posterior},
        train=TrainConfig(epochs=1, batch_size=64, lr=1e-3, seed=args.seed, target="binary"),
        data=DataSettings(data_dir, args.train_size, args.test_size),
    )
    quiet = Execution(device="cpu", threads=args.threads, eval_k=0, progress_bar=False, log=log)
    path = out / f"{posterior}-{dim}"
    history = train(settings, path, overwrite=True, execution=quiet)["epochs"]
    while True:
        used = sum(row["seconds"] for row in history)
        slowest = max(row["seconds"] for row in history)
        fits = math.floor((budget - used) / slowest)
        if fits < 1:
            break
        more = math.ceil(fits / 4)  # quarters: an epoch up to 4x slower later still fits
        history = resume(path, epochs=len(history) + more, execution=quiet)["epochs"]
    final = Execution(
        device="cpu", threads=args.threads, eval_k=EVAL_K, progress_bar=False, log=log
    )
    summary = evaluate_run(path, execution=final)
    trained = sum(row["seconds"] for row in summary["epochs"])
    return {
        "posterior": posterior,
        "latent_dim": dim,
        "epochs": len(summary["epochs"]),
        "training_seconds": trained,
        "seconds_per_epoch": trained / len(summary["epochs"]),
        "test_neg_elbo": summary["test_neg_elbo"],
        "test_neg_iw_bound": summary["test_neg_iw_bound"],
        "eval_k": summary["eval_k"],
        "paper_neg_log_likelihood": PAPER[posterior].get(dim),
        "run": str(path),
    }


def ordering(results: list[dict[str, Any]]) -> dict[str, Any]:
    """Per dimension: which family has the lower -log p(x) bound, here and in the paper."""
    found: dict[str, Any] = {}
    for dim in sorted({r["latent_dim"] for r in results}):
        bound = {r["posterior"]: r["test_neg_iw_bound"] for r in results if r["latent_dim"] == dim}
        if set(bound) != {"normal", "vmf"}:
            continue
        here = "vmf" if bound["vmf"] < bound["normal"] else "normal"
        paper = None
        if dim in PAPER["vmf"]:
            paper = "vmf" if PAPER["vmf"][dim] < PAPER["normal"][dim] else "normal"
        found[str(dim)] = {
            "better_here": here,
            "better_in_paper": paper,
            "same_as_paper": None if paper is None else here == paper,
            "gap_nats": bound["normal"] - bound["vmf"],
        }
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default=default_data_dir())
    parser.add_argument("--out", type=Path, default=None, help="where the runs go (temp)")
    parser.add_argument("--budget", type=float, default=240.0, help="training seconds each")
    parser.add_argument("--dims", default="5,10", help="comma list of latent dimensions")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--train-size", type=int, default=None, help="for quick trials only")
    parser.add_argument("--test-size", type=int, default=None, help="for quick trials only")
    args = parser.parse_args()
    out = args.out or Path(tempfile.mkdtemp(prefix="svae-"))
    dims = [int(d) for d in args.dims.split(",")]
    results = []
    for dim in dims:
        for posterior in ("normal", "vmf"):
            log(f"== {posterior} d={dim}, budget {args.budget:.0f} s")
            results.append(run_one(out, args.data_dir, posterior, dim, args.budget, args))
    report = {
        "budget_seconds": args.budget,
        "threads": args.threads,
        "settings": {
            "hidden": list(HIDDEN),
            "batch_size": 64,
            "lr": 1e-3,
            "target": "binary",
            "seed": args.seed,
        },
        "results": results,
        "ordering": ordering(results),
        "paper": "Davidson et al. 2018, Table 1 (MNIST, -log p(x) by IS with 500 samples)",
    }
    json.dump(report, sys.stdout, indent=2)
    print()


if __name__ == "__main__":
    main()
