"""Atomic file writes and inter-process locks shared by the cache, reports, baselines and
checkpoints.

Every atomic write goes to a temporary file with a *unique* name (``tempfile.mkstemp``) in the
target's folder and is then renamed over the target (``os.replace``, atomic on POSIX): concurrent
writers of the same file never share a temporary name, so none of them can rename or delete
another's (a fixed ``.name.tmp`` made one of three concurrent ``fplab report`` die with
FileNotFoundError in 1 of 8 rounds).  Readers see the old or the new file, never a torn one.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

__all__ = ["FileLock", "atomic_save", "atomic_write", "atomic_writer"]


def _umask() -> int:
    """The process umask (read by setting and restoring it: there is no getter)."""
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _publish(tmp: str, target: Path) -> None:
    """Give the temporary file the mode a plain ``open(path, "w")`` would (``mkstemp`` makes it
    0600, so reports and baselines were unreadable to a web server or another user), then
    rename it onto ``target``."""
    os.chmod(tmp, 0o666 & ~_umask())
    os.replace(tmp, target)


@contextlib.contextmanager
def atomic_writer(path: str | Path, *, binary: bool = False) -> Iterator[IO[Any]]:
    """Open a unique temporary file next to ``path``; on clean exit fsync it and rename it onto
    ``path``.  On error the temporary file is removed and ``path`` is untouched."""
    target = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        fh_open: IO[Any] = os.fdopen(fd, "wb") if binary else os.fdopen(fd, "w", encoding="utf-8")
        with fh_open as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        _publish(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write(path: str | Path, data: str | bytes) -> None:
    """Write ``data`` (text as UTF-8, or bytes) to ``path`` atomically, under a unique temp name."""
    with atomic_writer(path, binary=isinstance(data, bytes)) as fh:
        fh.write(data)


def atomic_save(path: str | Path, save: Callable[[str], Any]) -> None:
    """Let ``save(tmp_path)`` write a unique temporary file, then rename it onto ``path``."""
    target = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    try:
        save(tmp)
        _publish(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


class FileLock:
    """An exclusive advisory lock on ``path`` (``fcntl.flock``), held until :meth:`release`.

    The kernel drops the lock when the holder exits, even by SIGKILL, so a crashed run never
    leaves a case locked.  Where ``fcntl`` is missing (Windows) locking is a no-op.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._fd: int | None = None

    def acquire(self, *, blocking: bool = True) -> bool:
        """Take the lock; with ``blocking=False`` return False at once if another holds it."""
        try:
            import fcntl
        except ImportError:  # pragma: no cover - not POSIX
            return True
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | (0 if blocking else fcntl.LOCK_NB))
        except BlockingIOError:
            os.close(fd)
            return False
        except BaseException:
            os.close(fd)
            raise
        self._fd = fd
        return True

    def release(self) -> None:
        """Drop the lock (closing the descriptor releases it)."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
