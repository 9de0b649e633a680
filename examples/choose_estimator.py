"""Choosing an estimator for your own problem with the gradient lab.

``reparam.lab.compare(f, dist, estimators)`` runs each estimator many times on
your cost and distribution and reports, per parameter, the mean of the
gradient estimates, their variance, the signal-to-noise ratio and the time per
estimate; given the exact gradient it also reports each estimator's bias. It
recommends the unbiased estimator with the lowest variance x time.

Two problems here:

* a Bernoulli choice ``z ~ Bernoulli(sigmoid(theta))`` with cost
  ``(z - 0.45)^2``, where no pathwise estimator applies and the candidates are
  the score function, ARM, DisARM, RELAX and the biased relaxations;
* a Gaussian ``x ~ N(mu, 1)`` with the narrow bump ``exp(-4 x^2)``, where the
  pathwise estimator is not always the best.

Run it::

    python examples/choose_estimator.py
    python examples/choose_estimator.py --trials 200   # fast, as the tests run it
"""

from __future__ import annotations

import argparse
import math

import torch
from torch.distributions import Bernoulli, Normal

import reparam


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--trials", type=int, default=None, help="estimates per estimator and S (default: enough)"
    )
    args = parser.parse_args()

    # 1. Bernoulli. E f = p (1 - t)^2 + (1 - p) t^2, so d/dtheta = p (1 - p) (1 - 2 t).
    theta, t = 0.0, 0.45
    p = 1 / (1 + math.exp(-theta))
    result = reparam.lab.compare(
        lambda z: (z - t) ** 2,
        Bernoulli(logits=torch.tensor(theta)),
        ["score-loo", "disarm", "relax", "gumbel-softmax"],
        num_samples=[2, 8],
        trials=args.trials,
        exact_gradient={"logits": p * (1 - p) * (1 - 2 * t)},
    )
    print(result)  # the tables, ending with the recommendation
    best = result.recommendation  # None if no unbiased estimator could be measured
    if best is not None:
        print(f"-> for this problem: {best.estimator!r} with S = {best.num_samples}\n")

    # 2. A narrow bump: the exact gradient is not needed to compare variances.
    result = reparam.lab.compare(
        lambda x: torch.exp(-4 * x**2),
        Normal(torch.tensor(1.0), torch.tensor(1.0)),
        ["pathwise", "score-loo", "mvd"],
        num_samples=[4],
        trials=args.trials,
    )
    print(result)
    for row in result.rows:  # the same figures as data, e.g. for a plot or a test
        print(f"{row.estimator:10s} {row.parameter:6s} variance {row.variance:.3e}")


if __name__ == "__main__":
    main()
