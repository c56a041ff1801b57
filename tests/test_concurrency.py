"""Writers and readers at the same time, with real processes: one writer at a time, readers
always see one whole generation, and a lock left by a killed writer blocks nobody.

The lock is held either by a real `clusterqa index` that has work to do (its embedding takes
far longer than a second process needs to reach the lock) or, where the outcome must not depend
on timing at all, by this test process itself through `clusterqa.lock.writer_lock`.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from clusterqa.lock import LOCK_FILE, is_locked, writer_lock
from conftest import (
    catalog_rows,
    clone_workspace,
    index_problems,
    live_generation,
    marker,
    run_cli,
    seed_index_folder,
    synthetic_path,
    synthetic_text,
    write_synthetic_corpus,
)

DOCUMENTS = 24


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory, encoder_dir: Path) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("concurrency")
    write_synthetic_corpus(root / "seeds", DOCUMENTS, version=0)
    index = seed_index_folder(root / "index", encoder_dir)
    result = run_cli("index", "--seeds", str(root / "seeds"), "--index", str(index))
    assert result.returncode == 0, result.stderr
    return {"seeds": root / "seeds", "index": index, "root": root}


@pytest.fixture
def ws(base: dict[str, Path], tmp_path: Path) -> dict[str, Path]:
    """A copy of the base index whose every document was rewritten: the next `index` must embed them all."""
    ws = clone_workspace(base, tmp_path / "ws")
    for number in range(DOCUMENTS):
        synthetic_path(ws["seeds"], number).write_text(synthetic_text(number, 1), "utf-8")
    return ws


def start(ws: dict[str, Path], *args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "clusterqa", *args, "--seeds", str(ws["seeds"]), "--index", str(ws["index"])],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "HF_HUB_OFFLINE": "1", "COLUMNS": "200"},
    )


def wait_until_locked(ws: dict[str, Path], process: subprocess.Popen) -> None:
    for _ in range(600):
        if is_locked(ws["index"]):
            return
        assert process.poll() is None, process.communicate()
        time.sleep(0.02)
    raise AssertionError("the index process never took the lock")


def cli(ws: dict[str, Path], *args: str) -> subprocess.CompletedProcess:
    return run_cli(*args, "--seeds", str(ws["seeds"]), "--index", str(ws["index"]))


def one_generation(index: Path, passages: list[dict]) -> set[str]:
    """The published generations whose catalog holds every one of `passages`."""
    holders = set()
    for generation in (index / "generations").iterdir():
        if generation.name.startswith("."):
            continue
        rows = {(s, t) for s, t, _ in catalog_rows(generation)}
        if all((p["source"], p["text"]) in rows for p in passages):
            holders.add(generation.name)
    return holders


def test_two_index_runs_at_once_one_builds_the_other_waits(ws: dict[str, Path]) -> None:
    first, second = start(ws, "index"), start(ws, "index")
    results = [(p, *p.communicate(timeout=300)) for p in (first, second)]
    for process, _, stderr in results:
        assert process.returncode == 0, stderr
        assert "Traceback" not in stderr
    built = [(p, err) for p, _, err in results if f"indexed {DOCUMENTS} documents" in err]
    idle = [(p, err) for p, _, err in results if "index is up to date" in err]
    assert len(built) == 1 and len(idle) == 1, [err for _, _, err in results]
    assert f"({DOCUMENTS} embedded, {DOCUMENTS} changed)" in built[0][1]
    # The one that found nothing to do had waited for the other. The holder writes its pid into
    # the lock file just after taking the lock, so a waiter that looked in between names no pid.
    waited = [line for line in idle[0][1].splitlines() if "waiting for another clusterqa process" in line]
    assert len(waited) == 1, idle[0][1]
    assert "(pid" not in waited[0] or f"(pid {built[0][0].pid})" in waited[0]
    assert index_problems(ws["index"]) == []
    texts = "\n".join(t for _, t, _ in catalog_rows(live_generation(ws["index"])))
    assert all(marker(n, 1) in texts for n in range(DOCUMENTS))


def test_a_second_index_with_wait_0_refuses_while_one_runs(ws: dict[str, Path]) -> None:
    live = live_generation(ws["index"])
    first = start(ws, "index")
    wait_until_locked(ws, first)
    second = cli(ws, "index", "--wait", "0")
    _, first_err = first.communicate(timeout=300)
    assert second.returncode == 1, second.stderr
    busy = f"another clusterqa process (pid {first.pid}) is rebuilding {ws['index']}; try again when it finishes"
    assert second.stderr.strip().splitlines() == [f"clusterqa: error: {busy}"]
    assert first.returncode == 0, first_err
    assert live_generation(ws["index"]) != live
    assert index_problems(ws["index"]) == []


def test_index_waits_for_the_lock_and_refuses_with_wait_0(ws: dict[str, Path]) -> None:
    """The same two outcomes with the lock held by this process, so no timing is involved."""
    live = live_generation(ws["index"])
    with writer_lock(ws["index"], 0):
        refused = cli(ws, "index", "--wait", "0")
        assert refused.returncode == 1
        assert f"another clusterqa process (pid {os.getpid()}) is rebuilding" in refused.stderr
        assert len(refused.stderr.strip().splitlines()) == 1
        waiting = start(ws, "index")
        for _ in range(600):  # until it says it is waiting (it cannot finish while we hold the lock)
            line = waiting.stderr.readline()
            assert line, "index exited without waiting"
            if "waiting for another clusterqa process" in line:
                assert f"(pid {os.getpid()})" in line
                break
        assert waiting.poll() is None
        assert live_generation(ws["index"]) == live
    _, rest = waiting.communicate(timeout=300)
    assert waiting.returncode == 0, rest
    assert f"indexed {DOCUMENTS} documents" in rest
    assert index_problems(ws["index"]) == []


def test_ask_while_index_runs_answers_from_one_whole_generation(ws: dict[str, Path]) -> None:
    old = live_generation(ws["index"])
    writer = start(ws, "index")
    wait_until_locked(ws, writer)
    question = f"How many units did report {marker(3, 1)} count?"
    refreshing = cli(ws, "ask", question, "--json")
    plain = cli(ws, "ask", question, "--json", "--no-refresh")
    _, writer_err = writer.communicate(timeout=300)
    assert writer.returncode == 0, writer_err
    for result in (refreshing, plain):
        assert result.returncode in (0, 3), result.stderr
        assert "Traceback" not in result.stderr
        passages = json.loads(result.stdout)["passages"]
        assert passages
        assert one_generation(ws["index"], passages), "the passages come from no single generation"
    # The refreshing ask found the writer busy and answered from the index as it was.
    assert "another process is updating the index: answering from the index as it is" in refreshing.stderr
    assert old.name in one_generation(ws["index"], json.loads(refreshing.stdout)["passages"])
    assert index_problems(ws["index"]) == []


def test_ask_answers_from_the_old_generation_while_the_lock_is_held(ws: dict[str, Path]) -> None:
    old = live_generation(ws["index"])
    question = f"How many units did report {marker(3, 1)} count?"
    with writer_lock(ws["index"], 0):
        result = cli(ws, "ask", question, "--json")
    assert result.returncode in (0, 3), result.stderr
    assert "another process is updating the index: answering from the index as it is" in result.stderr
    passages = json.loads(result.stdout)["passages"]
    assert old.name in one_generation(ws["index"], passages)
    assert not [p for p in passages if marker(3, 1) in p["text"]]
    assert live_generation(ws["index"]) == old


def test_a_lock_left_by_a_killed_index_does_not_block_the_next(ws: dict[str, Path]) -> None:
    live = live_generation(ws["index"])
    killed = start(ws, "index")
    wait_until_locked(ws, killed)
    killed.send_signal(signal.SIGKILL)
    killed.communicate(timeout=60)
    assert killed.returncode == -signal.SIGKILL
    assert (ws["index"] / LOCK_FILE).read_text() == str(killed.pid)  # the file stays; the lock went with the process
    assert not is_locked(ws["index"])
    assert live_generation(ws["index"]) == live

    result = cli(ws, "index", "--wait", "0")
    assert result.returncode == 0, result.stderr
    assert f"indexed {DOCUMENTS} documents" in result.stderr
    assert "waiting" not in result.stderr
    assert index_problems(ws["index"]) == []
    assert not [p for p in (ws["index"] / "generations").iterdir() if p.name.startswith(".tmp-")]
