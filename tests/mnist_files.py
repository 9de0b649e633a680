"""Synthetic MNIST-like idx folders and tiny models for the VAE tests."""

from __future__ import annotations

import gzip
import hashlib
from pathlib import Path

import torch
from torch import Tensor

from reparam.data import write_idx
from reparam.data.mnist import MNIST_FILES

SIZES = {"train": 96, "t10k": 40}


def synthetic_arrays(seed: int = 0) -> dict[str, Tensor]:
    """Small random uint8 images (7 x 7) and labels, keyed by MNIST file name."""
    g = torch.Generator().manual_seed(seed)
    arrays = {}
    for split, n in SIZES.items():
        arrays[f"{split}-images-idx3-ubyte"] = torch.randint(0, 256, (n, 7, 7), generator=g).to(
            torch.uint8
        )
        arrays[f"{split}-labels-idx1-ubyte"] = torch.randint(0, 10, (n,), generator=g).to(
            torch.uint8
        )
    return arrays


def write_synthetic(folder: Path, gz: bool = True, seed: int = 0) -> dict[str, str]:
    """Write the four files; returns their decompressed MD5s (for ``checksums=``)."""
    folder.mkdir(parents=True, exist_ok=True)
    checksums = {}
    for name, array in synthetic_arrays(seed).items():
        path = folder / (f"{name}.gz" if gz else name)
        write_idx(path, array)
        content = gzip.decompress(path.read_bytes()) if gz else path.read_bytes()
        checksums[name] = hashlib.md5(content).hexdigest()
    assert set(checksums) == set(MNIST_FILES)
    return checksums


def md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()
