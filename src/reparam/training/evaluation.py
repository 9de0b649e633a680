"""Test-set bounds: the ELBO and the importance-weighted bound with ``k`` samples.

For a model with ``log_weights(x, k)`` returning ``log w_j = log p(x, z_j) - log q(z_j | x)``,

    L_k(x) = log (1/k) sum_j w_j = logsumexp_j(log w_j) - log k,

a lower bound on ``log p(x)`` that grows with ``k`` and tends to it (Burda,
Grosse and Salakhutdinov, 2016, "Importance Weighted Autoencoders"); ``E[L_1]``
is the ELBO. Both are reported negated, in nats per example (lower is better).
Work is batched so that about ``rows`` decoder rows are in memory at once.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor
from tqdm import tqdm

from reparam.training._model import LatentVariableModel


@dataclass(frozen=True)
class Evaluation:
    """Negated bounds in nats per example; ``neg_iw_bound`` is ``None`` when ``k = 0``."""

    neg_elbo: float
    neg_iw_bound: float | None
    k: int


def mean_loss(model: LatentVariableModel, pixels: Tensor, batch_size: int = 1000) -> float:
    """The average of ``model.loss`` (a one-sample ``-ELBO`` estimate) over ``pixels``."""
    model.eval()
    total = 0.0
    with torch.inference_mode():
        for x in pixels.split(batch_size):
            total += model.loss(x).sum(dtype=torch.float64).item()
    return total / pixels.shape[0]


def iw_bounds(model: LatentVariableModel, x: Tensor, k: int) -> Tensor:
    """``L_k`` per example, ``[B]``, from ``k`` importance samples each."""
    log_w = model.log_weights(x, k).to(torch.float64)
    return torch.logsumexp(log_w, dim=0) - math.log(k)


def mean_neg_iw_bound(
    model: LatentVariableModel,
    pixels: Tensor,
    k: int,
    rows: int = 16384,
    progress_bar: bool = False,
) -> float:
    """``-mean_x L_k(x)`` over ``pixels``, in nats per example."""
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    model.eval()
    batch = max(1, rows // k)
    total = 0.0
    chunks = pixels.split(batch)
    with torch.inference_mode():
        for x in tqdm(
            chunks, desc=f"IW bound, k={k}", leave=False, disable=None if progress_bar else True
        ):
            total -= iw_bounds(model, x, k).sum().item()
    return total / pixels.shape[0]


def evaluate(
    model: LatentVariableModel, pixels: Tensor, k: int, progress_bar: bool = False
) -> Evaluation:
    """Both bounds on ``pixels``; ``k = 0`` skips the importance-weighted one."""
    neg_elbo = mean_loss(model, pixels)
    neg_iw = mean_neg_iw_bound(model, pixels, k, progress_bar=progress_bar) if k > 0 else None
    return Evaluation(neg_elbo=neg_elbo, neg_iw_bound=neg_iw, k=k)
