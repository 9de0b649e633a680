"""The four MNIST files: their names, standard checksums and where to find them.

A leaf module: :mod:`reparam.data.mnist` (loading) and
:mod:`reparam.data._download` (fetching) both build on it.

>>> sorted(MNIST_FILES)[:2]
['t10k-images-idx3-ubyte', 't10k-labels-idx1-ubyte']
>>> md5_hex(b"")
'd41d8cd98f00b204e9800998ecf8427e'
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType

MNIST_FILES: Mapping[str, str] = MappingProxyType(
    {
        "train-images-idx3-ubyte": "6bbc9ace898e44ae57da46a324031adb",
        "train-labels-idx1-ubyte": "a25bea736e30d166cdddb491f175f624",
        "t10k-images-idx3-ubyte": "2646ac647ad5339dbf082846283269ea",
        "t10k-labels-idx1-ubyte": "27ae3e4e09519cfbb04c329615203637",
    }
)
"""File name -> MD5 of its decompressed content (the standard checksums)."""

HOW_TO_GET = (
    "add --download to fetch the files from the public mirrors (or download them from "
    "https://ossci-datasets.s3.amazonaws.com/mnist/ into the folder yourself)"
)


class DataError(ValueError):
    """A data file is missing, corrupt or not what it claims to be."""


def find_file(folder: Path, name: str) -> Path | None:
    """``folder/name.gz`` or ``folder/name``, whichever exists (gzipped first)."""
    for candidate in (folder / f"{name}.gz", folder / name):
        if candidate.is_file():
            return candidate
    return None


def md5_hex(content: bytes) -> str:
    """The MD5 hex digest of ``content``."""
    return hashlib.md5(content, usedforsecurity=False).hexdigest()
