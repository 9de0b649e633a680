"""A :class:`Problem` from a user's cost and distribution object.

The lab needs independent per-trial copies of the distribution's parameters.
For a ``torch.distributions`` object it rebuilds the distribution from its
constructor arguments: each parameter named in ``arg_constraints`` that the
object was given becomes a per-trial leaf, ``[trials, *value.shape]``; other
constructor arguments (``temperature``, ``total_count``, ...) are kept as they
are. The gradient measured is the one with respect to those parameters.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from typing import Any

import torch
from torch import Tensor
from torch.distributions import Distribution

from reparam.estimators import Cost
from reparam.lab._problem import Build, Params, Problem


def custom_problem(
    f: Cost, dist: Distribution, exact_gradient: Mapping[str, Tensor | float] | None = None
) -> Problem:
    """The problem of estimating ``grad E_{z ~ dist}[f(z)]`` w.r.t. ``dist``'s parameters.

    >>> from torch.distributions import Normal
    >>> problem = custom_problem(lambda z: z**2, Normal(torch.tensor(1.0), 2.0))
    >>> problem.labels()
    ['loc', 'scale']
    """
    if not isinstance(dist, Distribution):
        raise TypeError(
            f"dist must be a torch.distributions.Distribution, got {type(dist).__name__}"
        )
    values, constants = _arguments(dist)
    cls: Any = type(dist)

    def build(p: Params) -> tuple[Cost, Distribution]:
        return f, cls(**p, **constants)

    _check_rebuild(dist, values, build)
    gradient = None
    if exact_gradient is not None:
        unknown = set(exact_gradient) - set(values)
        if unknown:
            raise ValueError(
                f"exact_gradient names {sorted(unknown)}, but {cls.__name__}'s parameters "
                f"are {list(values)}"
            )
        gradient = {n: torch.as_tensor(exact_gradient[n], dtype=torch.float64) for n in values}
    return Problem(
        name="custom",
        summary=f"z ~ {cls.__name__}({', '.join(values)}), f = {getattr(f, '__name__', 'f')}",
        values=values,
        build=build,
        exact_gradient=gradient,
    )


def _arguments(dist: Distribution) -> tuple[dict[str, Tensor], dict[str, object]]:
    """Differentiable parameters (float64 copies) and constant constructor arguments."""
    cls = type(dist)
    values: dict[str, Tensor] = {}
    constants: dict[str, object] = {}
    for name, parameter in inspect.signature(cls.__init__).parameters.items():
        if name in ("self", "validate_args") or parameter.kind in (
            parameter.VAR_POSITIONAL,
            parameter.VAR_KEYWORD,
        ):
            continue
        given = name in vars(dist) or isinstance(getattr(cls, name, None), property)
        if name in dist.arg_constraints and not given:
            continue  # an alternative parameterization the object was not given
        value = getattr(dist, name, None) if given or hasattr(dist, name) else None
        if isinstance(value, Tensor) and value.is_floating_point():
            values[name] = value.detach().to(torch.float64)
        elif value is not None:
            constants[name] = value
        elif parameter.default is parameter.empty:
            raise ValueError(_cannot(cls, f"its argument {name!r} is not stored on the object"))
    if "probs" in values and "logits" in values:  # both cached: keep the one it was given
        drop = "probs" if getattr(dist, "_param", None) is vars(dist)["logits"] else "logits"
        del values[drop]
    if not values:
        raise ValueError(_cannot(cls, "no floating-point parameters were found"))
    return values, constants


def _check_rebuild(dist: Distribution, values: Params, build: Build) -> None:
    one = {n: v.unsqueeze(0) for n, v in values.items()}
    try:
        _, rebuilt = build(one)
    except (TypeError, ValueError) as error:
        raise ValueError(_cannot(type(dist), str(error))) from None
    expected = torch.Size([1, *dist.batch_shape])
    if rebuilt.batch_shape != expected or rebuilt.event_shape != dist.event_shape:
        raise ValueError(
            _cannot(type(dist), f"the copy has batch shape {list(rebuilt.batch_shape)}")
        )


def _cannot(cls: type, reason: str) -> str:
    return (
        f"the lab could not rebuild {cls.__name__} with per-trial copies of its parameters "
        f"({reason}); describe the problem as a reparam.lab.Problem instead"
    )
