"""The training step's loss, forward and backward, compiled by ``torch.compile``, or eager.

:class:`StepLoss` calls the loss module through ``torch.compile(module,
backend=..., dynamic=False)``: Dynamo traces the forward pass, AOTAutograd
derives the backward pass from it, and the backend (Inductor by default:
C++ on a CPU, Triton on a GPU) compiles both, so ``loss.backward()`` runs
compiled code too; the optimizer's step is fused Adam, one kernel per
parameter already. Each batch shape gets its own graph (``dynamic=False``;
an epoch has two at most, the full batch and the last one), so a resumed run
replays the very graphs of an uninterrupted one.

Compilation is not always available: no C++ compiler, a torch without
``torch.compile``, a Python it does not support. It happens at the first call
with a new batch shape; if it fails there, :class:`StepLoss` warns once
(:class:`CompileUnavailable`), puts back the model's buffers and the random
state as they were before the call, and computes that step and all later
ones eagerly: the run goes on, never crashes for it.
"""

from __future__ import annotations

import contextlib
import copy
import warnings
from collections.abc import Callable, Iterator
from typing import Any

import torch
from torch import Tensor, nn

from reparam.estimators import CostError
from reparam.training._rng import capture_rng, restore_rng

Backend = str | Callable[..., Any]
"""A ``torch.compile`` backend: a name (``"inductor"``) or a callable."""


class CompileUnavailable(UserWarning):
    """``torch.compile`` could not compile the training step; it runs eagerly."""


class StepLoss:
    """``loss(x)`` through ``torch.compile`` with ``backend`` (``None``: eagerly).

    Args:
        module: computes the step's loss (the trainer's share loss, or DDP's wrapper).
        model: the model inside ``module``, whose buffers a failed first call restores.
        backend: the ``torch.compile`` backend, or ``None`` for no compilation.
        device: the device whose random state a failed first call restores.
    """

    def __init__(
        self, module: nn.Module, model: nn.Module, backend: Backend | None, device: torch.device
    ) -> None:
        self.eager = module
        self.model = model
        self.device = device
        self.compiled: Callable[[Tensor], Tensor] | None = None
        self.shapes: set[tuple[int, ...]] = set()
        reason = getattr(model, "eager_reason", None)
        if backend is not None and reason is not None:
            message = f"--compile: {reason}; training eagerly"
            warnings.warn(message, CompileUnavailable, stacklevel=3)
        elif backend is not None:
            self.compiled = self._compile(module, backend)

    @property
    def is_compiled(self) -> bool:
        """Whether steps still run compiled (``False`` after a fallback)."""
        return self.compiled is not None

    def __call__(self, x: Tensor) -> Tensor:
        if self.compiled is None:
            return self.eager(x)
        shape = tuple(x.shape)
        if shape in self.shapes:
            return self.compiled(x)
        return self._first_call(x, shape)

    def _compile(self, module: nn.Module, backend: Backend) -> Callable[[Tensor], Tensor] | None:
        compile_fn = getattr(torch, "compile", None)
        if compile_fn is None:
            self._fall_back(f"torch {torch.__version__} has no torch.compile")
            return None
        try:
            with _torch_internal_warnings_ignored():
                compiled: Callable[[Tensor], Tensor] = compile_fn(
                    module, backend=backend, dynamic=False
                )
        except Exception as error:  # e.g. a Python version torch.compile does not support
            self._fall_back(_first_line(error))
            return None
        return compiled

    def _first_call(self, x: Tensor, shape: tuple[int, ...]) -> Tensor:
        """Compile for this shape; on failure, undo what the call did and go eager."""
        assert self.compiled is not None
        buffers = copy.deepcopy(dict(self.model.named_buffers()))
        rng = capture_rng(self.device)
        try:
            with _torch_internal_warnings_ignored():
                loss = self.compiled(x)
        except CostError:
            raise
        except Exception as error:  # no compiler, a backend failure: the run goes on eagerly
            self.model.load_state_dict(buffers, strict=False)
            restore_rng(rng, self.device)
            self._fall_back(_first_line(error))
            self.compiled = None
            return self.eager(x)
        self.shapes.add(shape)
        return loss

    def _fall_back(self, reason: str) -> None:
        warnings.warn(
            f"--compile: torch.compile is not available here ({reason}); training eagerly",
            CompileUnavailable,
            stacklevel=4,
        )


@contextlib.contextmanager
def _torch_internal_warnings_ignored() -> Iterator[None]:
    """Without the deprecation warnings that Inductor's own imports give (torch's to fix)."""
    with warnings.catch_warnings():
        warnings.filterwarnings(
            "ignore", message="`torch.jit.script_method` is deprecated", category=DeprecationWarning
        )
        yield


def _first_line(error: Exception) -> str:
    """The error's type and first line, with the next one where the first announces it
    (``backend='inductor' raised:``)."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    text = " ".join(lines[:2]) if lines and lines[0].endswith(":") else "".join(lines[:1])
    return f"{type(error).__name__}: {text}"[:300]
