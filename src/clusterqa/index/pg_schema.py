"""PostgreSQL store: connecting, the schema, and the words its lexical index holds.

One database holds one team's index: documents, passages with their vector (pgvector, HNSW index
with inner-product ops) and their words (tsvector, GIN index), answer sentences, the manifest of
the live generation, and the embedding cache (vectors by text hash, so that a member indexing for
the first time takes them from the database instead of embedding again).

psycopg and pgvector are imported here only: a question against a local index never loads them.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from ..errors import ClusterQAError, first_line
from .lexical import fold, porter

SCHEMA_VERSION = 1
# Any fixed 64-bit key: one writer at a time per database (pg_advisory_lock).
LOCK_KEY = 0x636C7573746572  # "cluster"


class StoreUnavailableError(ClusterQAError):
    """The PostgreSQL store cannot be reached or lacks what it needs."""


def describe(url: str) -> str:
    """The URL without its password, for messages."""
    return re.sub(r"(://[^:/@]*):[^@/]*@", r"\1@", url)


def is_store_url(value: str) -> bool:
    return value.startswith(("postgresql://", "postgres://"))


def connect(url: str, autocommit: bool = True):  # -> psycopg.Connection
    """A connection with pgvector's types registered; every failure is one line saying what to do."""
    import psycopg

    try:
        conn = psycopg.connect(url, autocommit=autocommit, connect_timeout=10)
    except psycopg.ProgrammingError as exc:
        raise StoreUnavailableError(
            f"{describe(url)} is not a usable PostgreSQL URL ({first_line(exc, 200)}); pass --store postgresql://USER@HOST/DATABASE"
        ) from None
    except psycopg.Error as exc:
        raise StoreUnavailableError(
            f"cannot reach PostgreSQL at {describe(url)} ({first_line(exc, 200)}); check the URL and that the server is running"
        ) from None
    try:
        _ensure_extension(conn, url)
    except BaseException:
        conn.close()
        raise
    return conn


def _ensure_extension(conn, url: str) -> None:  # noqa: ANN001
    import psycopg
    from pgvector.psycopg import register_vector

    try:
        installed = conn.execute("SELECT 1 FROM pg_extension WHERE extname = 'vector'").fetchone()
        if not installed:
            with conn.transaction():
                conn.execute("SELECT pg_advisory_xact_lock(%s)", (LOCK_KEY + 1,))
                conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
        register_vector(conn)
    except psycopg.Error as exc:
        raise StoreUnavailableError(
            f"PostgreSQL at {describe(url)} has no pgvector extension ({first_line(exc, 200)}); "
            "install pgvector on the server (or have an administrator run CREATE EXTENSION vector in the database)"
        ) from None


@contextmanager
def failures(url: str, doing: str) -> Iterator[None]:
    """A database error while `doing` becomes one line for the user (the server went away, a table was dropped)."""
    import psycopg

    try:
        yield
    except psycopg.Error as exc:
        raise StoreUnavailableError(
            f"cannot {doing} {describe(url)} ({first_line(exc, 200)}); check that the server is up and the database intact"
        ) from None


