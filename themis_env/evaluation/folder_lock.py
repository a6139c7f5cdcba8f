"""An exclusive lock on a results folder, so two leaderboards never write the same records.

The lock is ``fcntl.flock`` on ``<folder>/.lock``, which holds the holder's pid. The kernel
releases a ``flock`` when its process ends, however it ends (even SIGKILL), so a stale lock
file never blocks anyone. Without ``fcntl`` (Windows) the folder is not locked.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from themis_env.errors import ConfigError

try:
    import fcntl
except ImportError:  # pragma: no cover (not on POSIX)
    fcntl = None  # type: ignore[assignment]

__all__ = ["LOCK_FILE", "FolderBusy", "FolderLock"]

LOCK_FILE = ".lock"


class FolderBusy(ConfigError):
    """Another process holds the folder's lock."""


class FolderLock:
    """Hold ``<folder>/.lock`` while a ``with`` block runs.

    Args:
        folder: The results folder (it must exist).
        wait: Wait for the holder to finish instead of refusing at once.
        what: What the folder is, for messages (``--out folder``).
    """

    def __init__(self, folder: str | Path, wait: bool = False, what: str = "folder") -> None:
        self.path = Path(folder) / LOCK_FILE
        self.wait = wait
        self.what = what
        self._fd: int | None = None

    def holder(self) -> str:
        """The pid written by the holder (``unknown`` when unreadable)."""
        try:
            return self.path.read_text(encoding="utf-8").strip() or "unknown"
        except OSError:
            return "unknown"

    def acquire(self) -> None:
        """Take the lock.

        Raises:
            FolderBusy: when another process holds it and ``wait`` is False (names its pid).
        """
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        if fcntl is not None:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                if not self.wait:
                    os.close(fd)
                    raise FolderBusy(
                        f"{self.what} {self.path.parent} is in use by another leaderboard "
                        f"(pid {self.holder()}); wait for it to finish, pass --wait to queue "
                        "behind it, or choose another --out folder"
                    ) from None
                print(
                    f"waiting for the leaderboard running in {self.path.parent} "
                    f"(pid {self.holder()}) to finish",
                    file=sys.stderr,
                    flush=True,
                )
                fcntl.flock(fd, fcntl.LOCK_EX)
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._fd = fd

    def release(self) -> None:
        """Let the lock go (the pid stays in the file; it means nothing without the lock)."""
        if self._fd is not None:
            os.close(self._fd)  # closing the descriptor drops the flock
            self._fd = None

    def __enter__(self) -> FolderLock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()
