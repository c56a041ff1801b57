"""Keeping Ctrl-C for the main thread, where the shell's readline waits for it.

A signal sent to the process goes to any one thread that does not block it. Taken by a worker
thread (numpy's OpenBLAS server, onnxruntime's or FAISS's pool), Ctrl-C never wakes readline's
select() in the main thread, and the shell sits without a prompt. Threads inherit the mask of the
thread that starts them, so work that may start threads runs with these signals held.
"""

from __future__ import annotations

import contextlib
import signal
from collections.abc import Iterator

_HELD = {signal.SIGINT, signal.SIGTERM} | ({signal.SIGWINCH} if hasattr(signal, "SIGWINCH") else set())


@contextlib.contextmanager
def held_signals() -> Iterator[None]:
    """Ctrl-C, SIGTERM and SIGWINCH blocked in this thread for the block; threads started inside never
    take them, and one that arrives meanwhile is delivered (here) when the block ends."""
    if not hasattr(signal, "pthread_sigmask"):  # not POSIX: nothing to do
        yield
        return
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, _HELD)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


def hold_in_this_thread() -> None:
    """For a worker thread: never take these signals (the threads it starts inherit that)."""
    if hasattr(signal, "pthread_sigmask"):
        signal.pthread_sigmask(signal.SIG_BLOCK, _HELD)
