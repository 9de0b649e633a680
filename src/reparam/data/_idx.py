"""The idx file format of MNIST: a small header, then one uint8 array.

Layout (big-endian), as described on the MNIST page (LeCun, Cortes and Burges):

* bytes 0-1: zero;
* byte 2: the element type (``0x08`` = unsigned byte, the only one MNIST uses);
* byte 3: the number of dimensions ``d``;
* ``d`` unsigned 32-bit sizes;
* ``prod(sizes)`` elements in row-major order.

>>> import tempfile, pathlib
>>> path = pathlib.Path(tempfile.mkdtemp()) / "tiny-idx2-ubyte"
>>> write_idx(path, torch.arange(6, dtype=torch.uint8).reshape(2, 3))
>>> read_idx_bytes(path.read_bytes(), name="tiny")
tensor([[0, 1, 2],
        [3, 4, 5]], dtype=torch.uint8)
"""

from __future__ import annotations

import gzip
import math
import struct
from pathlib import Path

import torch
from torch import Tensor

UBYTE = 0x08


class IdxFormatError(ValueError):
    """A file is not a well-formed unsigned-byte idx file."""


def read_idx_bytes(content: bytes, name: str) -> Tensor:
    """Parse decompressed idx ``content`` into a uint8 tensor of the stored shape.

    ``name`` is used in error messages only.
    """
    if len(content) < 4:
        raise IdxFormatError(f"{name}: {len(content)} bytes is too short for an idx header")
    zero, kind, ndim = struct.unpack(">HBB", content[:4])
    if zero != 0 or ndim == 0:
        raise IdxFormatError(
            f"{name}: not an idx file (magic number 0x{content[:4].hex()}; an unsigned-byte "
            "idx file starts with 0x000008 then its number of dimensions)"
        )
    if kind != UBYTE:
        raise IdxFormatError(f"{name}: element type 0x{kind:02x} is not unsigned byte (0x08)")
    header = 4 + 4 * ndim
    if len(content) < header:
        raise IdxFormatError(f"{name}: truncated header ({len(content)} of {header} bytes)")
    shape = struct.unpack(f">{ndim}I", content[4:header])
    expected = math.prod(shape)
    found = len(content) - header
    if found != expected:
        state = "truncated" if found < expected else "has trailing bytes"
        raise IdxFormatError(
            f"{name}: {state}: shape {list(shape)} needs {expected} bytes of data, found {found}"
        )
    data = torch.frombuffer(bytearray(content[header:]), dtype=torch.uint8)
    return data.reshape(shape)


def read_file_bytes(path: Path) -> bytes:
    """A file's content, decompressed when its name ends in ``.gz``."""
    raw = path.read_bytes()
    if path.suffix != ".gz":
        return raw
    try:
        return gzip.decompress(raw)
    except (OSError, EOFError) as error:
        raise IdxFormatError(f"{path}: not a valid gzip file ({error})") from None


def write_idx(path: Path, array: Tensor) -> None:
    """Write a uint8 tensor as an idx file (gzipped when ``path`` ends in ``.gz``)."""
    if array.dtype != torch.uint8:
        raise TypeError(f"idx files hold uint8 here, got {array.dtype}")
    header = struct.pack(f">HBB{array.dim()}I", 0, UBYTE, array.dim(), *array.shape)
    content = header + array.contiguous().numpy().tobytes()
    path.write_bytes(gzip.compress(content) if path.suffix == ".gz" else content)
