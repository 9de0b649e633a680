"""Test-set bounds: the ELBO and the importance-weighted bound with ``k`` samples.

For a model with ``log_weights(x, k)`` returning ``log w_j = log p(x, z_j) - log q(z_j | x)``,

    L_k(x) = log (1/k) sum_j w_j = logsumexp_j(log w_j) - log k,

a lower bound on ``log p(x)`` that grows with ``k`` and tends to it (Burda,
Grosse and Salakhutdinov, 2016, "Importance Weighted Autoencoders"); ``E[L_1]``
is the ELBO. Both are reported negated, in nats per example (lower is better).

Memory stays bounded for any ``k``: examples go in chunks, and the ``k``
samples of a chunk in pieces of about ``rows`` decoder rows, folded into a
running log-sum-exp.

With a ``seed``, chunk ``c`` of the test set draws its noise from its own seed
(``noise_seed(seed, name, c)``): a chunk's figures do not depend on which
process evaluates it, so data-parallel ranks split the chunks among themselves
(chunk ``c`` on rank ``c mod W``), add up sums of losses and counts, and get
what one process gets, to float rounding.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import torch
from torch import Tensor
from tqdm import tqdm

from reparam.training._model import LatentVariableModel
from reparam.training._rng import seeded
from reparam.training.distributed import World, noise_seed

__all__ = [
    "ROWS",
    "Evaluation",
    "evaluate",
    "iw_bounds",
    "log_mean_exp_in_pieces",
    "mean_loss",
    "mean_neg_iw_bound",
]

ROWS = 16384
"""About how many decoder rows (examples x samples) are in memory at once."""


@dataclass(frozen=True)
class Evaluation:
    """Negated bounds in nats per example; ``neg_iw_bound`` is ``None`` when ``k = 0``."""

    neg_elbo: float
    neg_iw_bound: float | None
    k: int


def _chunks(
    pixels: Tensor, size: int, seed: int | None, name: str, world: World
) -> Iterator[Tensor]:
    """This rank's chunks of ``pixels``, each run with its own seed when ``seed`` is given."""
    for index, x in enumerate(pixels.split(size)):
        if index % world.size != world.rank:
            continue
        if seed is None:
            yield x
            continue
        with seeded(noise_seed(seed, name, index), x.device):
            yield x


def _sum_over_ranks(total: float, pixels: Tensor, world: World) -> float:
    summed = world.all_reduce_sum(torch.tensor([total], dtype=torch.float64, device=pixels.device))
    return float(summed.item())


def mean_loss(
    model: LatentVariableModel,
    pixels: Tensor,
    batch_size: int = 1000,
    *,
    seed: int | None = None,
    world: World | None = None,
) -> float:
    """The average of ``model.loss`` (a one-sample ``-ELBO`` estimate) over ``pixels``.

    Without ``seed`` the noise comes from the global generator as it stands.
    """
    world = world or World()
    model.eval()
    total = 0.0
    with torch.inference_mode():
        for x in _chunks(pixels, batch_size, seed, "elbo", world):
            total += model.loss(x).sum(dtype=torch.float64).item()
    return _sum_over_ranks(total, pixels, world) / pixels.shape[0]


def log_mean_exp_in_pieces(log_weights: Callable[[int], Tensor], k: int, piece: int) -> Tensor:
    """``log (1/k) sum_j exp(a_j)`` over ``dim 0``, drawing ``a`` at most ``piece`` rows at a time.

    ``log_weights(n)`` returns ``n`` fresh rows ``[n, B]``; a running maximum and
    a rescaled running sum keep the result exact in float64 whatever ``k`` is.

    >>> rows = torch.arange(6.0, dtype=torch.float64).reshape(6, 1)
    >>> pieces = iter(rows.split(4))
    >>> got = log_mean_exp_in_pieces(lambda n: next(pieces), k=6, piece=4)
    >>> bool(torch.isclose(got, torch.logsumexp(rows, 0) - math.log(6)))
    True
    """
    if k < 1 or piece < 1:
        raise ValueError(f"k and piece must be >= 1, got {k} and {piece}")
    peak = total = None
    for start in range(0, k, piece):
        a = log_weights(min(piece, k - start)).to(torch.float64)
        top = a.max(dim=0).values
        if peak is None or total is None:
            peak, total = top, torch.exp(a - top).sum(0)
            continue
        new_peak = torch.maximum(peak, top)
        total = total * torch.exp(peak - new_peak) + torch.exp(a - new_peak).sum(0)
        peak = new_peak
    assert peak is not None and total is not None
    return peak + torch.log(total) - math.log(k)


def iw_bounds(model: LatentVariableModel, x: Tensor, k: int, rows: int = ROWS) -> Tensor:
    """``L_k`` per example, ``[B]``, from ``k`` importance samples each."""
    piece = max(1, rows // max(1, x.shape[0]))
    return log_mean_exp_in_pieces(lambda n: model.log_weights(x, n), k, piece)


def mean_neg_iw_bound(
    model: LatentVariableModel,
    pixels: Tensor,
    k: int,
    rows: int = ROWS,
    progress_bar: bool = False,
    *,
    seed: int | None = None,
    world: World | None = None,
) -> float:
    """``-mean_x L_k(x)`` over ``pixels``, in nats per example."""
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    world = world or World()
    model.eval()
    batch = max(1, rows // k)
    total = 0.0
    chunks = _chunks(pixels, batch, seed, "iw", world)
    mine = len(range(world.rank, math.ceil(pixels.shape[0] / batch), world.size))
    with torch.inference_mode():
        for x in tqdm(
            chunks,
            total=mine,
            desc=f"IW bound, k={k}",
            leave=False,
            disable=None if progress_bar and world.is_main else True,
        ):
            total -= iw_bounds(model, x, k, rows).sum().item()
    return _sum_over_ranks(total, pixels, world) / pixels.shape[0]


def evaluate(
    model: LatentVariableModel,
    pixels: Tensor,
    k: int,
    progress_bar: bool = False,
    *,
    seed: int | None = None,
    world: World | None = None,
) -> Evaluation:
    """Both bounds on ``pixels``; ``k = 0`` skips the importance-weighted one."""
    neg_elbo = mean_loss(model, pixels, seed=seed, world=world)
    neg_iw = (
        mean_neg_iw_bound(model, pixels, k, progress_bar=progress_bar, seed=seed, world=world)
        if k > 0
        else None
    )
    return Evaluation(neg_elbo=neg_elbo, neg_iw_bound=neg_iw, k=k)
