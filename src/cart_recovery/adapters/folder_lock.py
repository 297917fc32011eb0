"""The data folder's lock: ``serve`` holds it while it runs, ``restore`` while it replaces the
database, so neither runs under the other.

An ``fcntl`` lock on ``serve.lock`` in the folder: the kernel releases it when the process
ends, however it ends, so a lock left by a killed process is never in the way (the file stays;
only the lock counts). The file holds the holder's pid, for the message.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path
from types import TracebackType

LOCK_NAME = "serve.lock"


class FolderInUse(Exception):
    """Another process holds the folder."""

    def __init__(self, folder: Path, pid: str) -> None:
        super().__init__(f"{folder} is in use by process {pid or 'unknown'}")
        self.folder = folder
        self.pid = pid


class FolderLock:
    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.path = folder / LOCK_NAME
        self._fd: int | None = None

    def acquire(self) -> None:
        """Take the lock now or raise ``FolderInUse`` (never waits)."""
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            pid = os.read(fd, 32).decode("ascii", "replace").strip()
            os.close(fd)
            raise FolderInUse(self.folder, pid) from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            os.ftruncate(self._fd, 0)
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> FolderLock:
        self.acquire()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()
