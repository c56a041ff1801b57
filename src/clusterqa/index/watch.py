"""`clusterqa index --watch`: rebuild the index after each batch of changes to the documents.

watchfiles (inotify/FSEvents, or polling where those are missing) reports changes under the
seeds folder; changes that arrive within DEBOUNCE_MS of each other form one batch and cause one
rebuild. A failed rebuild is reported and the watch goes on; Ctrl-C ends it quietly.
"""

from __future__ import annotations

import os
import stat
import time
from collections.abc import Callable
from pathlib import Path

from ..config import Settings
from ..errors import ClusterQAError
from ..reading.documents import SUFFIXES
from ..reading.ignore import IGNORE_FILES

DEBOUNCE_MS = 500  # changes this close together are one batch (an editor's save, a `cp -r`)
STEP_MS = 100  # how often watchfiles checks whether a batch has gone quiet
READY_TIMEOUT_MS = 300  # how soon an idle watcher reports itself ready
ENV_STOP_AFTER = "CLUSTERQA_WATCH_STOP_AFTER"  # stop after N rebuilds (for scripts and tests)


class DocumentFilter:
    """Accepts changes that can alter what `clusterqa index` sees under the seeds folder.

    Files the scan ignores (other suffixes, hidden files and folders) are dropped. A folder
    moved in or out arrives as one event for the folder, so anything that is not a file
    with another suffix is let through: a spurious rebuild costs a stat of every document.
    """

    def __init__(self, seeds: Path) -> None:
        self.seeds = seeds

    def __call__(self, change: object, path: str) -> bool:
        try:
            parts = Path(path).relative_to(self.seeds).parts
        except ValueError:
            return True  # reported under another spelling of the folder: rebuild to be safe
        if parts and parts[-1] in IGNORE_FILES and not any(part.startswith(".") for part in parts[:-1]):
            return True  # new ignore rules change what is a document
        if not parts or any(part.startswith(".") for part in parts):
            return False
        if parts[-1].lower().endswith(SUFFIXES) or os.path.isdir(path):
            return True
        return not os.path.exists(path) and "." not in parts[-1]  # a folder that went away


def watch_and_index(settings: Settings, reindex: Callable[[], None], warn: Callable[[str], None]) -> None:
    """Call `reindex` after each batch of document changes until Ctrl-C (or N rebuilds, see ENV_STOP_AFTER).

    `reindex` runs once more as soon as the watcher is ready, so a change made between the
    first build and the start of the watch is not missed (an up-to-date index makes it a no-op).
    A documents folder that is deleted (or replaced) is waited for and watched again once it is back.
    """
    from watchfiles import watch

    stop_after = _stop_after(warn)
    rebuilds = 0
    announced = False
    try:
        while True:
            folder = _identity(settings.seeds)
            if folder is None:
                warn(f"{settings.seeds} is gone; waiting for it to come back (Ctrl-C stops)")
                while (folder := _identity(settings.seeds)) is None:
                    time.sleep(STEP_MS / 1000)
            catch_up = True  # reindex once the (new) watcher is ready
            try:
                for changes in watch(
                    settings.seeds,
                    watch_filter=DocumentFilter(settings.seeds),
                    debounce=DEBOUNCE_MS,
                    step=STEP_MS,
                    rust_timeout=READY_TIMEOUT_MS,
                    yield_on_timeout=True,
                    recursive=True,
                ):
                    if catch_up or changes:
                        _reindex(reindex, warn)
                        if not announced:
                            announced = True
                            warn(f"watching {settings.seeds} for changes to {', '.join(SUFFIXES)} files (Ctrl-C stops)")
                        catch_up = False
                        if changes:
                            rebuilds += 1
                            if stop_after and rebuilds >= stop_after:
                                warn(f"stopping after {rebuilds} rebuild{'s' if rebuilds > 1 else ''} ({ENV_STOP_AFTER})")
                                return
                    if _identity(settings.seeds) != folder:
                        break  # the folder went away or was replaced: this watch sees nothing more
                else:
                    return
            except OSError:
                if _identity(settings.seeds) == folder:
                    raise
    except KeyboardInterrupt:
        return
    except OSError as exc:  # e.g. the inotify watch limit
        raise ClusterQAError(
            f"cannot watch {settings.seeds} ({exc}); check that it exists, or set WATCHFILES_FORCE_POLLING=1"
        ) from None


def _identity(folder: Path) -> tuple[int, int] | None:
    """(device, inode) of the folder, or None while it does not exist."""
    try:
        st = os.stat(folder)
    except OSError:
        return None
    return (st.st_dev, st.st_ino) if stat.S_ISDIR(st.st_mode) else None


def _reindex(reindex: Callable[[], None], warn: Callable[[str], None]) -> None:
    try:
        reindex()
    except ClusterQAError as exc:
        warn(f"error: {exc} (still watching)")


def _stop_after(warn: Callable[[str], None]) -> int:
    value = os.environ.get(ENV_STOP_AFTER, "").strip()
    if not value:
        return 0
    try:
        return max(0, int(value))
    except ValueError:
        warn(f"ignoring {ENV_STOP_AFTER}={value!r}: not a whole number")
        return 0
