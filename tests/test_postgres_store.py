"""The PostgreSQL store (`--store postgresql://...`) against a real PostgreSQL with pgvector (pgserver):
the same questions, incremental updates and writer/reader rules as the local store, each test run
over both stores where the behaviour is the same.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import SEEDS, marker, run_cli, synthetic_path, synthetic_text, write_synthetic_corpus

QUESTION = "Which Zhejiang clusters were among the 20 finalists of the 2020 national contest?"
FINALISTS = {"000_7aa0c03ee5abb184.txt", "003_085c679cf2ff36d1.txt"}
SUMMARY = re.compile(r"^indexed (\d+) documents, (\d+) passages \((\d+) embedded(?:, ([^)]*))?\)", re.MULTILINE)


@pytest.fixture(params=["local", "postgresql"])
def store(request: pytest.FixtureRequest) -> str:
    """ "local", or the URL of an empty database of its own on the session's PostgreSQL."""
    if request.param == "local":
        return "local"
    return request.getfixturevalue("pg_database")


def cli(ws: dict[str, Path], store: str, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    where = [] if store == "local" else ["--store", store]
    return run_cli(*args, "--seeds", str(ws["seeds"]), "--index", str(ws["index"]), *where, env=env)


def index(ws: dict[str, Path], store: str) -> tuple[int, int, int, str]:
    result = cli(ws, store, "index")
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    found = SUMMARY.search(result.stderr)
    assert found, result.stderr
    return int(found[1]), int(found[2]), int(found[3]), found[4] or ""


def ask(ws: dict[str, Path], store: str, question: str, *extra: str) -> tuple[int, dict, str]:
    result = cli(ws, store, "ask", question, "--json", *extra)
    return result.returncode, json.loads(result.stdout) if result.stdout.strip() else {}, result.stderr


def synthetic_ws(root: Path, documents: int) -> dict[str, Path]:
    write_synthetic_corpus(root / "seeds", documents, version=0)
    return {"seeds": root / "seeds", "index": root / "index", "root": root}


@pytest.fixture(scope="module")
def seeds_pg(pg_server: str, tmp_path_factory: pytest.TempPathFactory, encoder_dir: Path) -> dict[str, Path | str]:
    """The repository's seeds indexed once into a database of their own (read only by the tests that use it)."""
    from conftest import new_database

    root = tmp_path_factory.mktemp("seeds-pg")
    shutil.copytree(SEEDS, root / "seeds")
    ws = {"seeds": root / "seeds", "index": root / "index", "root": root}
    url = new_database(pg_server, "seeds_pg")
    result = cli(ws, url, "index")
    assert result.returncode == 0, result.stderr
    return {**ws, "url": url}


def test_ask_cites_the_same_passages_from_both_stores(built_seeds_index: dict[str, Path], seeds_pg: dict) -> None:
    for question in (QUESTION, "How many models does the Yueqing electrical industrial cluster offer?"):
        answers = []
        for ws, store in ((built_seeds_index, "local"), (seeds_pg, seeds_pg["url"])):
            code, data, stderr = ask(ws, store, question)
            assert code == 0, stderr
            assert "Traceback" not in stderr
            answers.append(
                (
                    [(p["source"], p["line_start"], p["line_end"], p["text"], p["also_in"]) for p in data["passages"]],
                    (data["answer"]["source"], data["answer"]["line"], data["answer"]["text"]),
                )
            )
        assert answers[0] == answers[1], question
    code, data, _ = ask(seeds_pg, seeds_pg["url"], QUESTION)
    assert {p["source"] for p in data["passages"]} >= FINALISTS


@pytest.mark.parametrize("mode", ["dense", "lexical"])
def test_each_retriever_ranks_alike_in_both_stores(built_seeds_index: dict[str, Path], seeds_pg: dict, mode: str) -> None:
    question = "Which cluster makes electrical equipment in Yueqing?"
    ranked = []
    for ws, store in ((built_seeds_index, "local"), (seeds_pg, seeds_pg["url"])):
        code, data, stderr = ask(ws, store, question, "--mode", mode, "-k", "5")
        assert code in (0, 3), stderr
        ranked.append([(p["source"], p["char_start"]) for p in data["passages"]])
    assert ranked[0] == ranked[1]


def test_a_chinese_question_is_searched_by_translation_in_both_stores(store: str, tmp_path: Path, encoder_dir: Path) -> None:
    """An English folder, one report quoting a name in Chinese characters: still searched by the English
    translations of the question's words (a corpus "with CJK text" by a character, not written in it)."""
    ws = {"seeds": tmp_path / "seeds", "index": tmp_path / "index", "root": tmp_path}
    ws["seeds"].mkdir()
    shutil.copy(SEEDS / "002_741e1901b211ff40.txt", ws["seeds"])
    (ws["seeds"] / "yuan.txt").write_text(
        "The Yuan dynasty\n\nThe Yuan dynasty (元朝) was founded by Kublai Khan in 1271.\n", "utf-8"
    )
    index(ws, store)
    code, data, stderr = ask(ws, store, "数控机床产业集群吸引了哪些重大项目？", "--mode", "lexical", "-k", "1")
    assert code in (0, 3), stderr
    assert "DMG Mori Seiki project" in data["passages"][0]["text"], data["passages"][0]


def test_incremental_rules_hold_in_both_stores(store: str, tmp_path: Path, encoder_dir: Path) -> None:
    """Edit one document and delete another: only the edited one is embedded; `ask` cites the new text,
    never the old or the deleted one."""
    ws = synthetic_ws(tmp_path, 6)
    assert index(ws, store) == (6, 6, 6, "6 added")
    synthetic_path(ws["seeds"], 2).write_text(synthetic_text(2, 1), "utf-8")
    synthetic_path(ws["seeds"], 4).unlink()

    status = cli(ws, store, "status")
    assert status.returncode == 0, status.stderr
    assert "1 added" not in status.stdout and "passages to embed: 1" in status.stdout, status.stdout
    assert index(ws, store) == (5, 5, 1, "1 changed, 1 deleted")
    assert "index is up to date" in cli(ws, store, "index").stderr

    code, data, stderr = ask(ws, store, f"How many units did report {marker(2, 1)} count?", "-k", "10")
    assert code in (0, 3), stderr
    assert data["passages"][0]["source"] == "report002.txt"
    assert marker(2, 1) in data["passages"][0]["text"]
    texts = " ".join(p["text"] for p in data["passages"])
    assert marker(2, 0) not in texts and marker(4, 0) not in texts
    assert "report004.txt" not in {p["source"] for p in data["passages"]}


def test_a_second_member_takes_the_vectors_from_the_database(pg_database: str, tmp_path: Path, encoder_dir: Path) -> None:
    """Another machine (another copy of the folder, other mtimes, no local cache) indexing the same
    database embeds nothing it already holds; a new document of its own is embedded once."""
    first = synthetic_ws(tmp_path / "first", 4)
    assert index(first, pg_database) == (4, 4, 4, "4 added")
    second = {"seeds": tmp_path / "second" / "seeds", "index": tmp_path / "second" / "index"}
    shutil.copytree(first["seeds"], second["seeds"])  # new mtimes
    (second["seeds"] / "extra.txt").write_text(synthetic_text(9, 0), "utf-8")
    assert index(second, pg_database) == (5, 5, 1, "1 added")
    code, data, stderr = ask(first, pg_database, f"How many units did report {marker(9, 0)} count?", "--no-refresh")
    assert code in (0, 3), stderr
    assert data["passages"][0]["source"] == "extra.txt"


def test_a_reader_keeps_its_generation_while_another_member_publishes(
    pg_database: str, tmp_path: Path, encoder_dir: Path
) -> None:
    from clusterqa.index.postgres import PostgresStore

    ws = synthetic_ws(tmp_path, 3)
    index(ws, pg_database)
    store = PostgresStore(pg_database)
    before = store.current()
    reader = before.open()
    try:
        ids = sorted(reader.passages(range(100)))
        old = {i: p.text for i, p in reader.passages(ids).items()}
        synthetic_path(ws["seeds"], 1).write_text(synthetic_text(1, 1), "utf-8")
        (ws["seeds"] / "report000.txt").unlink()
        assert index(ws, pg_database)[:2] == (2, 2)
        assert store.current().name != before.name
        # The open reader still sees the whole old generation, nothing of the new one.
        assert {i: p.text for i, p in reader.passages(range(100)).items()} == old
        assert reader.count() == 3
        assert [s for s, _ in reader.match(f'"{marker(1, 1)}"', 10)] == []
        assert len(reader.match(f'"{marker(0, 0)}"', 10)) == 1
    finally:
        reader.close()
    fresh = store.current().open()
    try:
        assert fresh.count() == 2
        assert len(fresh.match(f'"{marker(1, 1)}"', 10)) == 1
        assert fresh.match(f'"{marker(0, 0)}"', 10) == []
    finally:
        fresh.close()


def test_one_writer_at_a_time_in_both_stores(store: str, tmp_path: Path, encoder_dir: Path) -> None:
    """The lock held by this process (the file lock, or the PostgreSQL advisory lock): `index --wait 0`
    refuses in one line naming it, `ask` answers from the index as it is, and nothing is published."""
    from clusterqa.config import resolve_settings
    from clusterqa.index.protocol import open_store

    ws = synthetic_ws(tmp_path, 3)
    index(ws, store)
    synthetic_path(ws["seeds"], 0).write_text(synthetic_text(0, 1), "utf-8")
    held = open_store(resolve_settings(ws["seeds"], ws["index"], store=None if store == "local" else store))
    live = held.current().name
    with held.writer_lock(0):
        assert held.is_locked()
        refused = cli(ws, store, "index", "--wait", "0")
        assert refused.returncode == 1
        lines = refused.stderr.strip().splitlines()
        assert len(lines) == 1 and "another clusterqa process" in lines[0], refused.stderr
        assert f"pid {os.getpid()})" in lines[0], refused.stderr
        code, data, stderr = ask(ws, store, f"How many units did report {marker(0, 0)} count?")
        assert code in (0, 3), stderr
        assert "another process is updating the index: answering from the index as it is" in stderr
        assert marker(0, 0) in data["passages"][0]["text"]
        assert held.current().name == live
    assert not held.is_locked()
    assert index(ws, store)[2:] == (1, "1 changed")


def test_a_killed_writer_leaves_the_last_index_and_no_lock(pg_database: str, tmp_path: Path, encoder_dir: Path) -> None:
    import signal
    import time

    from clusterqa.index.postgres import PostgresStore

    ws = synthetic_ws(tmp_path, 2)
    index(ws, pg_database)
    store = PostgresStore(pg_database)
    live = store.current().name
    write_synthetic_corpus(ws["seeds"], 40, version=1)
    writer = subprocess.Popen(
        [sys.executable, "-m", "clusterqa", "index", "--seeds", str(ws["seeds"]), "--index", str(ws["index"])]
        + ["--store", pg_database],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, "HF_HUB_OFFLINE": "1"},
    )
    for _ in range(1500):
        if store.is_locked():
            break
        assert writer.poll() is None, writer.communicate()
        time.sleep(0.02)
    writer.send_signal(signal.SIGKILL)
    writer.communicate(timeout=60)
    for _ in range(250):  # the server notices the closed connection
        if not store.is_locked():
            break
        time.sleep(0.02)
    assert not store.is_locked()
    assert store.current().name == live
    reader = store.current().open()
    try:
        assert reader.count() == 2
    finally:
        reader.close()
    assert index(ws, pg_database)[:2] == (40, 40)  # one passage each; what the killed run embedded is reused


