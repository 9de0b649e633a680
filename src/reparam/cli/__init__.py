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
from reparam.cli import channel, dvae, lab, vae
from reparam.cli._parser import Parser, UsageError, print_error
from reparam.safety import GradientCutError

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
    except KeyboardInterrupt:
        return _interrupted()
    return code


def run_program() -> NoReturn:
    """The ``reparam`` program: :func:`main` on ``sys.argv``, then exit with its code.

    Once :func:`main` has returned, the output is flushed and a further Ctrl-C
    (say a second press while Python shuts down) exits at once with code 130,
    instead of a traceback or "Exception ignored in atexit callback".
    """
    code = main()
    for stream in (sys.stdout, sys.stderr):
        stream.flush()
    signal.signal(signal.SIGINT, _exit_interrupted)
    sys.exit(code)


def _exit_interrupted(signum: int, frame: FrameType | None) -> None:
    os._exit(130)


def _interrupted() -> int:
    print_error("interrupted")
    return 130


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
        signum = getattr(stop, "signum", signal.SIGINT)
        print_error("interrupted" if signum == signal.SIGINT else "terminated (SIGTERM)")
        return 128 + int(signum)
    return code


def _fail(args: argparse.Namespace, error: Exception, code: int) -> int:
    if args.debug:
        traceback.print_exception(error)
    print_error(str(error))
    return code


if __name__ == "__main__":
    run_program()
