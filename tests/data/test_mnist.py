"""MNIST loading, verification and download; in-memory batches and binarization."""

from __future__ import annotations

import ast
import gzip
import hashlib
import importlib
import re
import struct
from pathlib import Path

import pytest
import torch

from reparam.data import (
    ENV_VAR,
    MNIST_FILES,
    DataError,
    IdxFormatError,
    iterate_batches,
    load_mnist,
    present,
    read_idx_bytes,
    write_idx,
)
from reparam.data._download import download_mnist
from reparam.data.batches import batch_slices, epoch_order
from tests.mnist_files import md5, synthetic_arrays, write_synthetic
from tests.stats import assert_mean, mean_z_scores, z_threshold


@pytest.mark.parametrize("gz", [True, False])
def test_synthetic_folder_loads_with_its_checksums(tmp_path: Path, gz: bool) -> None:
    checksums = write_synthetic(tmp_path, gz=gz)
    data = load_mnist(tmp_path, checksums=checksums)
    arrays = synthetic_arrays()
    assert torch.equal(data.train_images, arrays["train-images-idx3-ubyte"])
    assert torch.equal(data.test_labels, arrays["t10k-labels-idx1-ubyte"])
    assert data.train_images.dtype == torch.uint8 and data.train_images.shape == (96, 7, 7)


def test_environment_variable_names_the_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    checksums = write_synthetic(tmp_path)
    monkeypatch.setenv(ENV_VAR, str(tmp_path))
    assert load_mnist(checksums=checksums).test_images.shape == (40, 7, 7)
    monkeypatch.delenv(ENV_VAR)
    with pytest.raises(DataError, match="--data-dir"):
        load_mnist()


def test_checksum_mismatch_names_file_both_checksums_and_the_fix(tmp_path: Path) -> None:
    actual = write_synthetic(tmp_path)  # not the real MNIST: the standard MD5s fail
    with pytest.raises(DataError) as error:
        load_mnist(tmp_path)
    message = str(error.value)
    first = "train-images-idx3-ubyte"
    assert f"{first}.gz" in message and MNIST_FILES[first] in message and actual[first] in message
    assert "--download" in message


