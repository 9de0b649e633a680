"""What reparam's Pyro ELBOs read from Pyro traces: latent sites, their log-densities."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import torch
from pyro.distributions.torch_distribution import ExpandedDistribution, MaskedDistribution
from pyro.distributions.util import scale_and_mask
from torch import Tensor
from torch.distributions import Distribution, Independent

from reparam.distributions import detach_parameters

Site = dict[str, Any]
"""A sample site of a Pyro trace (Pyro's ``Message``)."""


def latent_sites(trace: Any) -> list[Site]:
    """The trace's sample sites that are not observed, in the order they ran."""
    return [
        site
        for site in trace.nodes.values()
        if site["type"] == "sample" and not site["is_observed"]
    ]


def sample_sites(trace: Any) -> list[Site]:
    """Every sample site of the trace, observed or not."""
    return [site for site in trace.nodes.values() if site["type"] == "sample"]


def detached_log_prob(site: Site) -> Tensor:
    """``log q(z)`` of the site's value with the distribution's parameters stopped.

    Scaled and masked as Pyro scales the site's own ``log_prob`` (``poutine.scale``,
    subsampling plates, ``mask``). Gradients reach only the value.
    """
    fn = detach_site_distribution(site["fn"])
    return scale_and_mask(fn.log_prob(site["value"]), site["scale"], site["mask"])


def detach_site_distribution(fn: Distribution) -> Distribution:
    """:func:`reparam.detach_parameters`, through Pyro's ``mask`` and ``expand`` wrappers."""
    if isinstance(fn, MaskedDistribution):
        return MaskedDistribution(detach_site_distribution(fn.base_dist), fn._mask)
    if isinstance(fn, ExpandedDistribution):
        return ExpandedDistribution(detach_site_distribution(fn.base_dist), fn.batch_shape)
    if isinstance(fn, Independent):
        base = detach_site_distribution(fn.base_dist)
        return type(fn)(base, fn.reinterpreted_batch_ndims, validate_args=False)
    return detach_parameters(fn)


def parameter_tensors(fn: Distribution) -> Iterator[Tensor]:
    """The tensors a distribution holds, through wrapped distributions."""
    for value in vars(fn).values():
        if isinstance(value, Tensor):
            yield value
        elif isinstance(value, Distribution):
            yield from parameter_tensors(value)


def depends_on(tensor: Tensor, sources: list[Tensor]) -> bool:
    """Whether autograd's graph of ``tensor`` passes through one of ``sources``."""
    targets = {s.grad_fn for s in sources if s.grad_fn is not None}
    if tensor.grad_fn is None or not targets:
        return False
    seen: set[Any] = set()
    stack = [tensor.grad_fn]
    while stack:
        node = stack.pop()
        if node in targets:
            return True
        if node in seen:
            continue
        seen.add(node)
        stack.extend(n for n, _ in node.next_functions if n is not None)
    return False


def rightmost_sum(value: Tensor, keep: int) -> Tensor:
    """``value`` summed over all but its ``keep`` leftmost dimensions."""
    dims = tuple(range(keep, value.dim()))
    return value.sum(dims) if dims else value


def zero(like: Tensor) -> Tensor:
    return torch.zeros((), dtype=like.dtype, device=like.device)
