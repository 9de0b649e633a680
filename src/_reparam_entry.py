"""The ``reparam`` program's entry point, kept outside the ``reparam`` package.

Importing ``reparam`` imports PyTorch, which takes a second or more, and code
inside the package can only run after that. Here, a Ctrl-C (or a SIGTERM) during
those imports is held until they finish, then ends the program with one line and
exit code 130 (143), like one received later (see :func:`reparam.cli.run_program`).

It is held rather than raised at once because a ``KeyboardInterrupt`` inside
torch's import is not always seen: torch's C code imports numpy and carries on
after any error there, and one raised during its C++ initialisation aborts the
process (``terminate called after throwing ... KeyboardInterrupt``).
``python -m reparam`` imports the package before any of its code runs, so it
has none of this.
"""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Callable
from types import FrameType
from typing import Any

Handler = Callable[[int, FrameType | None], Any] | int | signal.Handlers | None


def run() -> None:
    """Import the command line and run it; a Ctrl-C (SIGTERM) while importing exits
    with 130 (143)."""
    presses: list[int] = []

    def hold(signum: int, frame: FrameType | None) -> None:
        presses.append(signum)

    # Only where the signal would stop the program (not where it is ignored).
    defaults: dict[signal.Signals, Handler] = {
        signal.SIGINT: signal.default_int_handler,
        signal.SIGTERM: signal.SIG_DFL,
    }
    held = [signum for signum, default in defaults.items() if signal.getsignal(signum) is default]
    for signum in held:
        signal.signal(signum, hold)
    try:
        from reparam.cli import run_program
    finally:
        for signum in held:
            signal.signal(signum, defaults[signum])
    if presses:
        what = "interrupted" if presses[0] == signal.SIGINT else "terminated (SIGTERM)"
        print(f"reparam: error: {what}", file=sys.stderr, flush=True)
        # Nothing has run yet: the exit handlers of the imported modules are skipped.
        os._exit(128 + presses[0])
    run_program()
