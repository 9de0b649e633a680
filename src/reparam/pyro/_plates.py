"""Per-element costs of an estimated site whose batch dimensions are plates.

See ``EstimatorELBO``'s module docstring: element ``n`` of a local site gets the
terms in its slice of the site's plates plus the shared terms, whose pathwise
gradient is divided among the elements so that it counts once.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor
from torch.distributions import Distribution

from reparam.estimators import ARM, DisARM, ScoreFunction


@dataclass
class Split:
    """The plates of an estimated site, and its per-element costs.

    ``dims``: the plate dimensions of the site's batch shape ``shape`` (negative,
    counted from the right); ``frames``: those plates' names; ``shared``: the
    shared (global) term of every run so far, for the value's correction.
    """

    frames: frozenset[str]
    dims: tuple[int, ...]
    shape: torch.Size
    shared: list[Tensor] = field(default_factory=list)

    @property
    def count(self) -> int:
        return self.shape.numel()

    def local(self, site: Any) -> Tensor | None:
        """The site's log-density summed to the plates' layout, or ``None`` (a shared term)."""
        names = {f.name for f in site["cond_indep_stack"]}
        if not self.frames <= names:
            return None
        log_prob = site["log_prob"]
        keep = set(self.dims)
        summed = [d for d in range(-log_prob.dim(), 0) if d not in keep]
        reduced = log_prob.sum(summed, keepdim=True) if summed else log_prob
        extra = reduced.dim() - len(self.shape)
        return reduced.reshape(reduced.shape[extra:]) if extra > 0 else reduced

    def cost(self, local: Tensor, shared: Tensor) -> Tensor:
        """``local + shared`` per element; the shared term's path divided among them.

        Summed over the elements, the pathwise gradient of the shared term counts
        once; each element's score still sees the whole cost.
        """
        self.shared.append(shared.detach())
        spread = shared.detach() + (shared - shared.detach()) / self.count
        return (local + spread).expand(self.shape)


PER_ELEMENT = (ScoreFunction, ARM, DisARM)
"""Estimators whose per-element gradient stays unbiased with a cost that depends on
the other elements too (a score times any cost of independent draws; DisARM's
antithetic pairs drawn for all elements at once, as in its multivariate form)."""


def plates_of(site: Any, fn: Distribution) -> Split | None:
    """The split of a site whose batch dimensions are all plates, else ``None``."""
    shape = fn.batch_shape
    frames = [f for f in site["cond_indep_stack"] if f.vectorized and f.dim is not None]
    dims = {f.dim: f for f in frames}
    if not frames or any(
        size != 1 and (d not in dims or dims[d].size != size)
        for d, size in zip(range(-len(shape), 0), shape, strict=True)
    ):
        return None
    if any(-f.dim > len(shape) for f in frames):
        return None
    return Split(frozenset(f.name for f in frames), tuple(dims), shape)
