"""Updating the index in a process of its own, so that a question never waits minutes for it.

The process is a plain `clusterqa index` (same lock, same generations), detached from the
terminal, with its output in index/update.log.
"""

from __future__ import annotations

import os
import subprocess
import sys

from ..config import Settings

# Changes up to this many bytes of text are indexed before answering (a few seconds at the
# measured build rate, see benchmarks/build.py); larger ones are indexed in the background.
INLINE_UPDATE_BYTES = 64 * 1024
LOG_FILE = "update.log"


def start_update(settings: Settings) -> int:
    """Start `clusterqa index` for these settings in a new session; returns its pid."""
    settings.index.mkdir(parents=True, exist_ok=True)
    command = [
        sys.executable,
        "-m",
        "clusterqa",
        "index",
        "--seeds",
        str(settings.seeds),
        "--index",
        str(settings.index),
        "--model",
        settings.model,
        "--wait",
        "0",
        *([] if settings.use_ignore_files else ["--no-ignore"]),
    ]
    # A PostgreSQL store goes by environment, not argument: its URL may hold a password (`ps` shows arguments).
    env = {**os.environ, "CLUSTERQA_STORE": settings.store} if settings.store else None
    with open(settings.index / LOG_FILE, "ab") as log:
        process = subprocess.Popen(
            command, stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True, close_fds=True, env=env
        )
    return process.pid


def describe_size(n: int) -> str:
    if n < 1024 * 1024:
        return f"{max(1, round(n / 1024))} KB"
    return f"{n / (1024 * 1024):.1f} MB"
