"""No NaN or inf in relaxed samples or their gradients, on a million float32 draws.

Logits span [-50, 50] and temperatures go down to 0.01. Every draw has its own
logit (a leaf of shape ``[draws, ...]``), so the gradient checked is per draw,
not a sum in which one bad value could hide behind cancellation.
"""

from __future__ import annotations

import pytest
import torch
from torch import Tensor
from torch.distributions import Bernoulli, OneHotCategorical

import reparam
from reparam.estimators import Estimator

TEMPERATURES = [1.0, 0.1, 0.01]


def bernoulli_logits() -> Tensor:
    """1000 x 1001 float32 logits, every value of ``linspace(-50, 50, 1001)`` a thousand times."""
    grid = torch.linspace(-50.0, 50.0, 1001)
    return grid.expand(1000, 1001).clone().requires_grad_()


def categorical_logits() -> Tensor:
    """10^6 draws of 10 classes: uniform logits in [-50, 50] and the extreme patterns."""
    generator = torch.Generator().manual_seed(0)
    logits = torch.empty(100_000, 10, 10).uniform_(-50.0, 50.0, generator=generator)
    logits[:10_000] = -50.0
    logits[:10_000, :, 0] = 50.0  # one class certain
    logits[10_000:20_000] = 50.0  # ties at the top of the range
    logits[20_000:30_000, :, ::2] = -50.0
    return logits.requires_grad_()


def assert_finite(samples: Tensor, leaf: Tensor) -> None:
    assert bool(torch.isfinite(samples).all()), "non-finite relaxed sample"
    weights = torch.linspace(-1.0, 1.0, samples.shape[-1])
    (grad,) = torch.autograd.grad((samples * weights).sum(), leaf)
    assert bool(torch.isfinite(grad).all()), "non-finite gradient"


def seen(estimator: Estimator, dist: object) -> Tensor:
    """The tensor the estimator hands to ``f``, kept with its graph."""
    kept: list[Tensor] = []

    def f(y: Tensor) -> Tensor:
        kept.append(y)
        return y.sum(-1) if y.dim() > 3 else y

    estimator.surrogate(f, dist, 1)  # type: ignore[arg-type]
    return kept[0]


@pytest.mark.parametrize("tau", TEMPERATURES)
@pytest.mark.parametrize("straight", [False, True], ids=["relaxed", "straight-through"])
def test_binary_concrete_is_finite(tau: float, straight: bool) -> None:
    torch.manual_seed(0)
    leaf = bernoulli_logits()
    kind = reparam.StraightThroughGumbelSoftmax if straight else reparam.GumbelSoftmax
    samples = seen(kind(tau), Bernoulli(logits=leaf))
    assert samples.dtype == torch.float32 and samples.numel() == 1_001_000
    assert_finite(samples, leaf)


@pytest.mark.parametrize("tau", TEMPERATURES)
def test_gumbel_softmax_is_finite(tau: float) -> None:
    torch.manual_seed(0)
    leaf = categorical_logits()
    samples = seen(reparam.GumbelSoftmax(tau), OneHotCategorical(logits=leaf))
    assert samples.shape == (1, 100_000, 10, 10)  # 10^6 categorical draws
    assert_finite(samples, leaf)


@pytest.mark.parametrize("tau", [0.5, 0.01])
def test_relax_is_finite(tau: float) -> None:
    torch.manual_seed(0)
    leaf = bernoulli_logits()
    estimator = reparam.RELAX(reparam.ConcreteControlVariate(temperature=tau))
    h = estimator.surrogate(lambda y: (y - 0.49) ** 2, Bernoulli(logits=leaf), 1)
    (grad,) = torch.autograd.grad(h.sum(), leaf)
    assert bool(torch.isfinite(grad).all())
    leaf = categorical_logits()[:20_000]
    h = estimator.surrogate(lambda y: y[..., 0], OneHotCategorical(logits=leaf), 1)
    (grad,) = torch.autograd.grad(h.sum(), leaf)
    assert bool(torch.isfinite(grad).all())
