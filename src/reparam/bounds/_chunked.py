"""``log (1/K) sum_i exp(a_i)`` over millions of terms, a chunk at a time.

An importance-weighted estimate of ``log p(x)`` with ``K`` in the millions
(Burda, Grosse and Salakhutdinov, 2016, section 5, use ``K = 5000`` per test
point) would hold ``K`` samples, and the model's activations for each, at once.
Evaluated in chunks of ``m`` draws with a running log-sum-exp,

    s_0 = -inf,    s_{j+1} = logaddexp(s_j, logsumexp(a_chunk_j)),

it holds one chunk: memory ``O(m)``, the same value up to rounding (``logaddexp``
never overflows: it subtracts the larger of its arguments).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import Tensor
from torch.distributions import Distribution

from reparam._sampling import draw
from reparam.bounds._iwae import LogJoint, log_weights

DEFAULT_CHUNK = 4096
"""Draws per chunk of :func:`log_mean_exp_chunked` unless told otherwise."""


def log_mean_exp_chunked(
    log_weights_of: Callable[[int], Tensor], num_samples: int, *, chunk_size: int = DEFAULT_CHUNK
) -> Tensor:
    """``log (1/K) sum_{i<K} exp(a_i)`` from chunks ``a = log_weights_of(m)`` of ``m`` draws.

    Args:
        log_weights_of: given ``m``, returns ``m`` fresh log-weights per batch
            element, ``[m, *batch_shape]`` (e.g. :func:`importance_log_weights`).
        num_samples: ``K >= 1``, the total number of draws.
        chunk_size: draws per call (the last chunk takes the remainder).

    Returns:
        ``[*batch_shape]``: with importance log-weights, the ``K``-sample bound.

    Gradients flow, but then every chunk's graph is kept; for evaluation, call it
    under ``torch.no_grad()`` (:func:`importance_log_weights` does so itself).

    >>> import torch
    >>> a = torch.randn(10_000, 3, generator=torch.Generator().manual_seed(0))
    >>> chunks = iter(a.split(3000))
    >>> chunked = log_mean_exp_chunked(lambda m: next(chunks), 10_000, chunk_size=3000)
    >>> bool(torch.allclose(chunked, a.logsumexp(0) - torch.tensor(10_000.0).log()))
    True
    """
    for name, value in (("num_samples", num_samples), ("chunk_size", chunk_size)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
    total: Tensor | None = None
    done = 0
    while done < num_samples:
        m = min(chunk_size, num_samples - done)
        chunk = log_weights_of(m)
        if not isinstance(chunk, Tensor) or chunk.dim() < 1 or chunk.shape[0] != m:
            got = list(chunk.shape) if isinstance(chunk, Tensor) else type(chunk).__name__
            raise ValueError(
                f"log_weights_of({m}) must return {m} log-weights along dim 0, "
                f"[{m}, *batch_shape], got {got}"
            )
        part = torch.logsumexp(chunk, dim=0)
        total = part if total is None else torch.logaddexp(total, part)
        done += m
    assert total is not None
    return total - math.log(num_samples)


def importance_log_weights(log_joint: LogJoint, q: Distribution) -> Callable[[int], Tensor]:
    """``m -> log p(x, z) - log q(z)`` for ``m`` fresh draws ``z ~ q``, without gradients.

    The chunk function of :func:`log_mean_exp_chunked` for the bound of
    :func:`reparam.iwae_bound` with many samples:

    >>> import torch
    >>> from torch.distributions import Normal
    >>> _ = torch.manual_seed(0)
    >>> x = torch.tensor(1.0)
    >>> log_joint = lambda z: Normal(0.0, 1.0).log_prob(z) + Normal(z, 1.0).log_prob(x)
    >>> q = Normal(torch.tensor(0.5), 1.0)  # the exact posterior is N(0.5, 0.5)
    >>> bound = log_mean_exp_chunked(importance_log_weights(log_joint, q), 10**5)
    >>> log_px = Normal(0.0, 2**0.5).log_prob(x)
    >>> bool(abs(bound - log_px) < 0.01)  # its noise: about 1.2e-3
    True
    """

    def chunk(m: int) -> Tensor:
        z = draw(q, torch.Size([m]))
        with torch.no_grad():
            return log_weights(log_joint, q, z)

    return chunk
