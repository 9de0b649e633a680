"""``torch.cuda.set_sync_debug_mode`` for tests, switched on and off safely.

In the mode ``"warn"`` every CUDA call that makes the host wait for the device
warns; in ``"error"`` it raises. The first call of ``set_sync_debug_mode`` in a
process also warns that the mode is a prototype, and it does so after the mode
is set: under this suite's ``filterwarnings = error`` that warning is raised from
the call itself, so a test that turned the mode on that way failed and left it
on for every later test of its process (on a GPU machine, the first such test of
each worker failed, then unrelated CUDA tests after it). :func:`sync_debug_mode`
ignores that one warning and always restores the default.
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Iterator
from typing import Literal

import torch

PROTOTYPE_WARNING = "Synchronization debug mode is a prototype feature"
"""The start of the warning the first ``set_sync_debug_mode`` of a process gives."""


def _set(mode: Literal["default", "warn", "error"]) -> None:
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=PROTOTYPE_WARNING, category=UserWarning)
        torch.cuda.set_sync_debug_mode(mode)


@contextlib.contextmanager
def sync_debug_mode(mode: Literal["warn", "error"]) -> Iterator[None]:
    """Every synchronising CUDA call warns or raises inside; set-up copies belong outside.

    The device is synchronised first, so that work queued before does not count.
    """
    torch.cuda.synchronize()
    try:
        _set(mode)
        yield
    finally:
        _set("default")
