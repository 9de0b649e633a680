"""The ``reparam`` command: one subcommand per experiment or tool."""

from __future__ import annotations

import argparse
import os
import signal
import sys
import traceback
import warnings
from collections.abc import Sequence
from types import FrameType
from typing import NoReturn

from reparam import __version__
from reparam._files import no_space_left
from reparam.cli import channel, dvae, lab, vae
from reparam.cli._parser import Parser, UsageError, print_error
from reparam.safety import GradientCutError
from reparam.training._interrupt import Stopped

# Each module adds its own subcommand with add_parser(commands).
COMMANDS = (channel, vae, lab, dvae)

_DEBUG_HELP = "show Python tracebacks for errors"


def build_parser() -> Parser:
    parser = Parser(
        prog="reparam",
        description="Train models that sample: gradient estimators for E_q[f] on PyTorch.",
    )
    parser.add_argument("--version", action="version", version=f"reparam {__version__}")
    parser.add_argument("--debug", action="store_true", help=_DEBUG_HELP)
    commands = parser.add_subparsers(title="commands", metavar="COMMAND", required=True)
    commands._parser_class = Parser
    for module in COMMANDS:
        module.add_parser(commands)
    for subparser in commands.choices.values():
        # SUPPRESS: a subcommand's default must not override `reparam --debug COMMAND`.
        subparser.add_argument(
            "--debug", action="store_true", default=argparse.SUPPRESS, help=_DEBUG_HELP
        )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code (130 after Ctrl-C, with one line)."""
    try:
        args = build_parser().parse_args(argv)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            code = _run(args)
        for warning in caught:
            print(f"reparam: warning: {warning.message}", file=sys.stderr)
    except KeyboardInterrupt as stop:
        return _stopped(stop)
    return code


def run_program() -> NoReturn:
    """The ``reparam`` program: :func:`main` on ``sys.argv``, then exit with its code.

    SIGTERM stops it as Ctrl-C does, with one line and exit code 143 (130 for
    Ctrl-C). Once :func:`main` has returned, the output is flushed and a further
    Ctrl-C or SIGTERM (say while Python shuts down) exits at once with its code,
    instead of a traceback or "Exception ignored in atexit callback".
    """
    signal.signal(signal.SIGTERM, _terminate)
    code = main()
    for stream in (sys.stdout, sys.stderr):
        stream.flush()
    signal.signal(signal.SIGINT, _exit_interrupted)
    signal.signal(signal.SIGTERM, _exit_interrupted)
    sys.exit(code)


def _terminate(signum: int, frame: FrameType | None) -> None:
    """SIGTERM as Ctrl-C is taken: a stop with one line (exit 143), wherever it comes; a
    training run defers it to save first (:mod:`reparam.training._interrupt`)."""
    raise Stopped(signum)


def _exit_interrupted(signum: int, frame: FrameType | None) -> None:
    os._exit(128 + signum)


def _run(args: argparse.Namespace) -> int:
    # Each command says which errors are the user's mistakes (exit 2); any
    # other exception is a bug and shows its traceback.
    usage_errors: tuple[type[Exception], ...] = getattr(args, "usage_errors", (UsageError,))
    try:
        code: int = args.run(args)
    except usage_errors as error:
        return _fail(args, error, code=2)
    except GradientCutError as error:
        return _fail(args, error, code=1)
    except KeyboardInterrupt as stop:
        return _stopped(stop)
    except Exception as error:
        if not no_space_left(error):
            raise
        return _fail(args, _disk_full(error), code=1)
    return code


def _stopped(stop: KeyboardInterrupt) -> int:
    """One line for a stop signal; exit code ``128 + signal`` (130 for Ctrl-C, 143 for SIGTERM)."""
    signum = getattr(stop, "signum", signal.SIGINT)
    print_error("interrupted" if signum == signal.SIGINT else "terminated (SIGTERM)")
    return 128 + int(signum)


def _disk_full(error: Exception) -> Exception:
    """A full disk in one line, naming the file being written where it is known."""
    seen: BaseException | None = error
    for _ in range(16):
        if seen is None or (isinstance(seen, OSError) and seen.filename):
            break
        seen = seen.__cause__ or seen.__context__
    where = f" while writing {seen.filename}" if isinstance(seen, OSError) else ""
    return OSError(
        f"no space left on device{where}; free some space and run again (files saved "
        "before are kept: a run with a checkpoint continues with --resume)"
    )


def _fail(args: argparse.Namespace, error: Exception, code: int) -> int:
    if args.debug:
        traceback.print_exception(error)
    print_error(str(error))
    return code


if __name__ == "__main__":
    run_program()
