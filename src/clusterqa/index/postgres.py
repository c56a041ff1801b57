"""The PostgreSQL store (`--store postgresql://...`): a team's index in one database.

The live generation is the rows of `documents`, `passages` and `sentences` plus the manifest in
`clusterqa_meta`; a publish changes them in one transaction (only the documents that changed), so a
reader, which reads in one REPEATABLE READ transaction (pg_reader), sees the old generation or the
new one, never half of it. One writer at a time: a session-level pg_advisory_lock, which the server
drops when the writer's connection ends, however it ends.
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from ..errors import IndexCorruptError, IndexMissingError, LockBusyError, first_line
from ..models import Chunk, DocumentInfo
from .lexical import bigram_text, has_cjk
from .pg_schema import (
    LOCK_KEY,
    SCHEMA_VERSION,
    StoreUnavailableError,
    connect,
    describe,
    failures,
    meta_row,
    plain_tokens,
    schema,
    tokens,
    tsvector_literal,
)


@dataclass(frozen=True)
class PgGeneration:
    """The live generation of a PostgreSQL store, as read at one moment."""

    url: str
    name: str
    manifest: dict[str, Any]

    def open(self):  # -> PgReader
        from .pg_reader import PgReader

        return PgReader(self.url)

    def damage(self) -> str | None:
        """Why the database's rows disagree with its manifest, or None."""
        reader = self.open()
        try:
            found = reader.count()
        finally:
            reader.close()
        expected = self.manifest["passages"]
        return None if found == expected else f"{describe(self.url)} has {found} passages but its manifest lists {expected}"

    def chunks_of(self, sources: Sequence[str]) -> dict[str, list[Chunk]]:
        reader = self.open()
        try:
            return reader.chunks_of(sources)
        finally:
            reader.close()


