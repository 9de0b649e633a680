"""Checkpoints that are written atomically and checked when read back.

Layout (format 2). The state is serialized with :func:`torch.save` into memory;
the file is an ordinary :func:`torch.save` file of the record ::

    {"format": 2, "sha256": <hex digest of the bytes>, "payload": <the bytes, uint8 [n]>}

so both levels load with ``torch.load(..., weights_only=True)``: tensors,
numbers, strings, lists and dicts only, never pickled code. :func:`load_checkpoint`
recomputes the SHA-256 (FIPS 180-4) of the payload and refuses the file when it
differs: a flipped bit anywhere in the payload, i.e. in nearly the whole file, is
reported as damage instead of silently giving wrong weights; damage to the zip
structure or the record around it makes the outer load fail, also reported as
damage. What is returned is therefore bit for bit what was saved. For a 10 MB
state, hashing takes about 17 ms and a whole load about 40 ms (2-core CPU).

Format 1 files (the state with a ``"format": 1`` key, no checksum) are still read.

The whole file is serialized in memory first and then written through
:func:`reparam._files.write_bytes_atomically`: a crash while saving never
damages the previous checkpoint, and a full disk is an ``OSError`` (``ENOSPC``)
naming the file rather than an error from inside :func:`torch.save`.
"""

from __future__ import annotations

import hashlib
import io
import pickle
import warnings
from pathlib import Path
from typing import Any

import torch

from reparam._files import write_bytes_atomically

FORMAT = 2
"""Version of the checkpoint layout, stored in every file."""

ZIP_MAGIC = b"PK\x03\x04"
"""First bytes of every file :func:`torch.save` writes (a zip archive)."""

ZIP_END = b"PK\x05\x06"
"""Signature of the zip directory's last record, within ``ZIP_END_SPAN`` bytes of the end."""

ZIP_END_SPAN = 22 + 0xFFFF
"""The last record's size plus the longest comment a zip file may end with."""

RECOVERY = "restore it from a copy, or train the run again"


class CheckpointError(ValueError):
    """A checkpoint is missing, damaged or unreadable."""


def save_checkpoint(state: dict[str, Any], path: Path) -> None:
    """Write ``state`` (tensors, numbers, strings, lists, dicts) to ``path`` atomically."""
    buffer = io.BytesIO()
    torch.save(state, buffer)
    payload = buffer.getvalue()
    record = {
        "format": FORMAT,
        "sha256": hashlib.sha256(payload).hexdigest(),
        "payload": torch.frombuffer(bytearray(payload), dtype=torch.uint8),
    }
    whole = io.BytesIO()
    torch.save(record, whole)
    write_bytes_atomically(path, whole.getvalue())


def load_checkpoint(path: Path) -> dict[str, Any]:
    """Read the state saved by :func:`save_checkpoint` onto the CPU, after checking it.

    Raises :class:`CheckpointError` saying why when the file is missing,
    unreadable, damaged, or not a checkpoint.
    """
    record = _unpack(path, _read(path), "the file")
    version = record.get("format")
    if version == 1 and "sha256" not in record:
        return {key: value for key, value in record.items() if key != "format"}
    if version == FORMAT:
        return _unpack(path, _verified_payload(path, record), "the saved state")
    raise _unknown_format(path, version)


def _unknown_format(path: Path, version: object) -> CheckpointError:
    if isinstance(version, int) and not isinstance(version, bool) and version > FORMAT:
        return CheckpointError(
            f"cannot read checkpoint {path}: unknown format {version} (this version of "
            f"reparam reads formats 1 to {FORMAT}); it was written by a newer reparam, or the "
            f"file is damaged"
        )
    return CheckpointError(
        f"cannot read checkpoint {path}: its format number is {version!r}, not one of 1 to "
        f"{FORMAT}, so the file is damaged or is not a reparam checkpoint; {RECOVERY}"
    )


