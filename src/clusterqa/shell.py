"""`clusterqa shell`: load the index and the encoder once, then answer question after question."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable
from pathlib import Path

from .config import Settings
from .errors import ClusterQAError
from .service import ask, open_index

PROMPT = "clusterqa> "
QUIT = {"exit", "quit", ":q", "\\q"}


def _history(path: Path):  # noqa: ANN202 - readline is optional (absent on some builds)
    try:
        import readline
    except ImportError:
        return None
    with contextlib.suppress(OSError):
        readline.read_history_file(path)
    readline.set_history_length(1000)
    return readline


def run_shell(settings: Settings, top_k: int, warn: Callable[[str], None]) -> None:
    from . import render
    from .freshness import is_stale

    searcher = open_index(settings, refresh=True, warn=warn)
    history_file = Path.home() / ".clusterqa_history"
    readline = _history(history_file) if sys.stdin.isatty() else None
    interactive = sys.stdin.isatty()
    if interactive:
        sys.stderr.write(f"{searcher.documents} documents loaded. Ask a question; 'exit' or Ctrl-D leaves.\n")
    try:
        while True:
            try:
                question = input(PROMPT if interactive else "")
            except EOFError:
                break
            question = question.strip()
            if not question:
                continue
            if question.lower() in QUIT:
                break
            try:
                if is_stale(searcher.generation, settings):
                    searcher.close()
                    searcher = open_index(settings, refresh=True, warn=warn)
                render.print_result(ask(searcher, question, top_k))
            except ClusterQAError as exc:
                warn(f"error: {exc}")
            sys.stdout.write("\n")
            sys.stdout.flush()
    except KeyboardInterrupt:
        sys.stdout.write("\n")
    finally:
        if readline is not None:
            with contextlib.suppress(OSError):
                readline.write_history_file(history_file)
        searcher.close()
