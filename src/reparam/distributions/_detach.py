"""A distribution rebuilt from its own parameters with their gradients stopped.

``torch.distributions`` offers no way to evaluate ``q.log_prob(z)`` as a function
of ``z`` alone, with ``q``'s parameters treated as constants. Sticking the landing
(Roeder, Wu and Duvenaud, 2017) and doubly reparameterized gradients (Tucker,
Lawson, Gu and Maddison, 2019) need exactly that: the pathwise gradient through
``z`` without the score term ``grad_phi log q_phi(z)``. :func:`detach_parameters`
rebuilds ``q`` from its parameters, each passed through ``Tensor.detach``; the
copy has the same batch and event shapes and the same ``log_prob`` values.

Rebuilding follows, in order:

1. a method ``detach_parameters(self)`` of the distribution's class, which a
   class of your own may define;
2. the rule of the nearest supported class in the class's method resolution
   order, building the distribution's *own* class (so a subclass, e.g. Pyro's
   ``Normal`` or ``Independent``, stays itself), when its constructor takes the
   same arguments as that supported class's;
3. a distribution without parameters (no ``arg_constraints``, nothing held
   that requires grad, e.g. ``HypersphericalUniform``) is returned as it is;
4. the constructor called with the distribution's ``arg_constraints`` by name
   (``Exponential(rate=...)``, ``Bernoulli(logits=...)``): of two alternative
   parameterizations (``probs``/``logits``) the one it was built from is passed.
   Required constructor arguments that are not parameters are passed as the
   distribution holds them.

Where none applies, :class:`NotDetachableError` names the class and the fix.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any

from torch.distributions import (
    Beta,
    Categorical,
    Distribution,
    Gamma,
    Independent,
    Laplace,
    LogNormal,
    LowRankMultivariateNormal,
    MultivariateNormal,
    Normal,
    StudentT,
)
from torch.distributions import MixtureSameFamily as TorchMixtureSameFamily
from torch.distributions import VonMises as TorchVonMises

from reparam.distributions._rebuild import by_argument_names, same_arguments, without_parameters
from reparam.distributions._truncated_normal import TruncatedNormal
from reparam.distributions._von_mises_fisher import VonMisesFisher

Rule = Callable[[Distribution, Any], Distribution]
"""``rule(dist, cls)``: ``dist``'s parameters detached, passed to the constructor ``cls``."""


class NotDetachableError(TypeError):
    """A distribution whose parameters :func:`detach_parameters` cannot stop."""


def detach_parameters(dist: Distribution) -> Distribution:
    """``dist`` rebuilt from its parameters with gradients stopped (``Tensor.detach``).

    ``detach_parameters(q).log_prob(z)`` has the value of ``q.log_prob(z)`` and a
    gradient only through ``z``: ``grad_z log q(z)``, never ``grad_phi log q_phi(z)``.

    Supported (see the module docstring for the order): any class with a method
    ``detach_parameters()``; torch's ``Normal``, ``Independent`` (of a supported
    base), ``MultivariateNormal``, ``LowRankMultivariateNormal``, ``Laplace``,
    ``StudentT``, ``Gamma``, ``Beta``, ``LogNormal``, ``Categorical``,
    ``VonMises``, ``MixtureSameFamily`` (of supported parts), reparam's
    ``VonMisesFisher`` and ``TruncatedNormal``, and their subclasses whose
    constructor takes the same arguments; any other distribution whose
    constructor takes its ``arg_constraints`` by name (``Exponential``,
    ``Bernoulli``, ``Poisson``, ...); a distribution without parameters
    (``HypersphericalUniform``), returned as it is. The copy is of ``dist``'s
    own class.

    >>> import torch
    >>> from torch.distributions import Normal
    >>> loc = torch.tensor(0.5, requires_grad=True)
    >>> z = torch.tensor(1.0, requires_grad=True)
    >>> log_q = detach_parameters(Normal(loc, 1.0)).log_prob(z)
    >>> torch.autograd.grad(log_q, [loc, z], allow_unused=True)  # no path to loc
    (None, tensor(-0.5000))
    """
    own = getattr(dist, "detach_parameters", None)
    if callable(own):
        rebuilt = own()
        if not isinstance(rebuilt, Distribution):
            raise TypeError(
                f"{type(dist).__name__}.detach_parameters() returned "
                f"{type(rebuilt).__name__}, not a Distribution; return the distribution "
                "rebuilt from its detached parameters"
            )
        return rebuilt
    cls = type(dist)
    for known in cls.__mro__:
        rule = RULES.get(known)
        if rule is not None and same_arguments(cls, known):
            return rule(dist, cls)
    if without_parameters(dist):
        return dist
    rebuilt = by_argument_names(dist)
    if rebuilt is not None:
        return rebuilt
    raise NotDetachableError(
        f"cannot rebuild {cls.__name__} with detached parameters: no rule for that class "
        "(nor for a base class with the same constructor), and its constructor does not "
        f"take its parameters (arg_constraints) by name (rules: "
        f"{', '.join(c.__name__ for c in RULES)}). Define a method "
        f"{cls.__name__}.detach_parameters(self) returning the distribution rebuilt from "
        "its parameters' .detach(), or use gradient='standard', which needs no detached copy"
    )


