"""A dispatch mode that records every operation which reads a tensor on the host.

On CUDA each of these blocks the host until the device has caught up (a
synchronisation); on a CPU they are invisible. Recording them on a CPU catches a
regression without a GPU. What counts as a host read:

- ``_local_scalar_dense``: ``.item()``, ``bool(t)``, ``float(t)``, ``if t:``;
- ``nonzero``, ``masked_select``, ``unique``, ``repeat_interleave`` with tensor
  repeats, ``equal``: outputs whose size or value depends on the data;
- indexing or index-assignment with a boolean mask (a hidden ``nonzero``);
- ``normal`` with a tensor standard deviation: on CUDA it checks ``std >= 0``
  on the host (``torch.normal(loc, scale)`` with tensors, used by
  ``torch.distributions.Normal.sample``).

Reads that bypass the dispatcher (``.tolist()``, ``.numpy()``) are not seen
here; the ``meta``-device tests catch those.
"""

from __future__ import annotations

from typing import Any

import torch
from torch.utils._python_dispatch import TorchDispatchMode

HOST_READ_OPS = frozenset(
    {
        "aten._local_scalar_dense.default",
        "aten.nonzero.default",
        "aten.masked_select.default",
        "aten._unique2.default",
        "aten.unique_dim.default",
        "aten.unique_consecutive.default",
        "aten.repeat_interleave.Tensor",
        "aten.equal.default",
        "aten.normal.Tensor_Tensor",
        "aten.normal.float_Tensor",
    }
)
"""Operator overloads that read data on the host (see the module docstring)."""

_MASK_INDEXING = frozenset(
    {"aten.index.Tensor", "aten.index_put.default", "aten.index_put_.default"}
)


def _has_boolean_index(args: tuple[Any, ...]) -> bool:
    indices = args[1] if len(args) > 1 else ()
    return any(
        isinstance(index, torch.Tensor) and index.dtype in (torch.bool, torch.uint8)
        for index in indices or ()
    )


class HostReads(TorchDispatchMode):
    """Record host reads: ``with HostReads() as reads: ...``, then ``reads.ops``.

    >>> with HostReads() as reads:
    ...     x = torch.randn(3)
    ...     _ = x[x > 0]
    >>> reads.ops
    ['aten.index.Tensor (boolean mask)']
    """

    def __init__(self) -> None:
        super().__init__()
        self.ops: list[str] = []

    def __torch_dispatch__(
        self, func: Any, types: Any, args: tuple[Any, ...] = (), kwargs: Any = None
    ) -> Any:
        name = str(func)
        if name in HOST_READ_OPS:
            self.ops.append(name)
        elif name in _MASK_INDEXING and _has_boolean_index(args):
            self.ops.append(f"{name} (boolean mask)")
        return func(*args, **(kwargs or {}))
