"""Helpers for the ``torch.compile`` tests: host reads in a graph, compiled against eager.

A device-to-host copy is what a traced operation whose result depends on tensor
*data* needs: a value read into Python (``.item()``, ``bool(t)``) or a shape
that depends on values (a boolean mask, ``nonzero``). Dynamo gives such results
*unbacked* symbols; :func:`host_reads` lists the operations that have them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
import torch._dynamo
import torch._inductor.config
from torch import Tensor
from torch.fx.experimental.symbolic_shapes import free_unbacked_symbols

Objective = Callable[..., Tensor]


def host_reads(fn: Objective, *args: Tensor) -> list[str]:
    """The operations of ``fn``'s full graph (``fullgraph=True``) that read data on the host.

    The graph is run as traced, without Inductor, so this is quick.
    """
    found: list[str] = []

    def backend(gm: torch.fx.GraphModule, example_inputs: list[Tensor]) -> Callable[..., object]:
        for node in gm.graph.nodes:
            value = node.meta.get("example_value")
            if value is not None and free_unbacked_symbols(value):
                found.append(f"{node.op} {node.target}")
        return gm.forward

    torch._dynamo.reset()
    torch.compile(fn, fullgraph=True, backend=backend)(*args)
    return found


def values_and_gradients(
    fn: Objective, args: Sequence[Tensor], seed: int, compiled: bool
) -> list[tuple[Tensor, ...]]:
    """For each row ``i`` of ``fn(*args)`` from ``seed``: the row and its sum's gradients.

    The gradients are with respect to ``args``. Compiled, ``fn`` runs under
    ``torch.compile(fullgraph=True)`` with Inductor (C++ on the CPU) and
    ``fallback_random``: Inductor then draws with the eager generator, so a
    compiled and an eager run from one seed see the same noise.
    """
    torch.manual_seed(seed)
    if compiled:
        torch._dynamo.reset()
        with torch._inductor.config.patch(fallback_random=True):
            value = torch.compile(fn, fullgraph=True)(*args)
    else:
        value = fn(*args)
    rows = []
    for index, row in enumerate(value):
        grads = torch.autograd.grad(row.sum(), list(args), retain_graph=index + 1 < len(value))
        rows.append((row.detach(), *grads))
    return rows
