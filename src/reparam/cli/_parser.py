"""Argument parsing: one-line errors and validated option types."""

from __future__ import annotations

import argparse
import math
import os
import re
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import NoReturn, TypeVar

from reparam.training._checks import SettingsError, check_seed, check_threads
from reparam.training._checks import max_threads as max_threads

T = TypeVar("T")


class UsageError(Exception):
    """Bad input on the command line: printed as one line, exit code 2."""


class Parser(argparse.ArgumentParser):
    """An ``ArgumentParser`` whose errors are one line naming the option."""

    def parse_known_args(  # type: ignore[override]
        self, args: Sequence[str] | None = None, namespace: argparse.Namespace | None = None
    ) -> tuple[argparse.Namespace, list[str]]:
        self._given = list(sys.argv[1:] if args is None else args)
        return super().parse_known_args(args, namespace)

    def error(self, message: str) -> NoReturn:
        if not is_main_process():  # under torchrun, rank 0 alone says it
            self.exit(2)
        unknown = self._unknown_options()
        if unknown and "invalid choice" in message:
            # argparse took the unknown option's value for an action: name the option
            message = f"unknown option {unknown[0]}"
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")

    def _unknown_options(self) -> list[str]:
        """The options given that this parser does not know (nor abbreviates)."""
        known = self._option_string_actions
        unknown = []
        for token in getattr(self, "_given", []):
            if token == "--":
                break
            name = token.split("=", 1)[0]
            if not name.startswith("--") or name in known:
                continue
            if not any(option.startswith(name) for option in known):
                unknown.append(name)
        return unknown


def finite_float(text: str) -> float:
    """A finite real number."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"expected a finite number, got {text!r}")
    return value


def positive_float(text: str) -> float:
    """A finite real number > 0."""
    value = finite_float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be > 0, got {text}")
    return value


def int_at_least(lowest: int) -> Callable[[str], int]:
    """An integer ``>= lowest``."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
        if value < lowest:
            raise argparse.ArgumentTypeError(f"must be an integer >= {lowest}, got {text}")
        return value

    parse.__name__ = f"integer >= {lowest}"
    return parse


def is_main_process() -> bool:
    """Not a worker of rank > 0 under ``torchrun`` (which sets ``RANK``)."""
    return os.environ.get("RANK", "0") == "0"


def print_error(message: str) -> None:
    """One line on stderr; under torchrun only rank 0 prints (every rank has the same)."""
    if is_main_process():
        print(f"reparam: error: {message}", file=sys.stderr)


def comma_list(item: Callable[[str], T], what: str) -> Callable[[str], list[T]]:
    """A comma-separated list of ``item`` values, at least one, none empty.

    ``what`` names the values in errors (argparse prefixes the option's name):

    >>> widths = comma_list(int_at_least(1), "widths")
    >>> widths("512, 256")
    [512, 256]
    >>> widths("8,,4")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    argparse.ArgumentTypeError: widths: entry 2 of '8,,4' is empty; separate values by ...
    """

    def parse(text: str) -> list[T]:
        parts = [part.strip() for part in text.split(",")]
        given = [part for part in parts if part]
        if not given:
            raise argparse.ArgumentTypeError(
                f"{what}: expected one or more values separated by commas, got {text!r}"
            )
        values = []
        for index, part in enumerate(parts, start=1):
            if not part:
                raise argparse.ArgumentTypeError(
                    f"{what}: entry {index} of {text!r} is empty; separate values by single "
                    f"commas, e.g. {','.join(given)}"
                )
            try:
                values.append(item(part))
            except argparse.ArgumentTypeError as error:
                raise argparse.ArgumentTypeError(f"{what}: {error}") from None
        return values

    parse.__name__ = what
    return parse


