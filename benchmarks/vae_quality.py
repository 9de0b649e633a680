"""Quality of ``reparam vae`` against the issue's targets; prints one JSON object.

* classic settings (grayscale target, 10 epochs, 784-400-20, Adam 1e-3, batch 128):
  test loss <= 105.6, the classic PyTorch example's figure;
* binary target (dynamic binarization), 50 epochs: test -ELBO <= 98.5 nats and
  importance-weighted bound (k = 1000) <= 93.5 nats.

Usage: ``python benchmarks/vae_quality.py [--data-dir DIR] [--out DIR] [--seed N]``
(data: --data-dir, else $REPARAM_DATA_DIR, else ../shared/data/mnist beside the
checkout). Takes a few minutes per run on two CPU cores.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

from reparam.cli import main as reparam_main

REPO = Path(__file__).resolve().parents[1]
TARGETS = {"grayscale_test_loss": 105.6, "binary_neg_elbo": 98.5, "binary_neg_iw_bound": 93.5}


def default_data_dir() -> str:
    return os.environ.get("REPARAM_DATA_DIR") or str(REPO.parent / "shared" / "data" / "mnist")


def train(out: Path, data_dir: str, name: str, options: list[str]) -> dict[str, Any]:
    """One ``reparam vae`` run; returns its summary."""
    argv = ["vae", "--data-dir", data_dir, "--run", str(out / name), "--overwrite", "--json"]
    stdout = io.StringIO()
    with contextlib.redirect_stdout(stdout):
        code = reparam_main([*argv, *options])
    if code != 0:
        raise SystemExit(f"reparam vae {name} exited with {code}")
    summary: dict[str, Any] = json.loads(stdout.getvalue())
    return summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default=default_data_dir())
    parser.add_argument("--out", type=Path, default=None, help="where the runs go (temp)")
    parser.add_argument("--seed", default="0")
    parser.add_argument("--threads", default=None, help="torch threads (default: torch's)")
    args = parser.parse_args()
    out = args.out or Path(tempfile.mkdtemp(prefix="vae-quality-"))
    seed = ["--seed", args.seed, *(["--threads", args.threads] if args.threads else [])]
    gray = train(out, args.data_dir, "grayscale", ["--epochs", "10", "--eval-k", "0", *seed])
    binary = train(out, args.data_dir, "binary", ["--target", "binary", "--epochs", "50", *seed])
    figures = {
        "grayscale_test_loss": gray["test_neg_elbo"],
        "binary_neg_elbo": binary["test_neg_elbo"],
        "binary_neg_iw_bound": binary["test_neg_iw_bound"],
    }
    report = {
        "figures": figures,
        "targets": TARGETS,
        "met": {key: figures[key] <= TARGETS[key] for key in TARGETS},
        "eval_k": binary["eval_k"],
        "seconds_per_epoch": {
            "grayscale": gray["seconds_per_epoch"],
            "binary": binary["seconds_per_epoch"],
        },
        "runs": str(out),
    }
    json.dump(report, sys.stdout, indent=2)
    print()


if __name__ == "__main__":
    main()
