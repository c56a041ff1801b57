"""One writer at a time: an advisory lock on index/.lock.

flock locks belong to the open file, so the kernel drops them when the holder dies, even by
SIGKILL: a lock left by a killed process needs no clean-up.
"""

from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from .errors import ClusterQAError, LockBusyError

LOCK_FILE = ".lock"


@contextmanager
def writer_lock(
    index: Path,
    wait_seconds: float = 30.0,
    on_wait: Callable[[str], None] | None = None,
    name: str = LOCK_FILE,
    doing: str = "rebuilding",
) -> Iterator[None]:
    """Hold the writer lock `name` of a folder (the index's by default), waiting up to `wait_seconds`."""
    try:
        index.mkdir(parents=True, exist_ok=True)
        fd = os.open(index / name, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        raise ClusterQAError(f"cannot write to index folder {index} ({exc.strerror}); check its permissions") from None
    try:
        deadline = time.monotonic() + wait_seconds
        told = False
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                holder = _holder(fd)
                if time.monotonic() >= deadline:
                    raise LockBusyError(
                        f"another clusterqa process{holder} is {doing} {index}; try again when it finishes"
                    ) from None
                if on_wait and not told:
                    on_wait(f"waiting for another clusterqa process{holder} to finish {doing} {index}")
                    told = True
                time.sleep(0.1)
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        yield
    finally:
        os.close(fd)


def is_locked(index: Path) -> bool:
    """True when some process holds the writer lock right now."""
    try:
        fd = os.open(index / LOCK_FILE, os.O_RDONLY)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        return False
    except BlockingIOError:
        return True
    finally:
        os.close(fd)


def _holder(fd: int) -> str:
    try:
        pid = os.pread(fd, 32, 0).decode().strip()
    except OSError:
        return ""
    return f" (pid {pid})" if pid.isdigit() else ""