def _normal(d: Distribution, cls: Any) -> Distribution:
    assert isinstance(d, Normal)
    return cls(d.loc.detach(), d.scale.detach(), validate_args=False)


def _laplace(d: Distribution, cls: Any) -> Distribution:
    assert isinstance(d, Laplace)
    return cls(d.loc.detach(), d.scale.detach(), validate_args=False)


def _log_normal(d: Distribution, cls: Any) -> Distribution:
    assert isinstance(d, LogNormal)
    return cls(d.loc.detach(), d.scale.detach(), validate_args=False)


def _student_t(d: Distribution, cls: Any) -> Distribution:
    assert isinstance(d, StudentT)
    return cls(d.df.detach(), d.loc.detach(), d.scale.detach(), validate_args=False)


def _gamma(d: Distribution, cls: Any) -> Distribution:
    assert isinstance(d, Gamma)
    return cls(d.concentration.detach(), d.rate.detach(), validate_args=False)


def _beta(d: Distribution, cls: Any) -> Distribution:
    assert isinstance(d, Beta)
    return cls(d.concentration1.detach(), d.concentration0.detach(), validate_args=False)


def _categorical(d: Distribution, cls: Any) -> Distribution:
    assert isinstance(d, Categorical)
    return cls(logits=d.logits.detach(), validate_args=False)


def _independent(d: Distribution, cls: Any) -> Distribution:
    assert isinstance(d, Independent)
    base = detach_parameters(d.base_dist)
    return cls(base, d.reinterpreted_batch_ndims, validate_args=False)


def _multivariate_normal(d: Distribution, cls: Any) -> Distribution:
    assert isinstance(d, MultivariateNormal)
    return cls(d.loc.detach(), scale_tril=d.scale_tril.detach(), validate_args=False)


def _low_rank(d: Distribution, cls: Any) -> Distribution:
    assert isinstance(d, LowRankMultivariateNormal)
    return cls(d.loc.detach(), d.cov_factor.detach(), d.cov_diag.detach(), validate_args=False)


def _von_mises_fisher(d: Distribution, cls: Any) -> Distribution:
    assert isinstance(d, VonMisesFisher)
    return cls(d.loc.detach(), d.concentration.detach(), validate_args=False)


def _von_mises(d: Distribution, cls: Any) -> Distribution:
    assert isinstance(d, TorchVonMises)
    return cls(d.loc.detach(), d.concentration.detach(), validate_args=False)


def _truncated_normal(d: Distribution, cls: Any) -> Distribution:
    assert isinstance(d, TruncatedNormal)
    return cls(
        d.loc.detach(), d.scale.detach(), d.low.detach(), d.high.detach(), validate_args=False
    )


def _mixture(d: Distribution, cls: Any) -> Distribution:
    assert isinstance(d, TorchMixtureSameFamily)
    mixture = detach_parameters(d.mixture_distribution)
    component = detach_parameters(d.component_distribution)
    return cls(mixture, component, validate_args=False)


RULES: Mapping[type[Distribution], Rule] = MappingProxyType(
    {
        Normal: _normal,
        Independent: _independent,
        MultivariateNormal: _multivariate_normal,
        LowRankMultivariateNormal: _low_rank,
        Laplace: _laplace,
        StudentT: _student_t,
        Gamma: _gamma,
        Beta: _beta,
        LogNormal: _log_normal,
        Categorical: _categorical,
        VonMisesFisher: _von_mises_fisher,
        TorchVonMises: _von_mises,
        TruncatedNormal: _truncated_normal,
        TorchMixtureSameFamily: _mixture,
    }
)
"""Class -> rebuilding rule: the classes :func:`detach_parameters` knows, and subclasses."""
