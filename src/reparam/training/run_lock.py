"""One writer per run folder: an exclusive OS lock held while a run writes.

The lock is ``fcntl.flock`` on the file ``.lock`` inside the run folder (POSIX:
Linux, macOS). The operating system releases it when the holder's process
ends, however it ends, so a lock is never stale; the file itself stays and
only says who held it last (process id, host, start time), so a second
writer can name the holder.

>>> import tempfile
>>> folder = Path(tempfile.mkdtemp())
>>> with RunLock.acquire(folder):
...     RunLock.acquire(folder)
Traceback (most recent call last):
...
reparam.training.run_folder.RunFolderError: run folder ... is in use by process ...
"""

from __future__ import annotations

import datetime
import errno
import json
import os
import socket
from pathlib import Path
from types import TracebackType

from reparam.training.run_folder import LOCK_NAME, RunFolderError

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]


class RunLock:
    """An acquired lock; release it with :meth:`release` or use it as a context manager."""

    def __init__(self, folder: Path, descriptor: int) -> None:
        self.folder = folder
        self._descriptor: int | None = descriptor

    @classmethod
    def acquire(cls, folder: str | Path) -> RunLock:
        """Create ``folder`` if needed and lock it, or raise :class:`RunFolderError`.

        The error names the holder when another process has the lock, and says
        why when the folder cannot be created or written.
        """
        path = Path(folder)
        try:
            path.mkdir(parents=True, exist_ok=True)
            descriptor = os.open(path / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as error:
            raise RunFolderError(_cannot_write(path, error)) from None
        if fcntl is not None:
            try:
                fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as error:
                holder = _read_holder(descriptor)
                os.close(descriptor)
                if error.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                    raise RunFolderError(
                        f"run folder {path} is in use by {holder}; wait for that run to "
                        "finish, stop it, or choose another run folder"
                    ) from None
                raise RunFolderError(_cannot_write(path, error)) from None
        _write_holder(descriptor)
        return cls(path, descriptor)

    def release(self) -> None:
        """Unlock and close the lock file (a second call does nothing)."""
        if self._descriptor is not None:
            os.close(self._descriptor)  # closing the descriptor releases the flock
            self._descriptor = None

    def __enter__(self) -> RunLock:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.release()


def _cannot_write(path: Path, error: OSError) -> str:
    reason = error.strerror or str(error)
    return f"cannot write in run folder {path}: {reason}; choose a run folder in a writable place"


def _write_holder(descriptor: int) -> None:
    started = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
    holder = {"pid": os.getpid(), "host": socket.gethostname(), "started": started}
    os.ftruncate(descriptor, 0)
    os.pwrite(descriptor, json.dumps(holder).encode(), 0)


def _read_holder(descriptor: int) -> str:
    try:
        holder = json.loads(os.pread(descriptor, 4096, 0))
        return f"process {holder['pid']} on {holder['host']} (since {holder['started']})"
    except (OSError, ValueError, KeyError, TypeError):
        return "another process"