def _read(path: Path) -> bytes:
    if not path.is_file():
        raise CheckpointError(f"no checkpoint at {path}")
    try:
        content = path.read_bytes()
    except OSError as error:
        raise CheckpointError(f"cannot read checkpoint {path}: {error.strerror}") from None
    if not content:
        raise CheckpointError(
            f"cannot read checkpoint {path}: the file is empty (0 bytes): it was not "
            f"written completely, or was emptied since; {RECOVERY}"
        )
    return content


def _unpack(path: Path, content: bytes, what: str) -> dict[str, Any]:
    """``torch.load`` of ``content`` (tensors only), with its failures explained."""
    if not content.startswith(ZIP_MAGIC):
        raise CheckpointError(
            f"cannot read checkpoint {path}: {what} is not a PyTorch file (it starts with "
            f"0x{content[:4].hex()}, a checkpoint with 0x{ZIP_MAGIC.hex()}); the file is "
            f"damaged or is not a checkpoint; {RECOVERY}"
        )
    if content.rfind(ZIP_END, max(0, len(content) - ZIP_END_SPAN)) < 0:
        raise CheckpointError(
            f"cannot read checkpoint {path}: {what} is truncated or damaged: its "
            f"{len(content)} bytes lack the zip directory that ends every PyTorch file; "
            f"{RECOVERY}"
        )
    try:
        loaded = _torch_load(content)
    except pickle.UnpicklingError as error:
        raise CheckpointError(
            f"cannot read checkpoint {path}: {what} is damaged, or holds objects other than "
            f"tensors, numbers, strings, lists and dicts, which are never loaded because "
            f"loading them can run code ({_reason(error)}); {RECOVERY}"
        ) from None
    except Exception as error:
        raise CheckpointError(
            f"cannot read checkpoint {path}: {what} is damaged or incomplete "
            f"({_reason(error)}); {RECOVERY}"
        ) from None
    if not isinstance(loaded, dict):
        raise CheckpointError(
            f"cannot read checkpoint {path}: {what} holds a {type(loaded).__name__}, not the "
            f"dict of a checkpoint, so the file is damaged or is not a checkpoint; {RECOVERY}"
        )
    return loaded


def _torch_load(content: bytes) -> Any:
    """``torch.load`` of tensors only; its warnings are kept only when it succeeds.

    A damaged file can make PyTorch warn (say, about an unknown pickle protocol)
    before it fails; the error raised then says all there is to say.
    """
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        loaded = torch.load(io.BytesIO(content), map_location="cpu", weights_only=True)
    for warning in caught:
        warnings.warn_explicit(warning.message, warning.category, warning.filename, warning.lineno)
    return loaded


def _verified_payload(path: Path, record: dict[str, Any]) -> bytes:
    payload, expected = record.get("payload"), record.get("sha256")
    if not (
        isinstance(payload, torch.Tensor)
        and payload.dtype == torch.uint8
        and payload.dim() == 1
        and isinstance(expected, str)
    ):
        raise CheckpointError(
            f"checkpoint {path} is damaged: its record lacks the uint8 payload or its "
            f"SHA-256; {RECOVERY}"
        )
    content = payload.numpy().tobytes()
    actual = hashlib.sha256(content).hexdigest()
    if actual != expected:
        raise CheckpointError(
            f"checkpoint {path} is damaged: the SHA-256 of its saved state is "
            f"{actual[:16]}..., not the {expected[:16]}... recorded when it was written, so "
            f"the file changed on disk or in a copy since; {RECOVERY}"
        )
    return content


def _reason(error: Exception) -> str:
    """The first sentence of PyTorch's message, without its advice about ``weights_only``."""
    text = str(error)
    marker = "WeightsUnpickler error:"
    if marker in text:
        text = text.split(marker, 1)[1]
    lines = text.strip().splitlines()
    first = lines[0].split(". ")[0].strip().rstrip(".") if lines else ""
    if not first or "weights_only" in first:
        return type(error).__name__
    return first
