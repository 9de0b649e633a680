"""No estimator reads a tensor on the host; where non-finite costs are still caught.

Eager proof on any machine: tensors on the ``meta`` device have shapes but no
data, so every host read (``.item()``, ``bool(t)``, a boolean mask) raises on
them. On CUDA, ``torch.cuda.set_sync_debug_mode("error")`` raises on every
synchronising call; those tests run where a GPU is present and are skipped
otherwise.
"""

from __future__ import annotations

import pytest
import torch
from torch import Tensor
from torch.distributions import Bernoulli, Distribution, Independent, Normal

import reparam
from reparam.estimators import ESTIMATORS, CostError, Estimator, finite_check
from tests.cuda_sync import sync_debug_mode

NAMES = list(ESTIMATORS)
HAS_CUDA = torch.cuda.is_available()


def _dist(name: str, theta: Tensor) -> Distribution:
    """A Normal where the estimator takes one, else a Bernoulli; no torch validation."""
    normal = Independent(Normal(theta, torch.exp(theta), validate_args=False), 1)
    if ESTIMATORS[name]().supports(normal):
        return normal
    return Independent(Bernoulli(logits=theta, validate_args=False), 1)


def _estimator(name: str, device: str) -> str | Estimator:
    if name != "relax":
        return name
    return reparam.RELAX(reparam.ConcreteControlVariate().to(device))


def _cost(z: Tensor) -> Tensor:
    return ((z - 0.4) ** 2).sum(-1)


def _estimate_and_gradient(name: str, device: str, **options: bool) -> tuple[Tensor, Tensor]:
    theta = torch.zeros(3, 2, device=device, requires_grad=True)
    dist = _dist(name, theta)
    value = reparam.expectation(_cost, dist, _estimator(name, device), 4, **options)
    (grad,) = torch.autograd.grad(value.sum(), theta)
    return value, grad


@pytest.mark.parametrize("name", NAMES)
def test_no_host_read_forward_or_backward(name: str) -> None:
    value, grad = _estimate_and_gradient(name, "meta")
    assert value.shape == (3,) and grad.shape == (3, 2)


def test_a_host_read_on_meta_tensors_fails() -> None:
    """The check above can fail: asking for the finiteness check reads the costs."""
    with pytest.raises(RuntimeError, match="meta"):
        _estimate_and_gradient("pathwise", "meta", check_finite=True)


def test_strict_checks_on_every_device() -> None:
    with reparam.strict(), pytest.raises(RuntimeError, match="meta"):
        _estimate_and_gradient("pathwise", "meta")


def test_explicit_choice_wins_over_strict() -> None:
    with reparam.strict(), finite_check(False):
        _estimate_and_gradient("pathwise", "meta")


def _nan_in_element_one(z: Tensor) -> Tensor:
    """Finite costs except at the first sample of batch element 1."""
    costs = _cost(z)
    poison = torch.zeros_like(costs)
    poison[0, 1] = float("nan")
    return costs + poison


@pytest.mark.parametrize("name", NAMES)
def test_an_unchecked_non_finite_cost_shows_in_its_batch_element(name: str) -> None:
    torch.manual_seed(0)
    theta = torch.zeros(3, 2, dtype=torch.float64, requires_grad=True)
    dist = _dist(name, theta)
    estimator = _estimator(name, "cpu")
    with pytest.raises(CostError, match="non-finite"):  # checked on the CPU by default
        reparam.expectation(_nan_in_element_one, dist, estimator, 4)
    value = reparam.expectation(_nan_in_element_one, dist, estimator, 4, check_finite=False)
    assert torch.isfinite(value).tolist() == [True, False, True]


def test_finite_check_context_and_option_on_the_cpu() -> None:
    dist = Normal(torch.zeros(3), 1.0)
    with finite_check(False):
        assert torch.isnan(reparam.expectation(lambda z: z * float("nan"), dist)).all()
        with pytest.raises(CostError, match="non-finite"):  # the call's option wins
            reparam.expectation(lambda z: z * float("nan"), dist, check_finite=True)
    with pytest.raises(CostError, match="non-finite"):  # the context is gone
        reparam.expectation(lambda z: z * float("nan"), dist)


def test_per_sample_gradients_takes_the_option_too() -> None:
    mu = torch.zeros((), requires_grad=True)
    with pytest.raises(CostError, match="non-finite"):
        reparam.per_sample_gradients(lambda z: z * float("nan"), Normal(mu, 1.0), [mu])
    (terms,) = reparam.per_sample_gradients(
        lambda z: z * float("nan"), Normal(mu, 1.0), [mu], num_samples=2, check_finite=False
    )
    assert terms.shape == (2,) and torch.isnan(terms).all()


def _cuda_inputs(name: str) -> tuple[Tensor, Distribution, str | Estimator]:
    theta = torch.zeros(3, 2, device="cuda", requires_grad=True)
    return theta, _dist(name, theta), _estimator(name, "cuda")


@pytest.mark.skipif(not HAS_CUDA, reason="CUDA not available")
@pytest.mark.parametrize("name", NAMES)
def test_cuda_no_synchronisation(name: str) -> None:
    theta, dist, estimator = _cuda_inputs(name)
    with sync_debug_mode("error"):
        value = reparam.expectation(_cost, dist, estimator, 4)
        (grad,) = torch.autograd.grad(value.sum(), theta)
    assert value.device.type == "cuda" and grad.shape == theta.shape


@pytest.mark.skipif(not HAS_CUDA, reason="CUDA not available")
def test_cuda_sync_debug_mode_catches_a_host_read() -> None:
    _, dist, estimator = _cuda_inputs("pathwise")
    with sync_debug_mode("error"), pytest.raises(RuntimeError, match="synchroniz"):
        reparam.expectation(_cost, dist, estimator, 4, check_finite=True)


@pytest.mark.skipif(not HAS_CUDA, reason="CUDA not available")
@pytest.mark.parametrize("name", ["pathwise", "score-loo", "disarm"])
def test_cuda_non_finite_costs(name: str) -> None:
    theta = torch.zeros(3, 2, device="cuda", requires_grad=True)
    dist = _dist(name, theta)
    value = reparam.expectation(_nan_in_element_one, dist, name, 4)  # not checked: no sync
    assert torch.isfinite(value).tolist() == [True, False, True]
    with pytest.raises(CostError, match="1 non-finite cost"):
        reparam.expectation(_nan_in_element_one, dist, name, 4, check_finite=True)
