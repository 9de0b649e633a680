"""No registered estimator and no ``iwae_bound`` gradient reads a tensor on the host.

Each estimator runs forward and backward on every family of :data:`FAMILIES` it
supports, with ``check_finite=False``, under :class:`tests.host_reads.HostReads`,
which records the operations that copy data to the host (``.item()``, ``nonzero``,
boolean masks, ``normal`` with a tensor standard deviation, ...). On a GPU each
of them would stall the stream; on a CPU they cost nothing and only this record
shows them. Unlike the ``meta``-device proof of ``test_no_sync.py``, it also
sees ``torch.normal(loc, scale)``, whose CUDA kernel checks ``scale >= 0`` on the
host while its CPU and meta kernels do not.

Distributions are built with PyTorch's argument validation off: validation
reads parameters and samples on the host by design (see
``reparam.estimators._finite``).
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch
import torch.nn.functional as F
from torch import Tensor
from torch.distributions import (
    Bernoulli,
    Categorical,
    Distribution,
    Independent,
    Normal,
    OneHotCategorical,
)

import reparam
from reparam.bounds import GRADIENTS, _chunked, importance_log_weights, log_mean_exp_chunked
from reparam.estimators import ESTIMATORS, Estimator, _gumbel_softmax, _score
from tests.compiled import unvalidated
from tests.host_reads import HostReads

FAMILIES: dict[str, Callable[[Tensor], Distribution]] = {
    "Normal": lambda theta: Independent(Normal(theta, torch.exp(theta)), 1),
    "Bernoulli": lambda theta: Independent(Bernoulli(logits=theta), 1),
    "Categorical": lambda theta: Categorical(logits=theta),
    "OneHotCategorical": lambda theta: OneHotCategorical(logits=theta),
}
"""The families the estimators are run on, built from parameters ``theta`` of shape [3, 2]."""

TORCH_SAMPLER_READS = {"OneHotCategorical": ("score", "score-loo")}
"""Left out: torch's ``OneHotCategorical.sample`` calls ``F.one_hot``, which checks the
class indices' range by reading them on the host on a CPU (on CUDA it relies on
device-side asserts and reads nothing). The score function samples with it."""


def _estimator(name: str) -> Estimator:
    if name == "relax":
        return reparam.RELAX(reparam.ConcreteControlVariate())
    return ESTIMATORS[name]()


def _cost(z: Tensor) -> Tensor:
    """Samples ``[S, 3, ...]`` (vectors, one-hot vectors or indices) to costs ``[S, 3]``."""
    squares = (z - 0.4) ** 2
    return squares.reshape(*squares.shape[:2], -1).sum(-1)


CASES = [
    (name, family)
    for name in ESTIMATORS
    for family, make in FAMILIES.items()
    if _estimator(name).supports(make(torch.zeros(3, 2)))
    and name not in TORCH_SAMPLER_READS.get(family, ())
]


def reads_of_estimate(name: str, family: str) -> list[str]:
    """The host reads of one estimate of 4 samples and its gradient."""
    theta = torch.zeros(3, 2, requires_grad=True)
    estimator = _estimator(name)
    with unvalidated(), HostReads() as reads:
        dist = FAMILIES[family](theta)
        value = reparam.expectation(_cost, dist, estimator, 4, check_finite=False)
        (grad,) = torch.autograd.grad(value.sum(), theta)
    assert value.shape == (3,) and grad.shape == (3, 2)
    return reads.ops


@pytest.mark.parametrize(("name", "family"), CASES)
def test_no_estimator_reads_on_the_host(name: str, family: str) -> None:
    assert reads_of_estimate(name, family) == []


def test_every_registered_estimator_is_checked() -> None:
    assert {name for name, _ in CASES} == set(ESTIMATORS)


def test_the_check_fails_on_the_samplers_of_before(monkeypatch: pytest.MonkeyPatch) -> None:
    """The record can fail: ``dist.sample`` for the score function, ``F.one_hot`` for the
    hard Gumbel sample, as the estimators drew them before."""
    monkeypatch.setattr(_score, "draw", lambda dist, shape: dist.sample(shape))
    assert reads_of_estimate("score", "Normal") == ["aten.normal.Tensor_Tensor"]

    def one_hot_harden(view: object, perturbed: Tensor) -> Tensor:
        return F.one_hot(perturbed.argmax(-1), perturbed.shape[-1]).to(perturbed.dtype)

    monkeypatch.setattr(_gumbel_softmax, "harden", one_hot_harden)
    assert "aten._local_scalar_dense.default" in reads_of_estimate("gumbel-softmax", "Categorical")


def _posterior(loc: Tensor) -> Distribution:
    return Independent(Normal(loc, torch.exp(loc)), 1)


def _log_joint(z: Tensor) -> Tensor:
    return -0.5 * ((z - 1.0) ** 2).sum(-1)


@pytest.mark.parametrize("gradient", GRADIENTS)
def test_iwae_bound_reads_nothing_on_the_host(gradient: str) -> None:
    loc = torch.zeros(3, 2, requires_grad=True)
    with unvalidated(), HostReads() as reads:
        bound = reparam.iwae_bound(
            _log_joint,
            _posterior(loc),
            4,
            gradient=gradient,
            check_finite=False,  # type: ignore[arg-type]
        )
        (grad,) = torch.autograd.grad(bound.sum(), loc)
    assert reads.ops == [] and grad.shape == (3, 2)


def _chunked_bound_reads() -> list[str]:
    with unvalidated(), HostReads() as reads:
        chunks = importance_log_weights(_log_joint, _posterior(torch.zeros(3, 2)))
        bound = log_mean_exp_chunked(chunks, 10, chunk_size=4)
    assert bound.shape == (3,)
    return reads.ops


def test_the_chunked_bound_reads_nothing_on_the_host(monkeypatch: pytest.MonkeyPatch) -> None:
    assert _chunked_bound_reads() == []
    monkeypatch.setattr(_chunked, "draw", lambda dist, shape: dist.sample(shape))  # as before
    assert _chunked_bound_reads() == ["aten.normal.Tensor_Tensor"] * 3
