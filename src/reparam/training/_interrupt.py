"""Ctrl-C as a request: the loop finishes its step, saves, then stops."""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Callable, Iterator
from types import FrameType


@contextlib.contextmanager
def deferred_interrupt() -> Iterator[Callable[[], bool]]:
    """Yield a function telling whether Ctrl-C (SIGINT) was pressed since entering.

    The first SIGINT only sets the flag; a second one raises ``KeyboardInterrupt``
    at once. Outside the main thread signals cannot be caught, and the flag
    stays ``False``.
    """
    if threading.current_thread() is not threading.main_thread():
        yield lambda: False
        return
    requested = False

    def handle(signum: int, frame: FrameType | None) -> None:
        nonlocal requested
        if requested:
            raise KeyboardInterrupt
        requested = True

    previous = signal.signal(signal.SIGINT, handle)
    try:
        yield lambda: requested
    finally:
        signal.signal(signal.SIGINT, previous)
