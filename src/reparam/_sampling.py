"""Exact samples without a gradient path, drawn without reading anything on the host.

The score-function and measure-valued estimators, and the importance-weighted
evaluation, want samples of ``q`` that carry no gradient. ``Distribution.sample``
gives them, but some of torch's families draw them with an operation that waits
for the device: ``Normal.sample`` (and so ``LogNormal``'s, ``Independent``'s of a
``Normal``, ...) calls ``torch.normal(loc, scale)`` with tensors, which on CUDA
checks ``scale >= 0`` by copying the result of a reduction to the host, a
synchronisation at every call. A family with a reparameterized sampler draws the
same law with it: ``rsample`` maps parameter-free noise through a differentiable
transformation (``loc + scale * eps`` for the normal), and under
``torch.no_grad()`` nothing of that path is recorded. So :func:`draw` uses
``rsample`` where the distribution has one and ``sample`` elsewhere.
"""

from __future__ import annotations

import torch
from torch import Tensor
from torch.distributions import Distribution

from reparam.safety import deliberately_cut


def draw(dist: Distribution, sample_shape: torch.Size) -> Tensor:
    """Samples of ``dist`` of shape ``[*sample_shape, *batch_shape, *event_shape]``, no path.

    Exactly distributed as ``dist.sample(sample_shape)``; drawn with ``rsample``
    under ``torch.no_grad()`` where ``dist.has_rsample`` (see the module
    docstring), so they never require grad. :func:`reparam.strict` lets it pass:
    the cut is deliberate.

    >>> from torch.distributions import Normal
    >>> scale = torch.ones(2, requires_grad=True)
    >>> z = draw(Normal(torch.zeros(2), scale), torch.Size([3]))
    >>> z.shape, z.requires_grad
    (torch.Size([3, 2]), False)
    """
    with torch.no_grad(), deliberately_cut():
        if dist.has_rsample:
            return dist.rsample(sample_shape)
        return dist.sample(sample_shape)
