"""`clusterqa index --watch`: a real watcher process picks up new files, survives a failed rebuild,
and stops cleanly on Ctrl-C; `watch_and_index` itself with real files and a recording reindex."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from clusterqa.config import resolve_settings
from clusterqa.errors import NoDocumentsError
from clusterqa.index.watch import ENV_STOP_AFTER, DocumentFilter, watch_and_index
from conftest import ask_json, clone_workspace, index_problems

POLLS = 60  # bounded waits: a poll every POLL_SLEEP seconds, never a time limit on the result
POLL_SLEEP = 0.5


class Watcher:
    """A `clusterqa index --watch` process whose stderr lines are collected as they arrive."""

    def __init__(self, ws: dict[str, Path], env: dict[str, str] | None = None) -> None:
        self.lines: list[str] = []
        self.process = subprocess.Popen(
            [sys.executable, "-m", "clusterqa", "index", "--watch", "--seeds", str(ws["seeds"]), "--index", str(ws["index"])],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, "HF_HUB_OFFLINE": "1", **(env or {})},
            # As in a terminal: a test run started in the background (nohup, `&`) inherits an
            # ignored SIGINT, and Ctrl-C could then never reach the watcher.
            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
        )
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            self.lines.append(line.rstrip("\n"))

    def wait_for(self, text: str, after: int = 0) -> int:
        """Index of the first stderr line (from `after` on) containing `text`."""
        for _ in range(POLLS * 2):
            for i in range(after, len(self.lines)):
                if text in self.lines[i]:
                    return i
            assert self.process.poll() is None, "watcher exited:\n" + "\n".join(self.lines)
            time.sleep(POLL_SLEEP / 2)
        raise AssertionError(f"no {text!r} on the watcher's stderr:\n" + "\n".join(self.lines))

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
        try:
            code = self.process.wait(timeout=60)
        finally:
            if self.process.poll() is None:
                self.process.kill()
        self.reader.join(timeout=10)
        return code


def poll_ask(ws: dict[str, Path], question: str, expected: str) -> dict:
    """Ask (without refreshing) until the top passage holds `expected`; the watcher must do the indexing."""
    data = None
    for _ in range(POLLS):
        code, data, stderr = ask_json(ws, question, "--no-refresh")
        assert code in (0, 3), stderr
        if data["passages"] and expected in data["passages"][0]["text"]:
            return data
        time.sleep(POLL_SLEEP)
    raise AssertionError(f"the watcher never indexed {expected!r}; last answer: {data}")


def test_index_watch_picks_up_changes_survives_errors_and_stops_on_ctrl_c(
    built_seeds_index: dict[str, Path], tmp_path: Path
) -> None:
    ws = clone_workspace(built_seeds_index, tmp_path / "ws")
    watcher = Watcher(ws)
    try:
        ready = watcher.wait_for("watching")
        (ws["seeds"] / "new").mkdir()
        (ws["seeds"] / "new" / "zorblax.md").write_text(
            "# Zorblax\n\nThe Zorblax Gadget Cluster in Quzhou assembles 7,770 widgets every day.\n", "utf-8"
        )
        data = poll_ask(ws, "How many widgets does the Zorblax Gadget Cluster assemble?", "7,770 widgets")
        assert data["passages"][0]["source"] == "new/zorblax.md"

        # A failed rebuild (every document hidden away) is reported and the watch goes on.
        stash = ws["seeds"] / ".stash"
        stash.mkdir()
        for path in sorted(ws["seeds"].rglob("*.*")):
            if path.is_file() and stash not in path.parents:
                path.rename(stash / path.name)
        failed = watcher.wait_for("still watching", ready)
        assert "no readable documents" in watcher.lines[failed]
        assert watcher.process.poll() is None
        for path in sorted(stash.iterdir()):
            path.rename(ws["seeds"] / path.name)
        (ws["seeds"] / "later.txt").write_text(
            "The Quibble Valve Cluster in Lishui shipped 3,141 valves to Ningbo last spring.\n", "utf-8"
        )
        data = poll_ask(ws, "How many valves did the Quibble Valve Cluster ship?", "3,141 valves")
        assert data["passages"][0]["source"] == "later.txt"
    finally:
        code = watcher.stop()
    stderr = "\n".join(watcher.lines)
    assert code in (0, 130), stderr
    assert "Traceback" not in stderr
    assert index_problems(ws["index"]) == []


def test_watch_stops_after_n_rebuilds_when_asked(built_seeds_index: dict[str, Path], tmp_path: Path) -> None:
    ws = clone_workspace(built_seeds_index, tmp_path / "ws")
    watcher = Watcher(ws, env={ENV_STOP_AFTER: "1"})
    try:
        watcher.wait_for("watching")
        (ws["seeds"] / "one.txt").write_text("The Plinth Cluster cast 404 bronze bells in one year.\n", "utf-8")
        code = watcher.process.wait(timeout=POLLS * POLL_SLEEP * 4)
    finally:
        watcher.stop()
    stderr = "\n".join(watcher.lines)
    assert code == 0, stderr
    assert "stopping after 1 rebuild" in stderr
    assert "indexed 6 documents" in stderr
    assert "Traceback" not in stderr


def test_watch_and_index_reports_failed_rebuilds_and_counts_batches(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    seeds = tmp_path / "seeds"
    seeds.mkdir()
    settings = resolve_settings(seeds, tmp_path / "index")
    monkeypatch.setenv(ENV_STOP_AFTER, "2")
    calls: list[str] = []
    messages: list[str] = []
    ready, failed = threading.Event(), threading.Event()

    def reindex() -> None:
        calls.append("reindex")
        if len(calls) == 2:
            raise NoDocumentsError("first batch fails")

    def warn(message: str) -> None:
        messages.append(message)
        if message.startswith("watching"):
            ready.set()
        if "still watching" in message:
            failed.set()

    def edit() -> None:
        ready.wait(60)
        (seeds / "a.txt").write_text("first", "utf-8")
        failed.wait(60)
        (seeds / "b.md").write_text("second", "utf-8")

    editor = threading.Thread(target=edit, daemon=True)
    editor.start()
    done = threading.Event()
    worker = threading.Thread(target=lambda: (watch_and_index(settings, reindex, warn), done.set()), daemon=True)
    worker.start()
    worker.join(timeout=120)
    assert done.is_set(), messages
    # One catch-up rebuild when the watcher is ready, then one per batch; the failure did not stop it.
    assert calls == ["reindex"] * 3
    assert messages[0].startswith(f"watching {seeds}")
    assert messages[1] == "error: first batch fails (still watching)"
    assert messages[2] == f"stopping after 2 rebuilds ({ENV_STOP_AFTER})"


def test_watch_and_index_returns_quietly_on_ctrl_c(tmp_path: Path) -> None:
    settings = resolve_settings(tmp_path, tmp_path / "index")
    messages: list[str] = []

    def reindex() -> None:
        raise KeyboardInterrupt

    watch_and_index(settings, reindex, messages.append)  # must return, not raise
    assert messages == []


def test_document_filter_follows_what_the_scan_indexes(tmp_path: Path) -> None:
    seeds = tmp_path / "seeds"
    (seeds / "sub").mkdir(parents=True)
    (seeds / "notes.log").write_text("x", "utf-8")
    keep = DocumentFilter(seeds)
    assert keep(None, str(seeds / "a.txt"))
    assert keep(None, str(seeds / "sub" / "B.MD"))
    assert keep(None, str(seeds / "sub"))  # a folder moved in
    assert keep(None, str(seeds / "gone"))  # a folder moved out
    assert not keep(None, str(seeds / "notes.log"))
    assert not keep(None, str(seeds / "gone.bak"))
    assert not keep(None, str(seeds / ".hidden.txt"))
    assert not keep(None, str(seeds / ".git" / "a.txt"))
    assert keep(None, str(seeds / "sub" / ".gitignore"))  # ignore rules decide what is a document
    assert keep(None, str(seeds / ".clusterqaignore"))


def test_a_deleted_and_recreated_folder_is_watched_again(tmp_path: Path) -> None:
    """Issue 10: after the folder was deleted and made again, files added to it were never seen."""
    seeds = tmp_path / "seeds"
    seeds.mkdir()
    settings = resolve_settings(seeds, tmp_path / "index")
    messages: list[str] = []
    calls: list[bool] = []  # per reindex: whether back.txt was there
    ready, gone, caught_up = threading.Event(), threading.Event(), threading.Event()

    def reindex() -> None:
        calls.append((seeds / "back.txt").exists())
        if gone.is_set() and seeds.exists():
            caught_up.set()
        if calls[-1]:
            raise KeyboardInterrupt  # seen: end the watch as Ctrl-C would

    def warn(message: str) -> None:
        messages.append(message)
        if message.startswith("watching"):
            ready.set()
        if "is gone" in message:
            gone.set()

    def edit() -> None:
        ready.wait(60)
        seeds.rmdir()
        gone.wait(60)
        seeds.mkdir()
        caught_up.wait(60)  # the new watcher is ready: what happens now must be seen by it
        (seeds / "back.txt").write_text("back", "utf-8")

    editor = threading.Thread(target=edit, daemon=True)
    editor.start()
    worker = threading.Thread(target=watch_and_index, args=(settings, reindex, warn), daemon=True)
    worker.start()
    worker.join(timeout=120)
    assert not worker.is_alive(), messages
    assert calls[-1] is True and calls.count(True) == 1, (calls, messages)
    assert f"{seeds} is gone; waiting for it to come back (Ctrl-C stops)" in messages
