"""Atomic, durable file writes: the one helper behind checkpoints, run files and downloads."""

from __future__ import annotations

import gzip
import os
import stat
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

import pytest
import torch

from reparam._files import write_atomically, write_bytes_atomically, write_text_atomically
from reparam.data._download import download_mnist
from reparam.runs import new_run_folder
from reparam.training import save_checkpoint
from tests.mnist_files import md5, write_synthetic


def test_writes_and_replaces_leaving_only_the_file(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    write_text_atomically(path, "first\n")
    write_text_atomically(path, "second\n")
    assert path.read_text() == "second\n"
    assert [p.name for p in tmp_path.iterdir()] == ["notes.txt"]


def test_the_new_file_has_the_usual_permissions(tmp_path: Path) -> None:
    reference = tmp_path / "reference"
    reference.write_bytes(b"x")
    write_bytes_atomically(tmp_path / "written", b"x")
    mode = stat.S_IMODE((tmp_path / "written").stat().st_mode)
    assert mode == stat.S_IMODE(reference.stat().st_mode)


def _fails_halfway(handle: BinaryIO) -> None:
    handle.write(b"half of the new content")
    raise RuntimeError("disk full")


def _interrupted(handle: BinaryIO) -> None:
    handle.write(b"half")
    raise KeyboardInterrupt


@pytest.mark.parametrize(
    ("write", "error"), [(_fails_halfway, RuntimeError), (_interrupted, KeyboardInterrupt)]
)
def test_a_failed_write_keeps_the_old_file_and_leaves_no_temporary_file(
    tmp_path: Path, write: Callable[[BinaryIO], None], error: type[BaseException]
) -> None:
    path = tmp_path / "checkpoint.pt"
    path.write_bytes(b"old")
    with pytest.raises(error):
        write_atomically(path, write)
    assert path.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["checkpoint.pt"]


def test_a_failed_rename_leaves_no_temporary_file(tmp_path: Path) -> None:
    target = tmp_path / "taken"
    target.mkdir()
    (target / "inside").write_text("a folder cannot be replaced by a file")
    with pytest.raises(OSError):
        write_bytes_atomically(target, b"new")
    assert [p.name for p in tmp_path.iterdir()] == ["taken"]


def _count_syncs(monkeypatch: pytest.MonkeyPatch) -> dict[str, int]:
    """Count ``os.fsync`` calls on files and on folders (the real call still runs)."""
    counts = {"file": 0, "folder": 0}
    real = os.fsync

    def counting(descriptor: int) -> None:
        kind = "folder" if stat.S_ISDIR(os.fstat(descriptor).st_mode) else "file"
        counts[kind] += 1
        real(descriptor)

    monkeypatch.setattr(os, "fsync", counting)
    return counts


def _write_run_file(folder: Path) -> None:
    run = new_run_folder(folder / "run")
    run.write_json(run.config, {"a": 1})


def _write_checkpoint(folder: Path) -> None:
    save_checkpoint({"w": torch.zeros(3)}, folder / "checkpoint.pt")


def _download(folder: Path) -> None:
    mirror = folder / "mirror"
    checksums = write_synthetic(mirror)
    archives = {name: md5(mirror / f"{name}.gz") for name in checksums}
    download_mnist(
        folder / "data", mirrors=[mirror.as_uri() + "/"], archive_md5=archives, checksums=checksums
    )
    assert gzip.decompress((folder / "data" / "t10k-labels-idx1-ubyte.gz").read_bytes())


@pytest.mark.skipif(os.name == "nt", reason="Windows cannot sync folders")
@pytest.mark.parametrize(
    ("write", "files"), [(_write_run_file, 1), (_write_checkpoint, 1), (_download, 4)]
)
def test_every_writer_syncs_the_file_and_its_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, write: Callable[[Path], None], files: int
) -> None:
    counts = _count_syncs(monkeypatch)
    write(tmp_path)
    assert counts == {"file": files, "folder": files}
