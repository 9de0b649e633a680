"""Running an estimator over many independent trials and testing it against the exact gradient.

Trials are batch elements: every parameter gets a leading dimension of size
``trials``, so one call of ``reparam.expectation`` gives ``trials`` independent
gradient estimates (each row of each parameter's gradient).
"""

from __future__ import annotations

import torch
from torch import Tensor

from reparam import Estimator, expectation
from tests.estimators.cases import Family
from tests.stats import FALSE_FAILURE_RATE, mean_z_scores, z_threshold


def batched(family: Family, trials: int) -> dict[str, Tensor]:
    """The family's parameters repeated over ``trials`` rows, each a leaf needing grad."""
    return {
        name: value.expand(trials, *value.shape).clone().requires_grad_()
        for name, value in family.params().items()
    }


def gradient_trials(
    estimator: str | Estimator,
    family: Family,
    cost: str,
    trials: int,
    num_samples: int = 1,
    calls: int = 1,
) -> Tensor:
    """``[trials, P]``: one estimate per trial of the gradient of ``E[f]``, flattened.

    With ``calls > 1`` the estimator runs that many times on the same
    distribution (stateful baselines warm up) and the last call is returned.
    """
    params = batched(family, trials)
    dist = family.make(**params)
    estimate = expectation(family.costs[cost], dist, estimator, num_samples)
    for _ in range(calls - 1):
        estimate = expectation(family.costs[cost], dist, estimator, num_samples)
    grads = torch.autograd.grad(estimate.sum(), list(params.values()), allow_unused=True)
    flat = [
        torch.zeros(trials, p[0].numel(), dtype=p.dtype) if g is None else g.reshape(trials, -1)
        for g, p in zip(grads, params.values(), strict=True)
    ]
    return torch.cat(flat, dim=1).detach()


def exact_gradient(family: Family, cost: str) -> Tensor:
    """``[P]``: the derivative of the closed-form ``E[f]``, flattened like the trials."""
    params = {k: v.requires_grad_() for k, v in family.params().items()}
    mean = family.exact_mean(cost, params)
    grads = torch.autograd.grad(mean, list(params.values()))
    return torch.cat([g.reshape(-1) for g in grads])


def assert_unbiased(estimates: Tensor, exact: Tensor, rate: float = FALSE_FAILURE_RATE) -> None:
    """z-test of every column's mean against ``exact`` at total false-failure rate ``rate``.

    Columns whose estimates are all equal (a deterministic gradient, e.g. a
    linear cost's pathwise gradient in the mean) have no standard error: they
    must equal the exact value up to float64 rounding.
    """
    spread = estimates.max(0).values - estimates.min(0).values
    scale = 1.0 + exact.abs()
    fixed = spread <= 1e-12 * scale
    if bool(fixed.any()):
        error = (estimates.mean(0) - exact).abs()[fixed]
        assert bool((error <= 1e-9 * scale[fixed]).all()), (
            f"deterministic gradient {estimates.mean(0)[fixed]} != exact {exact[fixed]}"
        )
    if bool(fixed.all()):
        return
    z = mean_z_scores(estimates[:, ~fixed], exact[~fixed])
    limit = z_threshold(rate, int((~fixed).sum()))
    assert bool((z.abs() <= limit).all()), (
        f"gradient off by {z.abs().max().item():.2f} standard errors (limit {limit:.2f} at "
        f"false-failure rate {rate}): mean {estimates.mean(0)}, exact {exact}"
    )