class PostgresStore:
    """Implements the store protocol (protocol.IndexStore) on PostgreSQL + pgvector."""

    kind = "postgresql"

    def __init__(self, url: str) -> None:
        self.url = url
        self.location = describe(url)
        self._writer = None  # the connection holding the advisory lock, while a build runs

    def current(self) -> PgGeneration:
        conn = connect(self.url)
        try:
            with failures(self.url, "read the index in"):
                meta = meta_row(conn)
        finally:
            conn.close()
        if meta is None:
            raise IndexMissingError(f"no index in {self.location} yet; run `clusterqa index --store URL`")
        if meta["schema_version"] != SCHEMA_VERSION:
            raise IndexCorruptError(
                f"{self.location} holds a clusterqa index of schema {meta['schema_version']}, this clusterqa writes "
                f"{SCHEMA_VERSION}; run `clusterqa index --rebuild --store URL`"
            )
        return PgGeneration(self.url, meta["generation"], meta["manifest"])

    def collect_garbage(self, live: str) -> None:
        """Nothing to collect: a publish replaces rows in place."""

    @contextmanager
    def writer_lock(self, wait_seconds: float = 30.0, on_wait: Callable[[str], None] | None = None) -> Iterator[None]:
        conn = connect(self.url)
        try:
            with failures(self.url, "update the index in"):
                conn.execute(
                    "SELECT set_config('application_name', %s, false)", (f"clusterqa {socket.gethostname()} pid {os.getpid()}",)
                )
                deadline = time.monotonic() + wait_seconds
                told = False
                while not conn.execute("SELECT pg_try_advisory_lock(%s)", (LOCK_KEY,)).fetchone()[0]:
                    holder = self._holder(conn)
                    if time.monotonic() >= deadline:
                        raise LockBusyError(
                            f"another clusterqa process{holder} is updating {self.location}; try again when it finishes"
                        )
                    if on_wait and not told:
                        on_wait(f"waiting for another clusterqa process{holder} to finish updating {self.location}")
                        told = True
                    time.sleep(0.1)
                self._writer = conn
                yield
        finally:
            self._writer = None
            conn.close()  # ends the session: the advisory lock goes with it

    def _holder(self, conn) -> str:  # noqa: ANN001
        row = conn.execute(
            "SELECT a.application_name FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
            "WHERE l.locktype = 'advisory' AND l.granted AND l.objid = %s AND l.classid = %s "
            "AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())",
            (LOCK_KEY & 0xFFFFFFFF, LOCK_KEY >> 32),
        ).fetchone()
        return f" ({row[0]})" if row and row[0] else ""

    def is_locked(self) -> bool:
        conn = connect(self.url)
        try:
            with failures(self.url, "read the index in"):
                return bool(
                    conn.execute(
                        "SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND granted AND objid = %s AND classid = %s "
                        "AND database = (SELECT oid FROM pg_database WHERE datname = current_database())",
                        (LOCK_KEY & 0xFFFFFFFF, LOCK_KEY >> 32),
                    ).fetchone()
                )
        finally:
            conn.close()

    def missing_vectors(self, model_key: str, hashes: set[str]) -> set[str]:
        """Which passage hashes the database's embedding cache lacks (for `status`)."""
        from .pg_cache import PgEmbeddingCache

        conn = connect(self.url)
        try:
            with failures(self.url, "read the index in"):
                if not conn.execute("SELECT to_regclass('vector_cache') IS NOT NULL").fetchone()[0]:
                    return set(hashes)
                return PgEmbeddingCache(conn, model_key, 0).missing(hashes)
        finally:
            conn.close()

    def embedding_cache(self, model_key: str, dim: int):  # -> PgEmbeddingCache
        from .pg_cache import PgEmbeddingCache

        conn = self._writing()
        with conn.transaction():
            conn.execute(schema(dim))
        return PgEmbeddingCache(conn, model_key, dim)

    def _writing(self):  # -> psycopg.Connection
        if self._writer is None:
            raise RuntimeError("PostgresStore: writing needs writer_lock()")
        return self._writer

    def publish(
        self,
        entries: Sequence[tuple[DocumentInfo, Sequence[Chunk]]],
        new: set[str],
        vectors: Callable[[list[Chunk]], tuple[Any, Iterator[tuple]]],
        manifest: dict[str, Any],
        replace_all: bool,
    ) -> PgGeneration:
        """Make `entries` the live generation in one transaction.

        Documents whose source and content hash the database already holds keep their rows (unless
        `replace_all`); sources in `new` get fresh rows; documents no longer listed go. `vectors(chunks)`
        returns the passage vectors of the new chunks (an array filled as the sentence rows are
        consumed) and the iterator of their sentence rows.
        """
        import psycopg

        conn = self._writing()
        dim = int(manifest["model"]["dim"])
        held = {} if replace_all else dict(_rows(conn, "SELECT source, sha256 FROM documents"))
        keep = {info.source for info, _ in entries if info.source not in new and held.get(info.source) == info.sha256}
        fresh = [(info, chunks) for info, chunks in entries if info.source not in keep]
        chunks = [c for _, cs in fresh for c in cs]
        out, sentence_rows = vectors(chunks)
        sentences = list(sentence_rows)  # fills `out`; only the new documents' rows
        name = f"g{time.time_ns():x}-{os.getpid()}"
        try:
            with conn.transaction():
                _prepare(conn, dim, replace_all)
                gone = [s for s in held if s not in keep]
                if replace_all:
                    for table in ("sentences", "passages", "documents"):
                        conn.execute(f"DELETE FROM {table}")
                elif gone:
                    conn.execute(
                        "DELETE FROM sentences WHERE passage_id IN (SELECT p.id FROM passages p JOIN documents d "
                        "ON d.id = p.document_id WHERE d.source = ANY(%s))",
                        (gone,),
                    )
                    conn.execute(
                        "DELETE FROM passages WHERE document_id IN (SELECT id FROM documents WHERE source = ANY(%s))", (gone,)
                    )
                    conn.execute("DELETE FROM documents WHERE source = ANY(%s)", (gone,))
                _insert(conn, fresh, out, sentences)
                words_avg, cjk_avg, cjk_rows, count = conn.execute(
                    "SELECT coalesce(avg(nwords), 0), coalesce(avg(ncjk) FILTER (WHERE cjk IS NOT NULL), 0), "
                    "count(*) FILTER (WHERE cjk IS NOT NULL), count(*) FROM passages"
                ).fetchone()
                if count != manifest["passages"]:
                    raise IndexCorruptError(
                        f"{self.location} would hold {count} passages but the manifest lists {manifest['passages']}; "
                        "run `clusterqa index --rebuild --store URL`"
                    )
                conn.execute(
                    "INSERT INTO clusterqa_meta VALUES (1, %s, %s, %s::jsonb, %s, %s, %s, %s) ON CONFLICT (id) DO UPDATE SET "
                    "schema_version = EXCLUDED.schema_version, generation = EXCLUDED.generation, manifest = EXCLUDED.manifest, "
                    "dim = EXCLUDED.dim, words_avg = EXCLUDED.words_avg, cjk_avg = EXCLUDED.cjk_avg, "
                    "cjk_rows = EXCLUDED.cjk_rows",
                    (SCHEMA_VERSION, name, _json(manifest), dim, float(words_avg), float(cjk_avg), int(cjk_rows)),
                )
        except psycopg.Error as exc:
            raise StoreUnavailableError(
                f"cannot publish the index to {self.location} ({first_line(exc)}); nothing was changed"
            ) from None
        return PgGeneration(self.url, name, manifest)

    def publish_manifest(self, manifest: dict[str, Any]) -> PgGeneration:
        """Only the manifest changes (files touched, skipped files): one UPDATE."""
        conn = self._writing()
        name = f"g{time.time_ns():x}-{os.getpid()}"
        conn.execute("UPDATE clusterqa_meta SET generation = %s, manifest = %s::jsonb WHERE id = 1", (name, _json(manifest)))
        return PgGeneration(self.url, name, manifest)


