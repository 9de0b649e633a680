"""The built-in problems by short name (the ones ``reparam lab`` lists).

Adding a problem means writing its factory (returning a :class:`Problem`) and
one entry here. Factories that take ``k`` accept ``reparam lab --k``.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from types import MappingProxyType

from reparam.lab._bernoulli import bernoulli_toy
from reparam.lab._gaussian import bump, channel, cosine, quadratic
from reparam.lab._implicit import dirichlet_poly, gamma_poly
from reparam.lab._problem import Problem

PROBLEMS: Mapping[str, Callable[..., Problem]] = MappingProxyType(
    {
        "channel": channel,
        "quadratic": quadratic,
        "cos": cosine,
        "bump": bump,
        "bernoulli-toy": bernoulli_toy,
        "gamma-poly": gamma_poly,
        "dirichlet-poly": dirichlet_poly,
    }
)
"""Factories of the built-in problems, with their default settings."""


def get_problem(name: str, k: float | None = None) -> Problem:
    """The built-in problem ``name``, with cost parameter ``k`` where it has one.

    >>> get_problem("quadratic", k=2.0).summary
    'x ~ N(mu=1, sigma=1), f(x) = (x - 2)^2'
    """
    try:
        factory = PROBLEMS[name]
    except KeyError:
        raise ValueError(
            f"unknown problem {name!r}; choose one of: {', '.join(PROBLEMS)}"
        ) from None
    if k is None:
        return factory()
    if not takes_k(name):
        with_k = ", ".join(n for n in PROBLEMS if takes_k(n))
        raise ValueError(f"problem {name!r} has no parameter k (problems with k: {with_k})")
    return factory(k=k)


def takes_k(name: str) -> bool:
    """Whether problem ``name`` has a cost parameter ``k``."""
    return "k" in inspect.signature(PROBLEMS[name]).parameters
