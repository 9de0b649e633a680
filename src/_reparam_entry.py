"""The ``reparam`` program's entry point, kept outside the ``reparam`` package.

Importing ``reparam`` imports PyTorch, which takes a second or more, and code
inside the package can only run after that. Here, a Ctrl-C during those imports
is held until they finish, then ends the program with one line and exit code
130, like a Ctrl-C pressed later (see :func:`reparam.cli.run_program`).

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
from types import FrameType


def run() -> None:
    """Import the command line and run it; a Ctrl-C while importing exits with 130."""
    presses: list[int] = []

    def hold(signum: int, frame: FrameType | None) -> None:
        presses.append(signum)

    # Only where Ctrl-C would raise KeyboardInterrupt (not where SIGINT is ignored).
    holding = signal.getsignal(signal.SIGINT) is signal.default_int_handler
    if holding:
        signal.signal(signal.SIGINT, hold)
    try:
        from reparam.cli import run_program
    finally:
        if holding:
            signal.signal(signal.SIGINT, signal.default_int_handler)
    if presses:
        print("reparam: error: interrupted", file=sys.stderr, flush=True)
        # Nothing has run yet: the exit handlers of the imported modules are skipped.
        os._exit(130)
    run_program()
