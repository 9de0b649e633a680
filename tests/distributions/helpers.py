"""Shared pieces of the distribution tests: per-sample gradient terms in one pass."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import Tensor
from torch.distributions import Distribution

import reparam


def gradient_terms(
    f: Callable[[Tensor], Tensor],
    make: Callable[..., Distribution],
    params: Sequence[Tensor],
    num: int,
    estimator: str = "pathwise",
) -> list[Tensor]:
    """``num`` independent one-sample gradient terms of ``E[f]`` for each parameter.

    Each parameter is copied ``num`` times along a new leading batch dimension, so
    one backward pass through ``reparam.expectation`` gives every sample's own
    gradient term (batch elements are independent). Returns ``[num, *param.shape]``
    tensors.
    """
    copies = [p.detach().expand(num, *p.shape).clone().requires_grad_(True) for p in params]
    value = reparam.expectation(f, make(*copies), estimator=estimator, num_samples=1)
    grads = torch.autograd.grad(value.sum(), copies)
    return list(grads)


def exact_gradients(expectation: Callable[..., Tensor], params: Sequence[Tensor]) -> list[Tensor]:
    """Gradients of a closed-form expectation at ``params``."""
    leaves = [p.detach().clone().requires_grad_(True) for p in params]
    return list(torch.autograd.grad(expectation(*leaves), leaves))
