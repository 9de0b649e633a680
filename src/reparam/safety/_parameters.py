"""Which parameter of a distribution requires grad, by the name the user gave it."""

from __future__ import annotations

import torch
from torch.distributions import Distribution
from torch.distributions.utils import lazy_property

# Distributions built from others keep them in these attributes; a parameter
# found there is named with the attribute as prefix (``mixture_distribution.logits``).
_PARTS = ("mixture_distribution", "component_distribution")


def parameter_requiring_grad(dist: Distribution) -> str | None:
    """The first parameter the user gave that requires grad (derived ones last), else ``None``.

    A distribution that wraps another (``Independent``, ``LogNormal`` and other
    transformed ones, ``OneHotCategorical``) is asked about the inner one first,
    where the parameters the user gave are stored, then about its transforms; a
    mixture about its mixing and its component distributions.

    >>> import torch
    >>> from torch.distributions import Categorical, MixtureSameFamily, Normal
    >>> loc = torch.zeros(2, requires_grad=True)
    >>> parameter_requiring_grad(Normal(loc, 1.0))
    'loc'
    >>> parameter_requiring_grad(MixtureSameFamily(Categorical(logits=torch.zeros(2)),
    ...                                            Normal(loc, 1.0)))
    'component_distribution.loc'
    """
    inner = getattr(dist, "base_dist", None) or getattr(dist, "_categorical", None)
    if isinstance(inner, Distribution):
        name = parameter_requiring_grad(inner)
        if name is not None:
            return name
    for part in _PARTS:
        component = getattr(dist, part, None)
        if isinstance(component, Distribution):
            name = parameter_requiring_grad(component)
            if name is not None:
                return f"{part}.{name}"
    for index, transform in enumerate(getattr(dist, "transforms", ())):
        for attribute, value in vars(transform).items():
            if isinstance(value, torch.Tensor) and value.requires_grad:
                return f"transforms[{index}].{attribute.lstrip('_')}"
    return _own_parameter_requiring_grad(dist)


def _own_parameter_requiring_grad(dist: Distribution) -> str | None:
    """Among ``arg_constraints``: the one passed in first, then the others, derived ones last."""
    names = list(dist.arg_constraints)
    given_param = getattr(dist, "_param", None)  # Bernoulli, Categorical, ...: the one passed in
    names.sort(key=lambda n: dist.__dict__.get(n) is not given_param)
    derived = [n for n in names if isinstance(getattr(type(dist), n, None), lazy_property)]
    given = [n for n in names if n not in derived]
    for name in [*given, *(n for n in derived if n in dist.__dict__)]:
        value = getattr(dist, name, None)
        if isinstance(value, torch.Tensor) and value.requires_grad:
            return name
    return None
