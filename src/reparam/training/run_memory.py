"""A run's memory, estimated before anything is allocated, so sizes that cannot fit
are refused in one line instead of an allocation traceback or the OOM killer.

The model is built on PyTorch's ``meta`` device (shapes without storage), so
the estimate needs no family-specific code:

* parameters: weights, gradients and Adam's two moments, four float32 copies;
* activations: every ``nn.Linear`` output for each row the model computes,
  ``samples x examples`` rows, kept for the backward pass with their gradients
  (four float32 numbers per output); a training step has the rank's share of
  the global batch, the evaluation chunks of :data:`EVAL_EXAMPLES` examples.

It is a lower bound of the real use (temporaries, the data set itself), so a
refusal is certain and a pass is not a promise.

The test set's importance-weighted bound needs no more memory for a larger
``k`` (it goes in pieces), only more time: ``k`` model evaluations per test
image, about ``2 x (weights of the nn.Linear layers)`` floating-point operations
each. :func:`check_evaluation` refuses more than :data:`MAX_EVAL_FLOPS` of them.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn
from torch.distributions import Distribution

from reparam._memory import format_bytes, memory_limit
from reparam.training._checks import SettingsError

EVAL_EXAMPLES = 1000
"""Examples per chunk of :func:`reparam.training.evaluation.mean_loss`."""
FLOAT_BYTES = 4
COPIES = 4
MAX_EVAL_FLOPS = 10**17
"""The most floating-point operations an evaluation may take: about a day at 10^12 per
second, a fast CPU's rate (minutes on a large GPU)."""


def _on_meta(build: Callable[[], nn.Module]) -> nn.Module | None:
    """The model built on the meta device (``None`` when it cannot be)."""
    validating = Distribution._validate_args  # argument checks read values: none on meta
    Distribution.set_default_validate_args(False)
    try:
        with torch.device("meta"):
            return build()
    except (RuntimeError, NotImplementedError):
        return None
    finally:
        Distribution.set_default_validate_args(validating)


def check_evaluation(
    build: Callable[[], nn.Module], k: int, examples: int, limit: int = MAX_EVAL_FLOPS
) -> None:
    """Refuse an importance-weighted bound with ``k`` samples on ``examples`` images that
    would take more than ``limit`` floating-point operations (a :class:`SettingsError`)."""
    model = _on_meta(build)
    if k == 0 or model is None:
        return
    linear = [m for m in model.modules() if isinstance(m, nn.Linear)]
    weights = sum(m.in_features * m.out_features for m in linear)
    flops = 2 * weights * k * examples
    if flops <= limit:
        return
    days = flops / 1e12 / 86400
    raise SettingsError(
        "{0}={k} on {examples} test images is {passes:.3g} evaluations of the model, about "
        "{flops:.2g} floating-point operations: {days:.3g} days at 10^12 per second (at most "
        "{limit:.0e} operations); lower {0}, or 0 to skip the importance-weighted bound",
        "eval_k",
        k=k,
        examples=examples,
        passes=k * examples,
        flops=flops,
        days=days,
        limit=limit,
    )


def estimated_bytes(
    build: Callable[[], nn.Module], rows_per_example: int, examples: int
) -> int | None:
    """A lower bound of the bytes a step on ``examples`` examples needs (see the module);
    ``None`` for a model that cannot be built on the meta device."""
    model = _on_meta(build)
    if model is None:
        return None
    parameters = sum(p.numel() for p in model.parameters())
    outputs = sum(m.out_features for m in model.modules() if isinstance(m, nn.Linear))
    rows = rows_per_example * examples
    return FLOAT_BYTES * COPIES * (parameters + rows * outputs)


def check_fits(
    build: Callable[[], nn.Module],
    rows_per_example: int,
    batch_share: int,
    limit: int | None = None,
) -> None:
    """Raise :class:`TooLarge` if the run cannot fit in ``limit`` bytes (default: this machine)."""
    limit = memory_limit() if limit is None else limit
    if limit is None:
        return
    examples = max(batch_share, EVAL_EXAMPLES)
    needed = estimated_bytes(build, rows_per_example, examples)
    if needed is not None and needed > limit:
        raise TooLarge(
            f"this run needs at least {format_bytes(needed)} of memory (model, optimizer and "
            f"activations of {rows_per_example} sample(s) x {examples} examples) and this "
            f"machine has {format_bytes(limit)}; lower --num-samples, --hidden, --latent-dim or "
            "--batch-size"
        )


class TooLarge(ValueError):
    """A run's sizes cannot fit in this machine's memory."""
