"""Where the estimators check the costs for nan and inf, and how to choose.

A gradient estimate built on a non-finite cost is meaningless, so the estimators
raise :class:`CostError` on one, naming how many there are. The check has to read
the costs on the host. For costs on the CPU that read is free; for costs in a
GPU's memory it is a device-to-host copy that waits for every queued kernel,
stalling the stream at every call; inside a region that ``torch.compile``
traces, a decision in Python on a value of the data breaks the graph
(``fullgraph=True`` fails on it). So by default the check runs only where it is
free:

===============================================  =================================
where ``f`` is evaluated                         costs checked for nan and inf?
===============================================  =================================
eagerly, costs on the CPU                        yes (the default)
eagerly, costs on another device (CUDA, ...)     no, unless asked (see below)
inside a compiled region                         never: no host read is made there
===============================================  =================================

Asking for it: ``expectation(..., check_finite=True)``, ``with finite_check(True):``
or ``with reparam.strict():`` check on every device, at the price of one
synchronisation per evaluation of ``f``; ``check_finite=False`` or
``finite_check(False)`` skip the check on the CPU too. An explicit choice wins
over ``strict()``.

An unchecked non-finite cost is not lost. The value of every estimator's
surrogate at a sample is its cost (ARM and DisARM: the mean of a pair's), plus
terms that are zero in value but products with the costs (``0 * inf`` is nan),
so a nan or inf cost makes the value of ``expectation`` non-finite at that batch
element, and so any loss built from it (tested for every registered estimator).
A training loop that reads its loss anyway (for logging), or that skips
non-finite steps on the device (e.g. with the ``found_inf`` flag fused Adam
takes), catches it there, without a synchronisation of its own.

PyTorch's own argument validation (``validate_args``, on by default) also reads
parameters and samples on the host; construct distributions with
``validate_args=False`` where no step may synchronise. (``torch.compile`` turns
that validation off for the whole process at its first compilation.)
"""

from __future__ import annotations

import contextlib
import contextvars
import math
from collections.abc import Iterator

import torch
from torch import Tensor

from reparam.estimators._errors import CostError, EstimatorError
from reparam.safety import is_strict

_choice: contextvars.ContextVar[bool | None] = contextvars.ContextVar(
    "reparam_finite_check", default=None
)


@contextlib.contextmanager
def finite_check(enabled: bool | None) -> Iterator[None]:
    """Check the costs for nan and inf on every device (``True``), nowhere (``False``).

    ``None`` keeps the choice in force (the default: check where it is free).
    Inside a compiled region nothing is checked; asking for the check there is
    an :class:`EstimatorError` that says so.

    >>> import torch
    >>> from torch.distributions import Normal
    >>> from reparam import expectation
    >>> nan_cost = lambda z: z * float("nan")
    >>> with finite_check(False):
    ...     expectation(nan_cost, Normal(torch.zeros(2), 1.0))
    tensor([nan, nan])
    """
    if torch.compiler.is_compiling():
        if enabled:
            raise EstimatorError(
                "check_finite=True reads the costs on the host, which a region compiled "
                "by torch.compile cannot do; leave check_finite unset there and check the "
                "loss where the training loop reads it (a nan or inf cost makes it non-finite)"
            )
        yield
        return
    if enabled is None:
        yield
        return
    token = _choice.set(enabled)
    try:
        yield
    finally:
        _choice.reset(token)


def check_costs_finite(costs: Tensor) -> None:
    """Raise :class:`CostError` if ``costs`` has a nan or inf, where it is checked.

    One cheap reduction decides the common case exactly: a nan or inf among the
    costs makes their sum non-finite. Only a non-finite sum (which finite costs
    can also give, by overflow) pays for the element-wise check.
    """
    if not _checked_here(costs):
        return
    detached = costs.detach()
    if math.isfinite(detached.sum().item()) or bool(torch.isfinite(detached).all()):
        return
    bad = int((~torch.isfinite(detached)).sum())
    raise CostError(
        f"f returned {bad} non-finite cost(s) (nan or inf) out of {costs.numel()}; "
        "a gradient estimate built on them would be meaningless"
    )


def _checked_here(costs: Tensor) -> bool:
    """Whether ``costs`` are checked: the explicit choice, else strict(), else on the CPU."""
    if torch.compiler.is_compiling():
        return False
    choice = _choice.get()
    if choice is not None:
        return choice
    return costs.is_cpu or is_strict()
