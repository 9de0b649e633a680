"""What the discrete-latent estimators share: a view of the distribution and safe noise.

The estimators for discrete latent variables (Gumbel-softmax, straight-through,
ARM, DisARM, RELAX) work on the natural parameters of two families:

* **Bernoulli**: ``logits`` ``phi`` with ``q(z = 1) = sigmoid(phi)``; samples are
  0/1 floats of shape ``[S, *logits.shape]``;
* **categorical**: normalised ``logits`` ``log p`` of shape ``[..., K]``; samples
  are one-hot vectors of shape ``[S, *logits.shape]``.

``Bernoulli``, ``OneHotCategorical`` and ``Categorical`` are accepted, alone or
wrapped in ``Independent``. For ``Categorical`` these estimators hand ``f``
*one-hot* vectors ``[S, *batch_shape, *event_shape, K]`` (hard or relaxed),
because an index has no relaxation; ``OneHotCategorical`` says the same thing
explicitly and is the recommended way to write such a model.

Uniform noise is drawn with ``torch.rand`` and clamped to ``[tiny, 1)`` so that
its logarithms are finite; ``torch.rand`` never returns 1, and ``log(1 - u)`` is
computed as ``log1p(-u)``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.distributions import (
    Bernoulli,
    Categorical,
    Distribution,
    Independent,
    OneHotCategorical,
)

from reparam.estimators._errors import UnsupportedDistributionError

Kind = Literal["bernoulli", "categorical"]


@dataclass(frozen=True)
class DiscreteView:
    """A supported discrete distribution seen through its natural parameters.

    ``logits`` has shape ``[*batch_shape, *event_shape]`` for Bernoulli and
    ``[*batch_shape, *event_shape, K]`` for categorical (normalised log-probabilities);
    ``batch_ndims`` is ``len(dist.batch_shape)``.
    """

    kind: Kind
    logits: Tensor
    batch_ndims: int

    def log_prob(self, z: Tensor) -> Tensor:
        """``log q(z)`` of hard samples ``[S, *logits.shape]``, summed to ``[S, *batch]``."""
        if self.kind == "bernoulli":
            logits = self.logits.expand_as(z)
            per_unit = -F.binary_cross_entropy_with_logits(logits, z, reduction="none")
        else:
            per_unit = z * torch.log_softmax(self.logits, -1)
        return self.sum_event(per_unit)

    def sum_event(self, x: Tensor) -> Tensor:
        """Sum ``[S, *logits.shape]`` over everything after ``[S, *batch]``."""
        dims = tuple(range(1 + self.batch_ndims, x.dim()))
        return x.sum(dims) if dims else x

    def sample_shape(self, num_samples: int) -> torch.Size:
        """Shape of the hard and relaxed samples: ``[S, *logits.shape]``."""
        return torch.Size([num_samples, *self.logits.shape])


def discrete_view(dist: Distribution, estimator: str, *, categorical: bool = True) -> DiscreteView:
    """The :class:`DiscreteView` of ``dist``, or a clear error naming what is supported."""
    base, batch_ndims = dist, len(dist.batch_shape)
    while isinstance(base, Independent):
        base = base.base_dist
    if isinstance(base, Bernoulli):
        return DiscreteView("bernoulli", base.logits, batch_ndims)
    if categorical and isinstance(base, (OneHotCategorical, Categorical)):
        return DiscreteView("categorical", base.logits, batch_ndims)
    supported = (
        "Bernoulli, OneHotCategorical or Categorical" if categorical else "Bernoulli"
    ) + " (optionally wrapped in Independent)"
    hint = (
        "; for categorical variables use 'score-loo', 'gumbel-softmax' or 'relax'"
        if not categorical and isinstance(base, (OneHotCategorical, Categorical))
        else "; for other distributions use 'pathwise' (with rsample) or 'score'"
    )
    raise UnsupportedDistributionError(
        f"the {estimator!r} estimator supports {supported}, got {type(dist).__name__}"
        + (f" of {type(base).__name__}" if base is not dist else "")
        + hint
    )


def uniform(shape: torch.Size, like: Tensor) -> Tensor:
    """Uniform noise on ``[tiny, 1)`` with ``like``'s dtype and device (no gradient)."""
    u = torch.rand(shape, dtype=like.dtype, device=like.device)
    return u.clamp_min(torch.finfo(like.dtype).tiny)


def logistic(u: Tensor) -> Tensor:
    """Standard logistic noise ``log u - log(1 - u)`` from uniforms on ``[tiny, 1)``."""
    return torch.log(u) - torch.log1p(-u)


def gumbel(u: Tensor) -> Tensor:
    """Standard Gumbel noise ``-log(-log u)`` from uniforms on ``[tiny, 1)``.

    ``-log u`` is at least ``-log1p(-eps / 2) > 0`` for ``u < 1``, so the outer
    logarithm is finite.
    """
    return -torch.log(-torch.log(u))
