"""MNIST from its four original idx files, verified, held as uint8 tensors.

The folder is ``data_dir``, else the environment variable ``REPARAM_DATA_DIR``.
Each file may be gzipped (``train-images-idx3-ubyte.gz``) or not; the MD5 of
its *decompressed* content must be the standard one, so re-compressed copies are
accepted and anything else is refused before training starts. With
``download=True`` missing files are fetched from the public mirrors first.

>>> sorted(MNIST_FILES)[:2]
['t10k-images-idx3-ubyte', 't10k-labels-idx1-ubyte']
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from torch import Tensor

from reparam.data._download import download_mnist
from reparam.data._idx import IdxFormatError, read_file_bytes, read_idx_bytes
from reparam.data._mnist_files import HOW_TO_GET, find_file, md5_hex
from reparam.data._mnist_files import MNIST_FILES as MNIST_FILES
from reparam.data._mnist_files import DataError as DataError

ENV_VAR = "REPARAM_DATA_DIR"
"""The environment variable naming the MNIST folder when none is given."""


@dataclass(frozen=True)
class MNIST:
    """The whole data set: images ``[N, 28, 28]`` and labels ``[N]``, all uint8."""

    train_images: Tensor
    train_labels: Tensor
    test_images: Tensor
    test_labels: Tensor


def resolve_data_dir(data_dir: str | Path | None) -> Path:
    """``data_dir``, else ``$REPARAM_DATA_DIR``; a clear error when neither is given."""
    chosen = data_dir if data_dir is not None else os.environ.get(ENV_VAR)
    if not chosen:
        raise DataError(
            f"no MNIST folder given: pass --data-dir DIR or set {ENV_VAR}; the folder holds "
            f"the four idx files, or {HOW_TO_GET}"
        )
    return Path(chosen).expanduser()


def read_verified(folder: Path, name: str, md5: str) -> Tensor:
    """Read one idx file from ``folder`` after checking its decompressed MD5."""
    path = find_file(folder, name)
    if path is None:
        raise DataError(f"{name}(.gz) is missing from {folder}; {HOW_TO_GET}")
    try:
        content = read_file_bytes(path)
    except IdxFormatError as error:
        raise DataError(f"{error}; delete it and {HOW_TO_GET}") from None
    actual = md5_hex(content)
    if actual != md5:
        raise DataError(
            f"{path}: checksum mismatch: the decompressed content has MD5 {actual}, expected "
            f"{md5}; the file is corrupt or not the original. Delete it and {HOW_TO_GET}"
        )
    try:
        return read_idx_bytes(content, name=str(path))
    except IdxFormatError as error:
        raise DataError(str(error)) from None


def load_mnist(
    data_dir: str | Path | None = None,
    *,
    download: bool = False,
    checksums: Mapping[str, str] = MNIST_FILES,
) -> MNIST:
    """Load and verify the four files; see the module docstring.

    ``checksums`` maps each file name to the expected MD5 of its decompressed
    content (the standard ones by default).
    """
    folder = resolve_data_dir(data_dir)
    _check_folder(folder, download)
    if download:
        download_mnist(folder)
    arrays = {name: read_verified(folder, name, checksums[name]) for name in MNIST_FILES}
    data = MNIST(
        train_images=arrays["train-images-idx3-ubyte"],
        train_labels=arrays["train-labels-idx1-ubyte"],
        test_images=arrays["t10k-images-idx3-ubyte"],
        test_labels=arrays["t10k-labels-idx1-ubyte"],
    )
    _check_shapes(data)
    return data


def _check_folder(folder: Path, download: bool) -> None:
    """A clear error unless ``folder`` is a folder (or, with ``download``, can become one)."""
    if folder.exists() and not folder.is_dir():
        parent = (
            f" (perhaps {folder.parent}, the folder it is in)"
            if folder.name.removesuffix(".gz") in MNIST_FILES
            else ""
        )
        raise DataError(
            f"MNIST folder {folder} is a file, not a folder; pass --data-dir (or set {ENV_VAR}) "
            f"to the folder that holds the four idx files{parent}"
        )
    if not download and not folder.is_dir():
        raise DataError(
            f"MNIST folder {folder} does not exist; pass --data-dir (or set {ENV_VAR}) to "
            f"the folder with the four idx files, or {HOW_TO_GET}"
        )


def _check_shapes(data: MNIST) -> None:
    for split, images, labels in (
        ("train", data.train_images, data.train_labels),
        ("test", data.test_images, data.test_labels),
    ):
        if images.dim() != 3 or labels.dim() != 1 or images.shape[0] != labels.shape[0]:
            raise DataError(
                f"{split} images {list(images.shape)} and labels {list(labels.shape)} do not "
                "match: expected [N, rows, cols] images and [N] labels"
            )
