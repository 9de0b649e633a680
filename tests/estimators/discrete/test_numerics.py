"""Relaxed samples and their gradients are right, not only finite, on a million float32 draws.

Logits span [-50, 50] and temperatures go down to 0.01. Every draw has its own
logit (a leaf of shape ``[draws, ...]``), so the gradient checked is per draw,
not a sum in which one bad value could hide behind cancellation. For
``g = sum(w * y)`` the gradient is known from the sample itself:

* binary Concrete, ``y = sigmoid((phi + L) / tau)``: ``dg/dphi = w y (1 - y) / tau``;
* Gumbel-softmax, ``y = softmax((log p + G) / tau)``: ``dg/dphi_j = y_j (w_j - w.y) / tau``
  (the normalisation of ``log p`` adds ``-p_j sum_k dg/dlog p_k = 0``);
* straight-through: the value is the hard sample (0 or 1) and the gradient the
  relaxed one's, between 0 and ``w / (4 tau)``.

RELAX's gradient has no such closed form; it is checked for finiteness only.
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


def weighted_gradient(samples: Tensor, leaf: Tensor) -> tuple[Tensor, Tensor]:
    """``w`` over the last dimension and ``d sum(w * samples) / d leaf``, in float64."""
    weights = torch.linspace(-1.0, 1.0, samples.shape[-1])
    (grad,) = torch.autograd.grad((samples * weights).sum(), leaf)
    return weights.double(), grad.double()


def expected_gradient(y: Tensor, weights: Tensor, tau: float, categorical: bool) -> Tensor:
    """The gradient the module docstring derives, from the float32 sample ``y`` in float64."""
    y = y.detach().double().reshape(-1, *y.shape[2:]) if categorical else y.detach().double()
    if categorical:
        return y * (weights - (y * weights).sum(-1, keepdim=True)) / tau
    return (weights * y * (1 - y) / tau).reshape(-1, y.shape[-1])


def assert_relaxed(samples: Tensor, leaf: Tensor, tau: float, categorical: bool) -> None:
    assert bool(((samples >= 0) & (samples <= 1)).all()), "relaxed sample outside [0, 1]"
    weights, grad = weighted_gradient(samples, leaf)
    assert_gradient(samples, weights, grad, tau, categorical)


def assert_gradient(
    samples: Tensor, weights: Tensor, grad: Tensor, tau: float, categorical: bool
) -> None:
    expected = expected_gradient(samples, weights, tau, categorical).reshape(grad.shape)
    # float32 rounding of y and of the normalisation's zero sum, ~1e-7 / tau
    torch.testing.assert_close(grad, expected, rtol=1e-4, atol=1e-5 / tau)


def seen(estimator: Estimator, dist: object) -> Tensor:
    """The tensor the estimator hands to ``f``, kept with its graph."""
    kept: list[Tensor] = []

    def f(y: Tensor) -> Tensor:
        kept.append(y)
        return y.sum(-1) if y.dim() > 3 else y

    estimator.surrogate(f, dist, 1)  # type: ignore[arg-type]
    return kept[0]


@pytest.mark.parametrize("tau", TEMPERATURES)
def test_binary_concrete_samples_and_gradients(tau: float) -> None:
    torch.manual_seed(0)
    leaf = bernoulli_logits()
    samples = seen(reparam.GumbelSoftmax(tau), Bernoulli(logits=leaf))
    assert samples.dtype == torch.float32 and samples.numel() == 1_001_000
    assert_relaxed(samples, leaf, tau, categorical=False)


@pytest.mark.parametrize("tau", TEMPERATURES)
def test_straight_through_binary_concrete_samples_and_gradients(tau: float) -> None:
    torch.manual_seed(0)
    leaf = bernoulli_logits()
    samples = seen(reparam.StraightThroughGumbelSoftmax(tau), Bernoulli(logits=leaf))
    assert set(samples.detach().unique().tolist()) == {0.0, 1.0}
    weights, grad = weighted_gradient(samples, leaf)
    slope = grad / weights.reshape(1, -1)  # y (1 - y) / tau, where the weight is not 0
    slope = slope[:, weights.abs() > 1e-3]
    assert bool(((slope >= 0) & (slope <= 0.25 / tau * (1 + 1e-5))).all())
    assert float(slope.max()) > 0.2 / tau  # draws near y = 1/2 reach the top


@pytest.mark.parametrize("tau", TEMPERATURES)
def test_gumbel_softmax_samples_and_gradients(tau: float) -> None:
    torch.manual_seed(0)
    leaf = categorical_logits()
    samples = seen(reparam.GumbelSoftmax(tau), OneHotCategorical(logits=leaf))
    assert samples.shape == (1, 100_000, 10, 10)  # 10^6 categorical draws
    assert_relaxed(samples, leaf, tau, categorical=True)


@pytest.mark.parametrize("categorical", [False, True], ids=["binary", "categorical"])
def test_the_gradient_check_rejects_a_wrong_temperature(categorical: bool) -> None:
    """The check can fail: the same draws against the formula at twice the temperature."""
    torch.manual_seed(0)
    # uniform logits (the first rows hold the extreme patterns, with gradients near 0)
    leaf = categorical_logits()[50_000:51_000] if categorical else bernoulli_logits()[:10]
    dist = OneHotCategorical(logits=leaf) if categorical else Bernoulli(logits=leaf)
    samples = seen(reparam.GumbelSoftmax(0.5), dist)
    weights, grad = weighted_gradient(samples, leaf)
    with pytest.raises(AssertionError, match="not close"):
        assert_gradient(samples, weights, grad, 1.0, categorical)
    assert_gradient(samples, weights, grad, 0.5, categorical)  # and passes at the right one


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
