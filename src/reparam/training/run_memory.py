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
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn
from torch.distributions import Distribution

from reparam._memory import format_bytes, memory_limit

EVAL_EXAMPLES = 1000
"""Examples per chunk of :func:`reparam.training.evaluation.mean_loss`."""
FLOAT_BYTES = 4
COPIES = 4


def estimated_bytes(
    build: Callable[[], nn.Module], rows_per_example: int, examples: int
) -> int | None:
    """A lower bound of the bytes a step on ``examples`` examples needs (see the module);
    ``None`` for a model that cannot be built on the meta device."""
    validating = Distribution._validate_args  # argument checks read values: none on meta
    Distribution.set_default_validate_args(False)
    try:
        with torch.device("meta"):
            model = build()
    except (RuntimeError, NotImplementedError):
        return None
    finally:
        Distribution.set_default_validate_args(validating)
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
