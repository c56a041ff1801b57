"""Shared fixtures: the real model (exported to ONNX once per test session), real files, the real CLI."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SEEDS = ROOT / "seeds"
QUESTIONS = Path(__file__).with_name("seed_questions.jsonl")


@pytest.fixture(scope="session", autouse=True)
def private_user_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Tests never read or write the real user cache (~/.cache/clusterqa): subprocesses inherit this."""
    cache = tmp_path_factory.mktemp("xdg-cache")
    os.environ["XDG_CACHE_HOME"] = str(cache)
    os.environ.pop("CLUSTERQA_CACHE", None)
    return cache


@pytest.fixture(scope="session")
def encoder_dir(private_user_cache: Path) -> Path:
    """The default model exported to ONNX once, into the tests' user cache, where every index finds it."""
    from clusterqa.config import DEFAULT_MODEL
    from clusterqa.embedding.encoder_store import ensure_encoder

    directory, _ = ensure_encoder(DEFAULT_MODEL, warn=lambda _: None)
    return directory


def seed_index_folder(index: Path, encoder_dir: Path) -> Path:
    """An index folder for a test; the encoder is shared through the user cache, so nothing is copied."""
    assert (encoder_dir / "encoder.json").exists()
    return index


@pytest.fixture
def workspace(tmp_path: Path, encoder_dir: Path) -> dict[str, Path]:
    """A private copy of the seeds and an empty index folder (with the encoder) for one test."""
    seeds = tmp_path / "seeds"
    shutil.copytree(SEEDS, seeds)
    index = seed_index_folder(tmp_path / "index", encoder_dir)
    return {"seeds": seeds, "index": index, "root": tmp_path}


@pytest.fixture(scope="session")
def built_seeds_index(tmp_path_factory: pytest.TempPathFactory, encoder_dir: Path) -> dict[str, Path]:
    """One index of the repository's seeds, built once and only read by the tests that use it."""
    root = tmp_path_factory.mktemp("seedindex")
    seeds = root / "seeds"
    shutil.copytree(SEEDS, seeds)
    index = seed_index_folder(root / "index", encoder_dir)
    result = run_cli("index", "--seeds", str(seeds), "--index", str(index))
    assert result.returncode == 0, result.stderr
    return {"seeds": seeds, "index": index, "root": root}


def run_cli(*args: str, env: dict[str, str] | None = None, timeout: float = 300, **kwargs) -> subprocess.CompletedProcess:
    """Run `python -m clusterqa ARGS` as a real process."""
    full_env = {**os.environ, "HF_HUB_OFFLINE": "1", "COLUMNS": "200", **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "clusterqa", *args],
        capture_output=True,
        text=True,
        env=full_env,
        timeout=timeout,
        **kwargs,
    )


def ask_json(workspace: dict[str, Path], question: str, *extra: str) -> tuple[int, dict | None, str]:
    result = run_cli("ask", question, "--json", "--seeds", str(workspace["seeds"]), "--index", str(workspace["index"]), *extra)
    data = json.loads(result.stdout) if result.stdout.strip() else None
    return result.returncode, data, result.stderr


def load_questions() -> list[dict]:
    return [json.loads(line) for line in QUESTIONS.read_text("utf-8").splitlines() if line.strip()]


# --- Helpers for the index life-cycle tests (incremental, kill, concurrency, bad inputs, watch) ---

_WORD_LIST = (
    "cluster factory province export output market steel textile robot battery chip valve pump motor fiber "
    "glass paper ceramic furniture garment shoe lamp cable bearing mould port rail bridge harbour tractor"
)
_WORDS = _WORD_LIST.split()


def synthetic_text(number: int, version: int = 0, sentences: int = 4) -> str:
    """A short document (one passage) whose sentences occur in no other document or version.

    Its marker word `marker(number, version)` occurs in every sentence, so FTS5 and `ask` can find it.
    """
    import random

    rng = random.Random(number * 1000 + version)
    lines = [f"Synthetic report {marker(number, version)}", ""]
    for s in range(sentences):
        w = rng.sample(_WORDS, 5)
        lines.append(
            f"Report {marker(number, version)} counted {rng.randint(10, 99999)} {w[0]} units in zone {number * 10 + s}, "
            f"beside the {w[1]} {w[2]} and the {w[3]} {w[4]}."
        )
    return "\n".join(lines) + "\n"


def marker(number: int, version: int) -> str:
    """One word, never a prefix of another document's or version's marker."""
    return f"qz{number:03d}v{version:03d}"


def synthetic_path(seeds: Path, number: int) -> Path:
    return seeds / f"report{number:03d}.txt"


def write_synthetic_corpus(seeds: Path, count: int, version: int = 0, sentences: int = 4) -> list[Path]:
    seeds.mkdir(parents=True, exist_ok=True)
    paths = []
    for number in range(count):
        path = synthetic_path(seeds, number)
        path.write_text(synthetic_text(number, version, sentences), "utf-8")
        paths.append(path)
    return paths


