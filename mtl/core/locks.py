"""Exclusive locks for writers: an OS file lock that dies with the process.

A run directory (``<run>/.lock``) and a sweep item (``<sweep>/.status/<i>.lock``) are
written by one process at a time. The lock is ``fcntl.flock`` on a small file: the
kernel drops it when the holder exits, however it exits (``kill -9`` included), so a
crashed run never leaves a stale lock behind and nothing has to be cleaned up. The
lock file stays in place (deleting a lock file races with a process about to lock
it); its content names the holder (pid, host, command, time) for error messages.

Taking a lock is one system call with ``LOCK_NB``: there is no read-then-write gap,
and a second writer learns at once that it is second. On Linux NFS clients flock is
carried over the network (NFS byte-range locks); on a file system without
cross-node locks (Lustre mounted ``localflock``) it guards one node only.
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from mtl.core.errors import UserError

LOCK = ".lock"


class Busy(UserError):
    """The lock is held by another live process (exit code 2)."""


class FileLock:
    """An exclusive, non-blocking ``flock`` on ``path`` (created if missing)."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self._fd: int | None = None

    def acquire(self) -> bool:
        """Take the lock and record this process in the file; False if another holds it."""
        import fcntl

        made_dir, made_file = not self.path.parent.exists(), not self.path.exists()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o666)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        except OSError as exc:  # e.g. ENOSYS: Lustre mounted without flock
            os.close(fd)
            with contextlib.suppress(OSError):  # leave nothing behind
                if made_file:
                    self.path.unlink()
                if made_dir:
                    self.path.parent.rmdir()
            raise UserError(
                f"cannot lock '{self.path}' ({exc.strerror}): the file system does not "
                "support file locks; put the runs on one that does (Lustre: mount with -o flock)"
            ) from None
        except BaseException:
            os.close(fd)
            raise
        self._fd = fd
        text = json.dumps(
            {
                "pid": os.getpid(),
                "host": platform.node(),
                "command": " ".join(["mtl", *sys.argv[1:]]),
                "since": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            }
        )
        os.ftruncate(fd, 0)
        os.pwrite(fd, (text + "\n").encode(), 0)
        return True

    def release(self) -> None:
        """Let the lock go (closing the file releases it); a no-op if not held."""
        if self._fd is not None:
            fd, self._fd = self._fd, None
            os.close(fd)

    def holder(self) -> dict[str, Any]:
        """Who wrote the lock file last (the holder while it is held); {} if unknown."""
        try:
            value = json.loads(self.path.read_text())
        except (OSError, ValueError):
            return {}
        return value if isinstance(value, dict) else {}

    def describe_holder(self) -> str:
        h = self.holder()
        if not h:
            return "another process"
        return f"pid {h.get('pid')} on {h.get('host')} since {h.get('since')}: {h.get('command')}"


def held_elsewhere(path: Path) -> bool | None:
    """Whether some live process holds the lock at ``path`` (this one included, through
    another open of the file): a probe that takes the lock and lets it go at once.
    None when it cannot be told (the file cannot be opened for writing, which NFS
    needs for an exclusive lock)."""
    import fcntl

    try:
        fd = os.open(path, os.O_RDWR)
    except FileNotFoundError:
        return False
    except OSError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    except OSError:
        return None
    finally:
        os.close(fd)  # closing releases a lock the probe took
    return False


_HELD: dict[Path, tuple[FileLock, int]] = {}


@contextlib.contextmanager
def run_lock(run_dir: Path) -> Iterator[None]:
    """Hold ``<run_dir>/.lock`` for the block (re-entrant in one process).

    A second process gets a :class:`Busy` error naming the holder. The directory is
    created if missing (the lock file lives in it).
    """
    key = Path(run_dir).resolve()
    if key in _HELD:
        lock, depth = _HELD[key]
        _HELD[key] = (lock, depth + 1)
        try:
            yield
        finally:
            _HELD[key] = (lock, depth)
        return
    lock = FileLock(key / LOCK)
    if not lock.acquire():
        raise Busy(
            f"run directory '{run_dir}' is being written by another mtl process "
            f"({lock.describe_holder()}); wait for it to end, or stop it (Ctrl-C, or create "
            f"'{Path(run_dir) / 'STOP'}') and resume afterwards"
        )
    _HELD[key] = (lock, 1)
    try:
        yield
    finally:
        del _HELD[key]
        lock.release()
