"""Wall time of the lab's default comparison for one problem; prints one JSON object.

The comparison: three estimators, four sample counts (1, 4, 16, 64), and the
default number of trials, enough for a 5% relative standard error on every
variance (from the estimates' kurtosis; at least 800). Target: under 30 s on
two CPU cores. Trials are batch elements, so there is no Python loop over them.
Reports wall and CPU seconds and the load average: on a shared machine the wall
time depends on what else runs.

Usage: ``python benchmarks/lab.py [--problem quadratic] [--estimators pathwise,score,mvd]
[--repeats 1]``.
"""

from __future__ import annotations

import argparse
import json
import os
import time

import torch

from reparam.lab import DEFAULT_SAMPLES, compare_problem

TARGET_SECONDS = 30.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--problem", default="quadratic")
    parser.add_argument("--estimators", default="pathwise,score,mvd")
    parser.add_argument("--repeats", type=int, default=1)
    args = parser.parse_args()
    estimators = args.estimators.split(",")
    runs, cpu = [], []
    for seed in range(args.repeats):
        start, start_cpu = time.perf_counter(), time.process_time()
        result = compare_problem(args.problem, estimators, num_samples=DEFAULT_SAMPLES, seed=seed)
        runs.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
    trials = [row.trials for row in result.rows]
    best = result.recommendation
    print(
        json.dumps(
            {
                "problem": args.problem,
                "estimators": estimators,
                "samples": list(DEFAULT_SAMPLES),
                "trials_min": min(trials),
                "trials_max": max(trials),
                "total_estimates": sum(
                    row.trials for row in result.rows if row.parameter == result.parameters[0]
                ),
                "worst_relative_se_of_variance": max(
                    row.variance_se / row.variance for row in result.rows if row.variance > 0
                ),
                "seconds": runs,
                "cpu_seconds": cpu,
                "load_average": os.getloadavg()[0],
                "target_seconds": TARGET_SECONDS,
                "within_target": max(runs) < TARGET_SECONDS,
                "recommendation": None if best is None else best.estimator,
                "torch_threads": torch.get_num_threads(),
                "cpu_count": os.cpu_count(),
            }
        )
    )


if __name__ == "__main__":
    main()