def checked(parse: Callable[[str], T], check: Callable[[T], object]) -> Callable[[str], T]:
    """An option type: ``parse`` the text, then ``check`` the value with the library's
    own check, whose :class:`~reparam.training._checks.SettingsError` becomes the
    option's one-line error (argparse names the option)."""

    def convert(text: str) -> T:
        value = parse(text)
        try:
            check(value)
        except SettingsError as error:
            raise argparse.ArgumentTypeError(error.requirement()) from None
        return value

    convert.__name__ = getattr(parse, "__name__", "value")
    return convert


def integer(text: str) -> int:
    """An integer (its range is the library's to check)."""
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None


seed_option = checked(integer, check_seed)
"""A random seed, an integer in ``[0, 2**63)`` (what every torch generator takes)."""

threads_option = checked(integer, check_threads)
"""A number of CPU threads for torch: ``1`` to :func:`max_threads` (a huge count would
crash torch's thread pool)."""


DEVICES = "cpu, cuda, cuda:N or auto"


def device_option(text: str) -> str:
    """A device name: ``cpu``, ``cuda``, ``cuda:N`` or ``auto``, checked against this machine.

    The name is returned as given; ``auto`` (CUDA when present, else the CPU) is
    left to the caller to resolve.
    """
    if not text.startswith("cuda"):
        return parse_device(text, cuda_devices=0)
    import torch

    return parse_device(text, torch.cuda.device_count())


def parse_device(text: str, cuda_devices: int) -> str:
    """:func:`device_option` for a machine with ``cuda_devices`` CUDA devices.

    >>> parse_device("cuda:1", cuda_devices=2)
    'cuda:1'
    >>> parse_device("mps", cuda_devices=2)
    Traceback (most recent call last):
    argparse.ArgumentTypeError: unknown device 'mps'; use cpu, cuda, cuda:N or auto
    """
    match = re.fullmatch(r"cpu|auto|cuda(?::(\d+))?", text)
    if match is None:
        raise argparse.ArgumentTypeError(f"unknown device {text!r}; use {DEVICES}")
    if text.startswith("cuda"):
        if cuda_devices == 0:
            raise argparse.ArgumentTypeError(
                f"{text}: no CUDA device is available here; use cpu (or auto)"
            )
        index = int(match.group(1) or 0)
        if index >= cuda_devices:
            raise argparse.ArgumentTypeError(
                f"{text}: this machine has {cuda_devices} CUDA device(s), "
                f"cuda:0 to cuda:{cuda_devices - 1}"
            )
    return text


def nonempty_path(text: str) -> str:
    """A file or folder path that is not empty (an empty one would mean the default)."""
    if not text.strip():
        raise argparse.ArgumentTypeError(
            f"expected a path, got {text!r}; leave the option out instead"
        )
    return text


def plot_path(text: str) -> Path:
    """Where to save a PNG picture, checked before any work is done.

    A name without a suffix gets ``.png`` (the file really written); another
    suffix, an existing folder, or a place that cannot be written is refused.
    Missing parent folders are fine: they are created when the picture is saved.
    """
    target = Path(nonempty_path(text))
    if target.suffix == "" and not target.is_dir():
        target = target.with_name(target.name + ".png")
    if target.is_dir():
        raise argparse.ArgumentTypeError(
            f"{target} is a folder; name the picture file, e.g. {target / 'plot.png'}"
        )
    if target.suffix.lower() != ".png":
        raise argparse.ArgumentTypeError(
            f"the picture is a PNG; name the file with .png (e.g. {target.with_suffix('.png')}), "
            f"got {text}"
        )
    folder = target.parent
    while not folder.exists():
        folder = folder.parent
    if not folder.is_dir():
        raise argparse.ArgumentTypeError(f"cannot save {target}: {folder} is a file, not a folder")
    if not os.access(folder, os.W_OK | os.X_OK) or (
        target.exists() and not os.access(target, os.W_OK)
    ):
        where = target if target.exists() else folder
        raise argparse.ArgumentTypeError(f"cannot save {target}: {where} is not writable")
    return target
