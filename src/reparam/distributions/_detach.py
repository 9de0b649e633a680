"""A distribution rebuilt from its own parameters with their gradients stopped.

``torch.distributions`` offers no way to evaluate ``q.log_prob(z)`` as a function
of ``z`` alone, with ``q``'s parameters treated as constants. Sticking the landing
(Roeder, Wu and Duvenaud, 2017) and doubly reparameterized gradients (Tucker,
Lawson, Gu and Maddison, 2019) need exactly that: the pathwise gradient through
``z`` without the score term ``grad_phi log q_phi(z)``. :func:`detach_parameters`
rebuilds ``q`` from its parameters, each passed through ``Tensor.detach``; the
copy has the same batch and event shapes and the same ``log_prob`` values.

Rebuilding needs one rule per class (the constructor's arguments differ); a
class of your own can take part by defining a method ``detach_parameters(self)``
that returns the rebuilt distribution.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from types import MappingProxyType

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

from reparam.distributions._mixture import MixtureSameFamily
from reparam.distributions._truncated_normal import TruncatedNormal
from reparam.distributions._von_mises import VonMises
from reparam.distributions._von_mises_fisher import VonMisesFisher

Rule = Callable[[Distribution], Distribution]


class NotDetachableError(TypeError):
    """A distribution whose parameters :func:`detach_parameters` cannot stop."""


def detach_parameters(dist: Distribution) -> Distribution:
    """``dist`` rebuilt from its parameters with gradients stopped (``Tensor.detach``).

    ``detach_parameters(q).log_prob(z)`` has the value of ``q.log_prob(z)`` and a
    gradient only through ``z``: ``grad_z log q(z)``, never ``grad_phi log q_phi(z)``.

    Supported: torch's ``Normal``, ``Independent`` (of a supported base),
    ``MultivariateNormal``, ``LowRankMultivariateNormal``, ``Laplace``,
    ``StudentT``, ``Gamma``, ``Beta``, ``LogNormal``, ``Categorical``, and
    reparam's ``VonMisesFisher``, ``VonMises``, ``TruncatedNormal`` and
    ``MixtureSameFamily`` (of supported parts); any class with a method
    ``detach_parameters()``. Classes are matched exactly: a subclass may take
    other constructor arguments, so it needs its own method.

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
    rule = RULES.get(type(dist))
    if rule is None:
        raise NotDetachableError(
            f"cannot rebuild {type(dist).__name__} with detached parameters: no rule for "
            f"that class (supported: {', '.join(c.__name__ for c in RULES)}). Define a "
            f"method {type(dist).__name__}.detach_parameters(self) returning the "
            "distribution rebuilt from its parameters' .detach(), or use "
            "gradient='standard', which needs no detached copy"
        )
    return rule(dist)


def _normal(d: Distribution) -> Distribution:
    assert isinstance(d, Normal)
    return Normal(d.loc.detach(), d.scale.detach(), validate_args=False)


def _laplace(d: Distribution) -> Distribution:
    assert isinstance(d, Laplace)
    return Laplace(d.loc.detach(), d.scale.detach(), validate_args=False)


def _log_normal(d: Distribution) -> Distribution:
    assert isinstance(d, LogNormal)
    return LogNormal(d.loc.detach(), d.scale.detach(), validate_args=False)


def _student_t(d: Distribution) -> Distribution:
    assert isinstance(d, StudentT)
    return StudentT(d.df.detach(), d.loc.detach(), d.scale.detach(), validate_args=False)


def _gamma(d: Distribution) -> Distribution:
    assert isinstance(d, Gamma)
    return Gamma(d.concentration.detach(), d.rate.detach(), validate_args=False)


def _beta(d: Distribution) -> Distribution:
    assert isinstance(d, Beta)
    return Beta(d.concentration1.detach(), d.concentration0.detach(), validate_args=False)


def _categorical(d: Distribution) -> Distribution:
    assert isinstance(d, Categorical)
    return Categorical(logits=d.logits.detach(), validate_args=False)


def _independent(d: Distribution) -> Distribution:
    assert isinstance(d, Independent)
    base = detach_parameters(d.base_dist)
    return Independent(base, d.reinterpreted_batch_ndims, validate_args=False)


def _multivariate_normal(d: Distribution) -> Distribution:
    assert isinstance(d, MultivariateNormal)
    return MultivariateNormal(d.loc.detach(), scale_tril=d.scale_tril.detach(), validate_args=False)


def _low_rank(d: Distribution) -> Distribution:
    assert isinstance(d, LowRankMultivariateNormal)
    return LowRankMultivariateNormal(
        d.loc.detach(), d.cov_factor.detach(), d.cov_diag.detach(), validate_args=False
    )


def _von_mises_fisher(d: Distribution) -> Distribution:
    assert isinstance(d, VonMisesFisher)
    return VonMisesFisher(d.loc.detach(), d.concentration.detach(), validate_args=False)


def _von_mises(d: Distribution) -> Distribution:
    assert isinstance(d, VonMises)
    return VonMises(d.loc.detach(), d.concentration.detach(), validate_args=False)


def _truncated_normal(d: Distribution) -> Distribution:
    assert isinstance(d, TruncatedNormal)
    return TruncatedNormal(
        d.loc.detach(), d.scale.detach(), d.low.detach(), d.high.detach(), validate_args=False
    )


def _mixture(d: Distribution) -> Distribution:
    assert isinstance(d, MixtureSameFamily)
    mixture = detach_parameters(d.mixture_distribution)
    assert isinstance(mixture, Categorical)
    component = detach_parameters(d.component_distribution)
    return MixtureSameFamily(mixture, component, validate_args=False)


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
        VonMises: _von_mises,
        TruncatedNormal: _truncated_normal,
        MixtureSameFamily: _mixture,
    }
)
"""Class -> rebuilding rule, for the classes :func:`detach_parameters` knows."""