def test_missing_folder_and_missing_file(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"does not exist.*--download"):
        load_mnist(tmp_path / "nowhere")
    checksums = write_synthetic(tmp_path)
    (tmp_path / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(DataError, match=r"t10k-labels-idx1-ubyte.* missing"):
        load_mnist(tmp_path, checksums=checksums)


def test_a_data_dir_that_is_a_file_is_called_a_file(tmp_path: Path) -> None:
    notes = tmp_path / "notes.txt"
    notes.write_text("not a folder")
    for download in (False, True):
        with pytest.raises(DataError, match=r"notes\.txt is a file, not a folder; pass --data-dir"):
            load_mnist(notes, download=download)
    checksums = write_synthetic(tmp_path)
    one_file = tmp_path / "train-images-idx3-ubyte.gz"
    with pytest.raises(
        DataError,
        match=f"is a file, not a folder.*perhaps {re.escape(str(tmp_path))}, the folder it is in",
    ):
        load_mnist(one_file, checksums=checksums)
    with pytest.raises(DataError, match=r"cannot create the MNIST folder .*notes\.txt"):
        download_mnist(notes, checksums=checksums)


def test_the_file_table_is_a_leaf_that_loading_and_download_share() -> None:
    def imported(module: str) -> set[str]:
        path = Path(importlib.import_module(module).__file__ or "")
        tree = ast.parse(path.read_text())
        return {n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}

    assert not {m for m in imported("reparam.data._mnist_files") if m.startswith("reparam")}
    assert "reparam.data.mnist" not in imported("reparam.data._download")
    assert "reparam.data._mnist_files" in imported("reparam.data._download")


def _replace(folder: Path, name: str, content: bytes) -> dict[str, str]:
    checksums = write_synthetic(folder)
    (folder / f"{name}.gz").write_bytes(gzip.compress(content))
    return {**checksums, name: hashlib.md5(content).hexdigest()}


def test_truncated_file_is_refused_even_with_a_matching_checksum(tmp_path: Path) -> None:
    name = "train-images-idx3-ubyte"
    raw = tmp_path / "raw"
    write_idx(raw, synthetic_arrays()[name])
    checksums = _replace(tmp_path, name, raw.read_bytes()[:-10])
    with pytest.raises(DataError, match=r"truncated.*needs 4704 bytes of data, found 4694"):
        load_mnist(tmp_path, checksums=checksums)


def test_wrong_magic_is_refused(tmp_path: Path) -> None:
    content = struct.pack(">HBB", 0x0102, 0x08, 1) + bytes(100)
    checksums = _replace(tmp_path, "train-labels-idx1-ubyte", content)
    with pytest.raises(DataError, match="not an idx file"):
        load_mnist(tmp_path, checksums=checksums)


def test_idx_reader_rejects_bad_headers() -> None:
    with pytest.raises(IdxFormatError, match="too short"):
        read_idx_bytes(b"\x00\x00", name="f")
    with pytest.raises(IdxFormatError, match="not unsigned byte"):
        read_idx_bytes(struct.pack(">HBBI", 0, 0x0D, 1, 1) + bytes(4), name="f")
    with pytest.raises(IdxFormatError, match="trailing bytes"):
        read_idx_bytes(struct.pack(">HBBI", 0, 0x08, 1, 2) + bytes(3), name="f")


def test_corrupt_gzip_is_a_clear_error(tmp_path: Path) -> None:
    checksums = write_synthetic(tmp_path)
    (tmp_path / "t10k-images-idx3-ubyte.gz").write_bytes(b"not gzip at all")
    with pytest.raises(DataError, match="not a valid gzip file"):
        load_mnist(tmp_path, checksums=checksums)


def test_download_verifies_and_writes_only_good_files(tmp_path: Path) -> None:
    mirror = tmp_path / "mirror"
    checksums = write_synthetic(mirror)
    archives = {name: md5(mirror / f"{name}.gz") for name in checksums}
    target = tmp_path / "data"
    bad_mirror = tmp_path / "bad"
    bad_mirror.mkdir()
    for name in checksums:  # a mirror serving wrong content
        (bad_mirror / f"{name}.gz").write_bytes(gzip.compress(b"junk"))
    with pytest.raises(DataError, match=r"could not download .*MD5 .* expected"):
        download_mnist(
            target, mirrors=[bad_mirror.as_uri() + "/"], archive_md5=archives, checksums=checksums
        )
    assert list(target.iterdir()) == []
    mirrors = [bad_mirror.as_uri() + "/", mirror.as_uri() + "/"]  # falls through to the good one
    download_mnist(target, mirrors=mirrors, archive_md5=archives, checksums=checksums)
    assert load_mnist(target, checksums=checksums).train_labels.shape == (96,)


@pytest.mark.mnist
def test_real_mnist(mnist_dir: Path) -> None:
    data = load_mnist(mnist_dir)
    assert data.train_images.shape == (60000, 28, 28) and data.test_images.shape == (10000, 28, 28)
    assert data.train_labels[:10].tolist() == [5, 0, 4, 1, 9, 2, 1, 3, 1, 4]
    assert data.test_labels.bincount().tolist()[0] == 980


def test_batches_cover_each_item_once_reproducibly() -> None:
    x = torch.arange(50)
    first = [b for (b,) in iterate_batches((x,), 16, torch.Generator().manual_seed(3))]
    again = [b for (b,) in iterate_batches((x,), 16, torch.Generator().manual_seed(3))]
    assert [len(b) for b in first] == [16, 16, 16, 2]
    assert torch.equal(torch.cat(first).sort().values, x)
    assert all(torch.equal(a, b) for a, b in zip(first, again, strict=True))
    order = epoch_order(50, torch.Generator().manual_seed(3))
    resumed = list(batch_slices(order, 16, start=2))
    assert all(torch.equal(a, b) for a, b in zip(resumed, first[2:], strict=True))


def test_binarization_is_bernoulli_of_the_intensity() -> None:
    # Each pixel's mean over 4000 draws must match its intensity (z-test, rate 1e-4
    # over all 6 pixels); deterministic rounding, a wrong binarization, is rejected.
    images = torch.tensor([[0, 10, 64, 128, 200, 255]], dtype=torch.uint8).expand(4000, 6)
    g = torch.Generator().manual_seed(0)
    draws = present(images, "binary", g).double()
    assert set(draws.unique().tolist()) <= {0.0, 1.0}
    intensity = images[0].double() / 255
    assert_mean(draws, intensity)
    rounded = present(images, "grayscale", None).round().double() + 0 * draws
    interior = slice(1, 5)
    z = mean_z_scores(rounded[:, interior], intensity[interior])
    assert (z.abs() > z_threshold(count=4)).all()
    assert torch.equal(present(images[:1], "grayscale", None)[0, [0, 5]], torch.tensor([0.0, 1.0]))
