"""Helpers for the ``torch.compile`` tests: host reads in a graph, compiled against eager.

A device-to-host copy is what a traced operation whose result depends on tensor
*data* needs: a value read into Python (``.item()``, ``bool(t)``) or a shape
that depends on values (a boolean mask, ``nonzero``). Dynamo gives such results
*unbacked* symbols; :func:`host_reads` lists the operations that have them.

Every compilation here runs inside :func:`unvalidated`: Dynamo turns argument
validation of distributions off for the whole process at its first compilation,
which would make later tests of validation depend on the order tests run in.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence

import torch
import torch._dynamo
import torch._inductor.config
from torch import Tensor
from torch.distributions import Distribution
from torch.fx.experimental.symbolic_shapes import free_unbacked_symbols

Objective = Callable[..., Tensor]


@contextlib.contextmanager
def unvalidated() -> Iterator[None]:
    """Argument validation of distributions off inside, restored after.

    Dynamo turns it off for the whole process at its first compilation (and only
    then); doing it here, and undoing it, keeps every test independent of the
    order in which tests run.
    """
    previous = Distribution._validate_args
    Distribution.set_default_validate_args(False)
    try:
        yield
    finally:
        Distribution.set_default_validate_args(previous)


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
    with unvalidated():
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
        with torch._inductor.config.patch(fallback_random=True), unvalidated():
            value = torch.compile(fn, fullgraph=True)(*args)
    else:
        value = fn(*args)
    rows = []
    for index, row in enumerate(value):
        grads = torch.autograd.grad(row.sum(), list(args), retain_graph=index + 1 < len(value))
        rows.append((row.detach(), *grads))
    return rows