def clone_workspace(source: dict[str, Path], root: Path) -> dict[str, Path]:
    """A private copy of a built workspace; file mtimes are kept, so the copy's index is not stale."""
    root.mkdir(parents=True, exist_ok=True)
    seeds, index = root / "seeds", root / "index"
    shutil.copytree(source["seeds"], seeds)
    shutil.copytree(source["index"], index)
    # An index belongs to its documents folder: the copy belongs to the copied folder.
    for manifest in index.glob("generations/*/manifest.json"):
        data = json.loads(manifest.read_text("utf-8"))
        manifest.write_text(json.dumps({**data, "seeds": str(seeds)}, indent=1, ensure_ascii=False), "utf-8")
    return {"seeds": seeds, "index": index, "root": root}


def live_generation(index: Path) -> Path:
    return index / "generations" / (index / "CURRENT").read_text("utf-8").strip()


def catalog_rows(generation: Path) -> list[tuple[str, str, str]]:
    """(source, text, text hash) of every passage of one generation, in passage-id order."""
    import sqlite3

    db = sqlite3.connect(f"{(generation / 'passages.sqlite').as_uri()}?mode=ro", uri=True)
    try:
        return db.execute(
            "SELECT d.source, p.text, p.text_hash FROM passages p JOIN documents d ON d.id = p.document_id ORDER BY p.id"
        ).fetchall()
    finally:
        db.close()


def fts_sources(generation: Path, expression: str) -> list[str]:
    """Sources of the passages the generation's FTS5 index matches for `expression`."""
    import sqlite3

    db = sqlite3.connect(f"{(generation / 'passages.sqlite').as_uri()}?mode=ro", uri=True)
    try:
        return [
            row[0]
            for row in db.execute(
                "SELECT d.source FROM passages_fts f JOIN passages p ON p.id = f.rowid "
                "JOIN documents d ON d.id = p.document_id WHERE passages_fts MATCH ?",
                (expression,),
            )
        ]
    finally:
        db.close()


def index_problems(index: Path) -> list[str]:
    """What is wrong with the live index: CURRENT must name a complete generation whose manifest,
    catalog (passages, documents, FTS5) and FAISS index agree. Empty when consistent."""
    import sqlite3

    import faiss

    try:
        generation = live_generation(index)
    except OSError as exc:
        return [f"CURRENT unreadable: {exc}"]
    if generation.name.startswith(".tmp-"):
        return [f"CURRENT names an unfinished build {generation.name}"]
    try:
        manifest = json.loads((generation / "manifest.json").read_text("utf-8"))
    except (OSError, ValueError) as exc:
        return [f"{generation.name}: manifest unreadable: {exc}"]
    problems = []
    passages = manifest["passages"]
    listed = sum(e["passages"] for e in manifest["documents"].values())
    if listed != passages:
        problems.append(f"{generation.name}: manifest documents list {listed} passages, total says {passages}")
    try:
        db = sqlite3.connect(f"{(generation / 'passages.sqlite').as_uri()}?mode=ro", uri=True)
        try:
            count = db.execute("SELECT count(*) FROM passages").fetchone()[0]
            sources = {row[0] for row in db.execute("SELECT source FROM documents")}
            fts = db.execute("SELECT count(*) FROM passages_fts WHERE passages_fts MATCH 'qz* OR the'").fetchone()[0]
        finally:
            db.close()
    except sqlite3.DatabaseError as exc:
        return [*problems, f"{generation.name}: catalog unreadable: {exc}"]
    if count != passages:
        problems.append(f"{generation.name}: catalog has {count} passages, manifest {passages}")
    if sources != set(manifest["documents"]):
        problems.append(f"{generation.name}: catalog documents differ from the manifest's")
    if passages and fts == 0:
        problems.append(f"{generation.name}: FTS5 index is empty")
    try:
        dense = faiss.read_index(str(generation / "dense.faiss"))
    except Exception as exc:  # faiss raises RuntimeError with a C++ message
        return [*problems, f"{generation.name}: dense.faiss unreadable: {exc}"]
    if dense.ntotal != passages or dense.d != manifest["model"]["dim"]:
        problems.append(f"{generation.name}: dense.faiss has {dense.ntotal} vectors of dim {dense.d}, manifest {passages}")
    return problems


# --- The PostgreSQL store: one real server (pgserver bundles PostgreSQL and pgvector) per session ---


@pytest.fixture(scope="session")
def pg_server() -> Iterator[str]:
    """A PostgreSQL server with pgvector in a temporary data folder, stopped and deleted at the end.

    As root (this machine, CI), pgserver runs the server as a `pgserver` system user it creates:
    PostgreSQL refuses to run as root. The folder's path is short: the server's socket lives in it.
    """
    import tempfile

    import pgserver

    server = pgserver.get_server(tempfile.mkdtemp(prefix="cqa-pg-"), cleanup_mode="delete")
    try:
        yield server.get_uri()
    finally:
        server.cleanup()


_databases = iter(range(1_000_000))


def new_database(server_url: str, prefix: str = "t") -> str:
    """An empty database of its own on the session's server; its URL."""
    from urllib.parse import urlsplit

    import psycopg

    name = f"{prefix}_{next(_databases)}"
    with psycopg.connect(server_url, autocommit=True) as admin:
        admin.execute(f"CREATE DATABASE {name}")
    return urlsplit(server_url)._replace(path=f"/{name}").geturl()


@pytest.fixture
def pg_database(pg_server: str) -> str:
    return new_database(pg_server)