@pytest.mark.parametrize(
    "url, says",
    [
        (
            "postgresql://nobody@/clusterqa?host=/nonexistent-socket-dir",
            "cannot reach PostgreSQL at postgresql://nobody@/clusterqa",
        ),
        ("postgresql://u:secret@/db?host=/tmp&bogusparam=1", "is not a usable PostgreSQL URL"),
        ("mysql://localhost/db", "--store takes a PostgreSQL URL"),
    ],
    ids=["server-down", "bad-url", "not-postgresql"],
)
def test_an_unusable_store_is_one_line_and_exit_1(tmp_path: Path, url: str, says: str) -> None:
    ws = synthetic_ws(tmp_path, 1)
    for command in ("ask", "index", "status"):
        args = ("ask", "anything about reports") if command == "ask" else (command,)
        result = cli(ws, url, *args)
        lines = result.stderr.strip().splitlines()
        assert result.returncode == (2 if "mysql" in url else 1), result.stderr
        assert len(lines) == 1 and says in lines[0], result.stderr
        assert "secret" not in result.stderr
    assert not (ws["index"] / "CURRENT").exists()


def test_a_question_against_the_local_store_never_imports_psycopg(built_seeds_index: dict[str, Path]) -> None:
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "clusterqa", "ask", QUESTION, "--seeds", str(built_seeds_index["seeds"]),
         "--index", str(built_seeds_index["index"])],
        capture_output=True, text=True, env={**os.environ, "HF_HUB_OFFLINE": "1"}, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    imported = {line.rsplit("|", 1)[-1].strip() for line in result.stderr.splitlines() if line.startswith("import time:")}
    assert "clusterqa.answering.search" in imported
    assert not {m for m in imported if m.split(".")[0] in ("psycopg", "pgvector", "pgserver")}
