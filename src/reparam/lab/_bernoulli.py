"""The Bernoulli toy of the ARM paper (Yin and Zhou, 2019): exact by enumeration.

``z ~ Bernoulli(sigmoid(theta))``, ``f(z) = (z - t)^2`` with ``t = 0.49``: the
two outcomes cost almost the same, so the gradient

    d/dtheta E[f] = p (1 - p) (1 - 2 t),   p = sigmoid(theta),

is tiny next to the cost, a hard case for the score function. The score term
is ``f(z) (z - p)`` (``d log q / dtheta = z - p``); its mean and variance are
sums over ``z`` in ``{0, 1}``. Several values of ``theta`` may sit side by side
(independent toys, one parameter ``theta[i]`` each).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor
from torch.distributions import Bernoulli

from reparam.estimators import Cost
from reparam.lab._bernoulli_discrete import discrete_variances
from reparam.lab._problem import Params, Problem, gradient_of


def bernoulli_toy(t: float = 0.49, theta: float | Sequence[float] = 0.0) -> Problem:
    """``z ~ Bernoulli(logits=theta)``, ``f(z) = (z - t)^2``; ``theta`` one value or several.

    >>> bernoulli_toy(theta=(-1.0, 2.0)).labels()
    ['theta[0]', 'theta[1]']
    """
    values = {"theta": torch.tensor(theta, dtype=torch.float64)}

    def cost(z: Tensor) -> Tensor:
        return (z - t).square()

    def build(p: Params) -> tuple[Cost, Bernoulli]:
        return cost, Bernoulli(logits=p["theta"])

    def objective(p: Params) -> Tensor:
        prob = torch.sigmoid(p["theta"])
        return (prob * (1 - t) ** 2 + (1 - prob) * t**2).sum()  # toys side by side

    def score() -> dict[str, Tensor]:
        prob = torch.sigmoid(values["theta"])
        z = torch.tensor([0.0, 1.0], dtype=torch.float64).reshape(2, *[1] * prob.dim())
        weights = torch.stack([1 - prob, prob])
        terms = cost(z) * (z - prob)
        mean = (weights * terms).sum(0)
        return {"theta": (weights * terms.square()).sum(0) - mean.square()}

    shown = values["theta"].tolist()
    return Problem(
        name="bernoulli-toy",
        summary=f"z ~ Bernoulli(sigmoid(theta={_numbers(shown)})), f(z) = (z - {t:g})^2",
        values=values,
        build=build,
        exact_gradient=gradient_of(objective, values),
        per_sample_variances={"score": score, **discrete_variances(cost, values["theta"])},
    )


def _numbers(value: float | list[float]) -> str:
    """``0.3`` for one value, ``(-1, 0.3, 2)`` for several."""
    if isinstance(value, float):
        return f"{value:g}"
    return "(" + ", ".join(f"{v:g}" for v in value) + ")"
