"""Small constant tensors (quadrature rules, series coefficients) on a given device.

A tensor built from Python numbers on a GPU is a copy from the host, which waits
for the device: eagerly, each distinct constant is built once per device and kept;
under ``torch.compile`` it is built in the traced code, where it becomes a
constant of the graph.
"""

from __future__ import annotations

import functools

import torch
from torch import Tensor


def device_constants(values: tuple[float, ...], device: torch.device) -> Tensor:
    """``torch.tensor(values)``, float64, on ``device`` (see the module docstring).

    >>> device_constants((1.0, 2.0), torch.device("cpu"))
    tensor([1., 2.], dtype=torch.float64)
    """
    if torch.compiler.is_compiling():
        return torch.tensor(values, dtype=torch.float64, device=device)
    return _kept(values, device)


@functools.lru_cache(maxsize=64)
def _kept(values: tuple[float, ...], device: torch.device) -> Tensor:
    return torch.tensor(values, dtype=torch.float64, device=device)
