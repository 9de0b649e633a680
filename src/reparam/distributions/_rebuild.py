"""Rebuilding a distribution of a class without a rule (see ``_detach``'s steps 3 and 4)."""

from __future__ import annotations

import inspect
from typing import Any

import torch
from torch.distributions import Distribution
from torch.distributions.utils import lazy_property


def without_parameters(dist: Distribution) -> bool:
    """No ``arg_constraints`` and nothing held that carries a gradient: nothing to stop."""
    try:
        if dist.arg_constraints:
            return False
    except NotImplementedError:
        return False
    return not any(
        isinstance(v, Distribution) or (isinstance(v, torch.Tensor) and v.requires_grad)
        for v in vars(dist).values()
    )


def same_arguments(cls: type, known: type) -> bool:
    """Whether ``cls``'s constructor takes exactly the arguments of ``known``'s."""
    if cls.__init__ is known.__init__:  # type: ignore[misc]
        return True
    try:
        ours = inspect.signature(cls.__init__)  # type: ignore[misc]
        theirs = inspect.signature(known.__init__)  # type: ignore[misc]
    except (TypeError, ValueError):
        return False
    return [(p.name, p.kind) for p in ours.parameters.values()] == [
        (p.name, p.kind) for p in theirs.parameters.values()
    ]


def by_argument_names(dist: Distribution) -> Distribution | None:
    """``type(dist)(**detached parameters)``, or ``None`` where the constructor does not fit.

    The parameters are the ``arg_constraints`` the constructor names, read as
    attributes or properties; a ``lazy_property`` (one of ``probs``/``logits``,
    derived from the other) only where ``dist`` holds it. Where the constructor
    refuses alternatives together, each optional one is tried alone, ``logits``
    first. Required constructor arguments that are not parameters are passed as
    ``dist`` holds them.
    """
    cls = type(dist)
    try:
        signature = inspect.signature(cls.__init__)
        names = list(dist.arg_constraints)
    except (TypeError, ValueError, NotImplementedError):
        return None
    accepted = {
        name: p
        for name, p in list(signature.parameters.items())[1:]
        if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
    }
    state = vars(dist)
    parameters: dict[str, Any] = {}
    for name in names:
        lazy = isinstance(getattr(cls, name, None), lazy_property)
        if name in accepted and (name in state if lazy else hasattr(dist, name)):
            parameters[name] = getattr(dist, name)
    if not parameters:
        return None
    others: dict[str, Any] = {}
    for name, p in accepted.items():
        if name not in parameters and p.default is p.empty:
            held = getattr(dist, name, None)
            if held is None or isinstance(held, Distribution):  # a Distribution keeps its grads
                return None
            others[name] = held
    optional = sorted(
        (n for n in parameters if accepted[n].default is None), key=lambda n: n != "logits"
    )
    required = {n: v for n, v in parameters.items() if n not in optional}
    attempts = [parameters] + [{**required, n: parameters[n]} for n in optional]
    for attempt in attempts if len(optional) > 1 else attempts[:1]:
        rebuilt = _construct(cls, {**others, **attempt}, "validate_args" in accepted)
        if rebuilt is not None and (rebuilt.batch_shape, rebuilt.event_shape) == (
            dist.batch_shape,
            dist.event_shape,
        ):
            return rebuilt
    return None


def _construct(cls: Any, arguments: dict[str, Any], validate: bool) -> Distribution | None:
    detached = {k: v.detach() if isinstance(v, torch.Tensor) else v for k, v in arguments.items()}
    if validate:
        detached["validate_args"] = False
    try:
        rebuilt = cls(**detached)
    except (TypeError, ValueError):
        return None
    return rebuilt if isinstance(rebuilt, Distribution) else None
