"""An index kept open by a long-running server (`clusterqa mcp`): opened once, refreshed between calls.

All index work runs on one thread: the SQLite catalog belongs to the thread that opened it, and
calls are served one at a time, so a refresh never swaps the searcher under a question. A call
waits at most OPEN_WAIT seconds for the first open (a missing index is built then); after that it
is told to call again, so no call blocks for the minutes a first build of a big folder takes.
"""

from __future__ import annotations

import concurrent.futures
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from ..config import Settings
from ..errors import ClusterQAError

if TYPE_CHECKING:
    from ..answering.search import Searcher

T = TypeVar("T")
Warn = Callable[[str], None]

# Seconds a call waits for the index to open before it is answered "still building, call again";
# opening a built index takes well under a second (the encoder loads meanwhile).
OPEN_WAIT = 20.0


class IndexBusyError(ClusterQAError):
    """The index is still being built for the first time."""


class LiveIndex:
    def __init__(self, settings: Settings, warn: Warn) -> None:
        self.settings = settings
        self._warn = warn
        self._thread = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="clusterqa-index")
        self._searcher: Searcher | None = None
        self._opening: concurrent.futures.Future | None = None
        self._open_started = 0.0
        self.last_error: str | None = None

    def start(self) -> None:
        """Open the index (building it if missing) on the index thread, without waiting for it; once."""
        if self._opening is not None:
            return
        self._open_started = time.monotonic()
        self._opening = self._thread.submit(self._ensure_open)

    def run(self, work: Callable[[Searcher], T], wait: float = OPEN_WAIT) -> T:
        """work(searcher) on the index thread, with the index brought up to date first (the rules of `ask`)."""
        self.start()
        if not self._opening.done():
            concurrent.futures.wait([self._opening], timeout=wait)
            if not self._opening.done():
                raise IndexBusyError(
                    f"the index of {self.settings.seeds} is still being built "
                    f"({time.monotonic() - self._open_started:.0f} s so far); call again in a minute "
                    "(index_status says when it is ready)"
                )
        return self._thread.submit(self._fresh_then, work).result()

    def state(self) -> str:
        """ "opening" (first open or build under way), "ready", or "error" (the last open failed)."""
        if self._opening is None or not self._opening.done():
            return "opening"
        return "ready" if self._searcher is not None else "error"

    def serving(self) -> dict[str, Any] | None:
        """The manifest of the generation calls are answered from (None before the first open)."""
        searcher = self._searcher
        return None if searcher is None else searcher.generation.manifest | {"generation": searcher.generation.name}

    def close(self) -> None:
        self._thread.shutdown(wait=False, cancel_futures=True)

    def _ensure_open(self) -> None:
        from ..service import open_index

        try:
            self._searcher = open_index(self.settings, refresh=True, warn=self._warn)
        except ClusterQAError as exc:
            self.last_error = str(exc)
            self._warn(f"error: {exc}")
            raise
        self.last_error = None

    def _fresh_then(self, work: Callable[[Searcher], T]) -> T:
        from ..service import current_searcher

        if self._searcher is None:  # the first open failed: try again, the folder may have been fixed
            self._ensure_open()
        else:
            self._searcher = current_searcher(self._searcher, self.settings, self._warn)
        return work(self._searcher)
