"""Data-parallel training speed: world size 1 against torchrun with several processes.

Trains the default ``reparam vae`` model (784-400-20, about 650k parameters,
global batch 128, grayscale target) on MNIST for ``--epochs`` epochs, once as a
single process with ``--threads`` threads and once under ``torchrun`` with
``--nproc`` processes of ``--threads / --nproc`` threads each (gloo on the CPU,
NCCL with ``--device cuda``). Reported per configuration: seconds per epoch
(training only, the trainer's own clock), steps per second, and the time of
one gradient all-reduce: an ``all_reduce`` of a float32 tensor with as many
elements as the model has parameters (what DDP sends each step, in its
buckets), timed on every rank, median of ``--allreduce-repeats`` after a
warm-up; its share of a step is ``allreduce_seconds / seconds_per_step``.

Usage: ``python benchmarks/ddp.py [--epochs 2] [--nproc 2] [--threads 2] [--data-dir DIR]``.
Prints one JSON object. The worker half runs under torchrun (``--worker``).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

from reparam.models import GaussianVAE
from reparam.runs import MetricsFile, new_run_folder
from reparam.runs.data import load_run_data
from reparam.training import TrainConfig
from reparam.training.distributed import join_world, leave_world, rank_noise_seed
from reparam.training.trainer import Trainer

REPO = Path(__file__).resolve().parents[1]


def allreduce_seconds(size: int, device: torch.device, repeats: int) -> float:
    """Median seconds of one ``all_reduce`` of ``size`` float32 numbers (world of the group)."""
    import torch.distributed as dist

    tensor = torch.ones(size, device=device)
    for _ in range(5):
        dist.all_reduce(tensor)
    times = []
    for _ in range(repeats):
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        started = time.perf_counter()
        dist.all_reduce(tensor)
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def worker(args: argparse.Namespace) -> None:
    """One rank (or the single process): train, time, write a JSON line from rank 0."""
    torch.set_num_threads(args.threads)
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    device = torch.device("cuda", local_rank) if args.device == "cuda" else torch.device("cpu")
    world = join_world(device, "auto")
    config = TrainConfig(epochs=args.epochs, batch_size=128, seed=0, target="grayscale")
    data = load_run_data(args.data_dir, None, 1000, config.target, device, world=world)
    torch.manual_seed(config.seed)
    model = GaussianVAE().to(device)
    torch.manual_seed(rank_noise_seed(config.seed, world.rank))
    with tempfile.TemporaryDirectory() as folder:
        run = new_run_folder(Path(folder) / f"rank{world.rank}")
        trainer = Trainer(
            model,
            data.train,
            data.test,
            config,
            run.checkpoint,
            log=lambda _: None,
            progress_bar=False,
            world=world,
            callbacks=[MetricsFile(run)],
        )
        history = trainer.fit()
    seconds = [row["seconds"] for row in history]
    steps = -(-len(data.train) // config.batch_size)
    parameters = sum(p.numel() for p in model.parameters())
    reduce_s = (
        allreduce_seconds(parameters, device, args.allreduce_repeats)
        if world.is_distributed
        else 0.0
    )
    if world.is_main:
        per_epoch = statistics.median(seconds)
        per_step = per_epoch / steps
        print(
            json.dumps(
                {
                    "world_size": world.size,
                    "backend": world.backend,
                    "threads_per_rank": args.threads,
                    "device": str(device),
                    "parameters": parameters,
                    "seconds_per_epoch": seconds,
                    "median_seconds_per_epoch": per_epoch,
                    "steps_per_second": 1.0 / per_step,
                    "allreduce_seconds": reduce_s,
                    "allreduce_fraction_of_step": reduce_s / per_step,
                }
            ),
            flush=True,
        )
    leave_world(world)


def launch(argv: list[str], env: dict[str, str]) -> dict[str, Any]:
    done = subprocess.run(argv, capture_output=True, text=True, env=env, cwd=REPO, check=False)
    if done.returncode != 0:
        sys.stderr.write(done.stderr)
        raise SystemExit(f"benchmark run failed: {' '.join(argv)}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--nproc", type=int, default=2)
    parser.add_argument("--threads", type=int, default=2, help="threads in all, shared by ranks")
    parser.add_argument("--data-dir", default=os.environ.get("REPARAM_DATA_DIR"))
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--allreduce-repeats", type=int, default=50)
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args)
        return
    if args.data_dir is None:
        raise SystemExit("pass --data-dir DIR (the MNIST idx files) or set REPARAM_DATA_DIR")
    env = {**os.environ, "GLOO_SOCKET_IFNAME": os.environ.get("GLOO_SOCKET_IFNAME", "lo")}
    common = [
        "--worker",
        "--epochs",
        str(args.epochs),
        "--data-dir",
        args.data_dir,
        "--device",
        args.device,
        "--allreduce-repeats",
        str(args.allreduce_repeats),
    ]
    single = launch(
        [sys.executable, str(Path(__file__)), *common, "--threads", str(args.threads)], env
    )
    torchrun = str(Path(sys.executable).with_name("torchrun"))
    per_rank = max(1, args.threads // args.nproc)
    command = [torchrun, "--standalone", f"--nproc-per-node={args.nproc}", str(Path(__file__))]
    command += [*common, "--threads", str(per_rank)]
    parallel = launch(command, {**env, "OMP_NUM_THREADS": str(per_rank)})
    speedup = single["median_seconds_per_epoch"] / parallel["median_seconds_per_epoch"]
    print(json.dumps({"single": single, "parallel": parallel, "epoch_speedup": speedup}))


if __name__ == "__main__":
    main()