def _rows(conn, sql: str) -> list[tuple]:  # noqa: ANN001
    return conn.execute(sql).fetchall()


def _json(data: dict[str, Any]) -> str:
    import json

    return json.dumps(data, ensure_ascii=False)


def _prepare(conn, dim: int, replace_all: bool) -> None:  # noqa: ANN001
    """Tables exist, with a vector column of this dimension (a rebuild with another model may change it)."""
    conn.execute(schema(dim))
    held = conn.execute(
        "SELECT atttypmod FROM pg_attribute WHERE attrelid = 'passages'::regclass AND attname = 'embedding'"
    ).fetchone()
    if held and held[0] != dim:
        if not replace_all:
            raise IndexCorruptError(
                f"the database holds vectors of dimension {held[0]}, the model makes {dim}; run `clusterqa index --rebuild`"
            )
        conn.execute("DROP TABLE passages")
        conn.execute(schema(dim))


def _insert(conn, fresh: Sequence[tuple[DocumentInfo, Sequence[Chunk]]], out, sentences: list[tuple]) -> None:  # noqa: ANN001
    """New documents, their passages (with vector and words) and answer sentences, under new ids."""
    doc_id = conn.execute("SELECT coalesce(max(id) + 1, 0) FROM documents").fetchone()[0]
    first_pid = conn.execute("SELECT coalesce(max(id) + 1, 0) FROM passages").fetchone()[0]
    documents, passages = [], []
    row = 0
    for info, chunks in fresh:
        documents.append((doc_id, info.source, info.title, info.date, info.sha256))
        for c in chunks:
            words = tokens(c.text)
            pairs = plain_tokens(bigram_text(c.text)) if has_cjk(c.text) else None
            passages.append(
                (
                    first_pid + row, doc_id, c.ordinal, c.char_start, c.char_end, c.line_start, c.line_end, c.text,
                    c.text_hash, c.section, c.page_start, c.page_end, out[row], tsvector_literal(words), len(words),
                    tsvector_literal(pairs) if pairs is not None else None, len(pairs or ()),
                )
            )  # fmt: skip
            row += 1
        doc_id += 1
    with conn.cursor() as cur:
        cur.executemany("INSERT INTO documents VALUES (%s, %s, %s, %s, %s)", documents)
        cur.executemany(
            "INSERT INTO passages VALUES "
            "(%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s::tsvector, %s, %s::tsvector, %s)",
            passages,
        )
        cur.executemany(
            "INSERT INTO sentences VALUES (%s, %s, %s, %s, %s, %s)",
            [(first_pid + pid, start, end, context_start, v, cv) for pid, start, end, context_start, v, cv in sentences],
        )
