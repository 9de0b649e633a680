"""Ctrl-C and SIGTERM as requests: the loop finishes its step, saves, then stops.

Job schedulers and ``torchrun`` send SIGTERM first (and SIGKILL later), so it is
handled as Ctrl-C is: the run saves where it stands and says how to resume.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Callable, Iterator
from types import FrameType

HANDLED = (signal.SIGINT, signal.SIGTERM)


class Stopped(KeyboardInterrupt):
    """Training stopped on request; ``signum`` is the signal (exit code ``128 + signum``)."""

    def __init__(self, signum: int = signal.SIGINT) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


@contextlib.contextmanager
def deferred_interrupt() -> Iterator[Callable[[], int | None]]:
    """Yield a function returning the first stop signal received since entering, or ``None``.

    The first SIGINT or SIGTERM only records itself; a second one raises
    :class:`Stopped` at once. Outside the main thread signals cannot be caught,
    and the function always returns ``None``.
    """
    if threading.current_thread() is not threading.main_thread():
        yield lambda: None
        return
    received: list[int] = []

    def handle(signum: int, frame: FrameType | None) -> None:
        if received:
            raise Stopped(received[0])
        received.append(signum)

    previous = {signum: signal.signal(signum, handle) for signum in HANDLED}
    try:
        yield lambda: received[0] if received else None
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
