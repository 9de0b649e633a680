"""Fetching MNIST from the public mirrors, with both checksums verified.

A mirror's ``.gz`` file must have the mirror's MD5 and its decompressed content
the standard one; only then is it written, atomically and durably (see
:mod:`reparam._files`), so an interrupted or bad download never leaves a file
that looks complete.
Files already in the folder are left alone (and verified when loaded).
"""

from __future__ import annotations

import gzip
import urllib.request
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import MappingProxyType

from reparam._files import write_bytes_atomically
from reparam.data._mnist_files import MNIST_FILES, DataError, find_file, md5_hex

MIRRORS: tuple[str, ...] = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
    "http://yann.lecun.com/exdb/mnist/",
)
"""Base addresses serving ``<name>.gz``, tried in order."""

ARCHIVE_MD5: Mapping[str, str] = MappingProxyType(
    {
        "train-images-idx3-ubyte": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
        "train-labels-idx1-ubyte": "d53e105ee54ea40749a09fcbcd1e9432",
        "t10k-images-idx3-ubyte": "9fb629c4189551a2d022fa330f9573f3",
        "t10k-labels-idx1-ubyte": "ec29112dd5afa0611ce80d1b7f02629c",
    }
)
"""File name -> MD5 of the mirrors' ``.gz`` file."""


def download_mnist(
    folder: Path,
    *,
    mirrors: Sequence[str] = MIRRORS,
    archive_md5: Mapping[str, str] = ARCHIVE_MD5,
    checksums: Mapping[str, str] = MNIST_FILES,
    timeout: float = 60.0,
) -> None:
    """Download every file missing from ``folder`` (created if needed)."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise DataError(f"cannot create the MNIST folder {folder}: {error.strerror}") from None
    for name in checksums:
        if find_file(folder, name) is None:
            content = _fetch_verified(name, mirrors, archive_md5[name], checksums[name], timeout)
            write_bytes_atomically(folder / f"{name}.gz", content)


def _fetch_verified(
    name: str, mirrors: Sequence[str], archive_md5: str, md5: str, timeout: float
) -> bytes:
    failures = []
    for mirror in mirrors:
        url = f"{mirror}{name}.gz"
        try:
            with urllib.request.urlopen(url, timeout=timeout) as response:
                content: bytes = response.read()
        except OSError as error:
            failures.append(f"{url}: {error}")
            continue
        problem = _verify(content, archive_md5, md5)
        if problem is None:
            return content
        failures.append(f"{url}: {problem}")
    raise DataError(f"could not download {name}.gz: " + "; ".join(failures))


def _verify(content: bytes, archive_md5: str, md5: str) -> str | None:
    actual = md5_hex(content)
    if actual != archive_md5:
        return f"MD5 {actual}, expected {archive_md5}"
    try:
        inner = md5_hex(gzip.decompress(content))
    except (OSError, EOFError) as error:
        return f"not a valid gzip file ({error})"
    if inner != md5:
        return f"decompressed MD5 {inner}, expected {md5}"
    return None
