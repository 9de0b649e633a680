"""Which device a process trains on, checked once: the name's form, then this machine.

Re-exported by :mod:`reparam.training.distributed`, whose :class:`WorldError`
the checks of the machine raise.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping

import torch

from reparam.training._checks import SettingsError

__all__ = [
    "DEVICE_NAME",
    "WorldError",
    "check_device",
    "check_device_name",
    "choose_device",
    "launched_by_torchrun",
]


class WorldError(ValueError):
    """The distributed set-up asked for cannot work here (said before any training)."""


DEVICE_NAME = re.compile(r"cpu|auto|cuda(?::\d+)?")
"""The devices a run can be asked for: ``cpu``, ``cuda``, ``cuda:N`` or ``auto``."""


def check_device_name(name: object, argument: str = "device") -> None:
    """The name's form only: whether CUDA is there is the run's to say, on every rank.

    >>> check_device_name("meta")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    reparam.training._checks.SettingsError: device: unknown device 'meta'; use cpu, ...
    """
    if not (isinstance(name, str) and DEVICE_NAME.fullmatch(name)):
        raise SettingsError(
            "{0}: unknown device {got}; use cpu, cuda, cuda:N or auto",
            argument,
            got=repr(name),
        )


def launched_by_torchrun(environ: Mapping[str, str] = os.environ) -> bool:
    """Whether the process environment describes a ``torchrun`` worker."""
    return all(key in environ for key in ("RANK", "WORLD_SIZE", "LOCAL_RANK"))


def choose_device(
    requested: str, environ: Mapping[str, str] = os.environ
) -> tuple[torch.device, str | None]:
    """The device of this process and the backend its world will use (``None``: one process).

    ``requested`` is ``auto``, ``cpu``, ``cuda`` or ``cuda:N`` (one process only:
    under torchrun every rank takes ``cuda:LOCAL_RANK``).
    """
    if not launched_by_torchrun(environ):
        return _single_device(requested), None
    local_rank = int(environ["LOCAL_RANK"])
    local_size = int(environ.get("LOCAL_WORLD_SIZE", environ["WORLD_SIZE"]))
    kind = torch.device("cuda" if torch.cuda.is_available() else "cpu").type
    if requested != "auto":
        kind = torch.device(requested).type
        if torch.device(requested).index is not None:
            raise WorldError(
                f"device={requested!r}: under torchrun each rank takes cuda:LOCAL_RANK; "
                "pass device='cuda'"
            )
    if kind == "cuda":
        available = torch.cuda.device_count()
        if available < local_size:
            raise WorldError(
                f"device='cuda': {local_size} ranks on this node but {available} CUDA "
                f"device(s); start at most {available} processes per node, or use device='cpu'"
            )
        return torch.device("cuda", local_rank), "nccl"
    return torch.device(kind), "gloo"


def _single_device(requested: str) -> torch.device:
    if requested == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    cuda_devices = torch.cuda.device_count() if requested.startswith("cuda") else 0
    return check_device(requested, cuda_devices)


def check_device(name: str, cuda_devices: int) -> torch.device:
    """The device ``name`` (``cpu``, ``cuda`` or ``cuda:N``) on a machine with
    ``cuda_devices`` CUDA devices, or the :class:`WorldError` that says why not.

    >>> check_device("cuda:1", cuda_devices=2)
    device(type='cuda', index=1)
    >>> check_device("cuda:2", cuda_devices=2)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    reparam.training._devices.WorldError: device='cuda:2': this machine has 2 CUDA ...
    """
    check_device_name(name)
    if name == "auto":
        raise WorldError("device='auto' names no device; resolve it first")
    device = torch.device(name)
    if device.type == "cuda" and cuda_devices == 0:
        raise WorldError(f"device={name!r}: no CUDA device is available here; use device='cpu'")
    if device.type == "cuda" and (device.index or 0) >= cuda_devices:
        raise WorldError(
            f"device={name!r}: this machine has {cuda_devices} CUDA device(s), "
            f"cuda:0 to cuda:{cuda_devices - 1}"
        )
    return device
