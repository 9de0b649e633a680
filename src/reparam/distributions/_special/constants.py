"""Small constants (quadrature rules, series coefficients) kept once computed.

A tensor built from Python numbers on a GPU is a copy from the host, which waits
for the device: eagerly, each distinct constant is built once per device and kept;
under ``torch.compile`` it is built in the traced code, where it becomes a
constant of the graph. :func:`kept_eagerly` gives any such pure function that
behaviour (Dynamo traces through caches and warns about them, so under
``torch.compile`` the function is called afresh).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import ParamSpec, TypeVar

import torch
from torch import Tensor

_P = ParamSpec("_P")
_R = TypeVar("_R")


def kept_eagerly(function: Callable[_P, _R]) -> Callable[_P, _R]:
    """``function`` (pure, hashable arguments) with its results kept per argument when
    run eagerly (the 64 most recent), and called afresh under ``torch.compile``."""
    kept = functools.lru_cache(maxsize=64)(function)

    @functools.wraps(function)
    def call(*args: _P.args, **kwargs: _P.kwargs) -> _R:
        if torch.compiler.is_compiling():
            return function(*args, **kwargs)
        return kept(*args, **kwargs)  # type: ignore[arg-type]

    return call


@kept_eagerly
def device_constants(
    values: tuple[float, ...], device: torch.device, dtype: torch.dtype = torch.float64
) -> Tensor:
    """``torch.tensor(values)`` in ``dtype`` (float64 by default) on ``device`` (see the
    module docstring).

    >>> device_constants((1.0, 2.0), torch.device("cpu"))
    tensor([1., 2.], dtype=torch.float64)
    """
    return torch.tensor(values, dtype=dtype, device=device)