def schema(dim: int) -> str:
    """Tables of one database; `dim` is the encoder's dimension (the vector column's type)."""
    return f"""
CREATE TABLE IF NOT EXISTS clusterqa_meta (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    schema_version INTEGER NOT NULL,
    generation TEXT NOT NULL,
    manifest JSONB NOT NULL,
    dim INTEGER NOT NULL,
    words_avg DOUBLE PRECISION NOT NULL,   -- mean word count of a passage (BM25's avgdl)
    cjk_avg DOUBLE PRECISION NOT NULL,     -- mean pair count of the passages with CJK text
    cjk_rows BIGINT NOT NULL               -- how many passages hold CJK text
);
CREATE TABLE IF NOT EXISTS documents (
    id BIGINT PRIMARY KEY,
    source TEXT NOT NULL UNIQUE,
    title TEXT NOT NULL,
    date TEXT,
    sha256 TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS passages (
    id BIGINT PRIMARY KEY,
    document_id BIGINT NOT NULL REFERENCES documents(id),
    ordinal INTEGER NOT NULL,
    char_start INTEGER NOT NULL,
    char_end INTEGER NOT NULL,
    line_start INTEGER NOT NULL,
    line_end INTEGER NOT NULL,
    text TEXT NOT NULL,
    text_hash TEXT NOT NULL,
    section TEXT NOT NULL DEFAULT '',
    page_start INTEGER,
    page_end INTEGER,
    embedding vector({dim}) NOT NULL,
    words TSVECTOR NOT NULL,                -- Porter-stemmed unicode61 words with positions (pg_schema.words_vector)
    nwords INTEGER NOT NULL,
    cjk TSVECTOR,                           -- CJK character pairs (lexical.bigram_text); NULL without CJK text
    ncjk INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS passages_by_document ON passages(document_id, ordinal);
CREATE INDEX IF NOT EXISTS passages_embedding ON passages USING hnsw (embedding vector_ip_ops);
CREATE INDEX IF NOT EXISTS passages_words ON passages USING gin (words);
CREATE INDEX IF NOT EXISTS passages_cjk ON passages USING gin (cjk);
CREATE TABLE IF NOT EXISTS sentences (
    passage_id BIGINT NOT NULL,
    start INTEGER NOT NULL,
    "end" INTEGER NOT NULL,
    context_start INTEGER NOT NULL,
    vector BYTEA NOT NULL,
    context_vector BYTEA NOT NULL
);
CREATE INDEX IF NOT EXISTS sentences_by_passage ON sentences(passage_id);
CREATE TABLE IF NOT EXISTS vector_cache (
    model TEXT NOT NULL, text_hash TEXT NOT NULL, vector BYTEA NOT NULL, PRIMARY KEY (model, text_hash)
);
CREATE TABLE IF NOT EXISTS sentence_cache (
    model TEXT NOT NULL, key TEXT NOT NULL, vectors BYTEA NOT NULL, PRIMARY KEY (model, key)
);
"""


# --- the lexical index: the same words as the local catalog's FTS5 table -------------------------
# FTS5 `porter unicode61 remove_diacritics 2`: tokens are runs of letters and digits, lower-cased,
# diacritics removed, then Porter-stemmed when 3 to 64 characters long. Reproduced here so that
# PostgreSQL's BM25 sees the words FTS5 sees.
_TOKEN = re.compile(r"[^\W_]+", re.UNICODE)


def tokens(text: str) -> list[str]:
    """unicode61 tokens of `text` (lower-cased, diacritics removed), Porter-stemmed as FTS5's porter tokenizer."""
    raw = _TOKEN.findall(fold(text))
    stemmer = porter()
    return [stemmer.stemWord(t) if 3 <= len(t) <= 64 and t.isascii() else t for t in raw]


def plain_tokens(text: str) -> list[str]:
    """unicode61 tokens without stemming (the CJK pairs table)."""
    return _TOKEN.findall(text.lower())


def tsvector_literal(words: list[str]) -> str:
    """A tsvector literal of words with their 1-based positions (term frequency = positions)."""
    positions: dict[str, list[int]] = {}
    for at, word in enumerate(words, start=1):
        if len(word.encode()) < 2000:
            positions.setdefault(word, []).append(min(at, 16383))
    return " ".join(f"{_quote(w)}:{','.join(map(str, p[:256]))}" for w, p in positions.items())


def _quote(word: str) -> str:
    return "'" + word.replace("\\", "\\\\").replace("'", "''") + "'"


def tsquery_any(lexemes: list[str]) -> str:
    return " | ".join(_quote(w) for w in lexemes)


def meta_row(conn) -> dict[str, Any] | None:  # noqa: ANN001
    """The live generation's record, or None when the database holds no index yet."""
    exists = conn.execute("SELECT to_regclass('clusterqa_meta') IS NOT NULL").fetchone()[0]
    if not exists:
        return None
    row = conn.execute(
        "SELECT schema_version, generation, manifest, dim, words_avg, cjk_avg, cjk_rows FROM clusterqa_meta WHERE id = 1"
    ).fetchone()
    if row is None:
        return None
    keys = ("schema_version", "generation", "manifest", "dim", "words_avg", "cjk_avg", "cjk_rows")
    return dict(zip(keys, row, strict=True))
