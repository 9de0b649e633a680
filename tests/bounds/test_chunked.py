"""``log_mean_exp_chunked``: the same value as one log-sum-exp, one chunk at a time."""

from __future__ import annotations

import math

import pytest
import torch
from torch import Tensor

from reparam import importance_log_weights, log_mean_exp_chunked
from reparam.lab import LinearGaussian
from tests.stats import z_threshold


def chunks_of(a: Tensor, sizes: list[int]) -> object:
    offset = 0

    def next_chunk(m: int) -> Tensor:
        nonlocal offset
        sizes.append(m)
        offset += m
        return a[offset - m : offset]

    return next_chunk


@pytest.mark.parametrize(("total", "chunk"), [(1, 1), (10, 3), (1000, 1000), (1000, 7), (5, 64)])
def test_equals_the_unchunked_log_mean_exp(total: int, chunk: int) -> None:
    # Large, spread log-weights: exp would overflow, logaddexp must not.
    a = 800 + 50 * torch.randn(total, 3, generator=torch.Generator().manual_seed(0))
    sizes: list[int] = []
    value = log_mean_exp_chunked(chunks_of(a, sizes), total, chunk_size=chunk)  # type: ignore[arg-type]
    torch.testing.assert_close(value, a.logsumexp(0) - math.log(total))
    assert sum(sizes) == total and max(sizes) <= chunk


def test_a_wrong_chunk_shape_is_an_error() -> None:
    with pytest.raises(ValueError, match=r"log_weights_of\(4\) must return 4 log-weights"):
        log_mean_exp_chunked(lambda m: torch.zeros(m + 1), 10, chunk_size=4)


@pytest.mark.parametrize("bad", [0, -3, 2.5, True])
def test_counts_must_be_positive_integers(bad: object) -> None:
    with pytest.raises(ValueError, match="num_samples must be an integer >= 1"):
        log_mean_exp_chunked(lambda m: torch.zeros(m), bad)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="chunk_size must be an integer >= 1"):
        log_mean_exp_chunked(lambda m: torch.zeros(m), 4, chunk_size=bad)  # type: ignore[arg-type]


def test_a_large_k_bound_is_log_evidence_to_its_noise() -> None:
    """``k = 2 10^5``: the bound's gap is O(1/k) and its noise O(1/sqrt(k)), both tiny.

    With normalised weights ``u = w / p(x)`` the estimate is ``log mean(u)``, whose
    standard deviation is ``std(u) / sqrt(k)`` to first order (delta method);
    ``std(u)`` is measured from the same chunks.
    """
    torch.manual_seed(0)
    model = LinearGaussian()
    leaves = model.values()
    x = torch.tensor(model.x, dtype=torch.float64)
    q = torch.distributions.Normal(leaves["a"] * x + leaves["b"], leaves["c"])

    def log_joint(z: Tensor) -> Tensor:
        prior = torch.distributions.Normal(leaves["mu"], 1.0).log_prob(z)
        return prior + torch.distributions.Normal(z, leaves["s"]).log_prob(x)

    draws, log_px = 200_000, model.log_evidence()
    weights = importance_log_weights(log_joint, q)
    spread: list[Tensor] = []

    def recorded(m: int) -> Tensor:
        chunk = weights(m)
        spread.append((chunk - log_px).exp())
        return chunk

    bound = float(log_mean_exp_chunked(recorded, draws, chunk_size=20_000))
    se = float(torch.cat(spread).std()) / math.sqrt(draws)
    assert abs(bound - log_px) < z_threshold() * se, (bound, log_px, se)
    assert len(spread) == 10 and not torch.cat(spread).requires_grad
