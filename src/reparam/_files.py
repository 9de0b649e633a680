"""Replacing a file atomically and durably: readers see the old content or the new one.

:func:`write_atomically` is the one way this package writes a file that must
never be seen half-written (checkpoints, run settings, metrics, downloads):

1. ``write`` fills a new temporary file in the target's folder (the same file
   system, so the rename below cannot turn into a copy);
2. the file is flushed and ``fsync``-ed, so its bytes are on disk;
3. :func:`os.replace` renames it over the target (atomic on POSIX and Windows);
4. the folder is ``fsync``-ed too, so the rename itself survives a power cut:
   the Linux fsync(2) manual notes that syncing a file does not sync the folder
   entry that names it (skipped on Windows, which cannot open folders).

When anything fails, the temporary file is removed and the target is untouched.
A full disk is an :class:`OSError` with ``errno.ENOSPC`` that names the target
(see :func:`no_space_left`).

>>> import tempfile, pathlib
>>> path = pathlib.Path(tempfile.mkdtemp()) / "greeting.txt"
>>> write_text_atomically(path, "hello\\n")
>>> path.read_text()
'hello\\n'
>>> sorted(p.name for p in path.parent.iterdir())
['greeting.txt']
"""

from __future__ import annotations

import errno
import os
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

_FULL = {errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)}
"""A full disk, or a full quota on it."""
_UNSUPPORTED = {errno.EINVAL, errno.ENOTSUP, errno.EBADF}
"""``fsync`` on a folder fails with these where the file system cannot sync folders."""


def write_atomically(path: Path, write: Callable[[BinaryIO], object]) -> None:
    """Create or replace ``path`` with the bytes ``write`` puts into a binary file handle.

    See the module docstring for the steps. The temporary file is
    ``<name>.<random>.tmp`` next to ``path``, created exclusively with the usual
    permissions (those of :func:`open`), so two writers never share one.
    """
    temporary = path.with_name(f"{path.name}.{uuid.uuid4().hex[:12]}.tmp")
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    try:
        descriptor = os.open(temporary, flags, 0o666)
        try:
            with os.fdopen(descriptor, "wb") as handle:
                write(handle)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(temporary, path)
        except BaseException:
            temporary.unlink(missing_ok=True)
            raise
    except Exception as error:
        if no_space_left(error):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path)) from error
        raise
    _sync_folder(path.parent)


def no_space_left(error: BaseException) -> bool:
    """Whether ``error`` or an error that caused it is a full disk (``ENOSPC``, or
    ``EDQUOT``: a full quota), as when :func:`torch.save` fails on one."""
    seen: BaseException | None = error
    for _ in range(16):  # causes and contexts, however they are chained
        if seen is None:
            return False
        if isinstance(seen, OSError) and seen.errno in _FULL:
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def write_bytes_atomically(path: Path, content: bytes) -> None:
    """:func:`write_atomically` for ``content``."""
    write_atomically(path, lambda handle: handle.write(content))


def write_text_atomically(path: Path, text: str) -> None:
    """:func:`write_atomically` for ``text`` encoded as UTF-8."""
    write_bytes_atomically(path, text.encode("utf-8"))


def _sync_folder(folder: Path) -> None:
    if os.name == "nt":
        return
    descriptor = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    except OSError as error:
        if error.errno not in _UNSUPPORTED:
            raise
    finally:
        os.close(descriptor)
