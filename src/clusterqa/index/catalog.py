"""Passages and their documents in SQLite, with an FTS5 full-text index over the passage text.

One file per generation, written once by the indexer and then only read. Readers fetch
just the rows they show, so a question never loads the whole catalog.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence
from functools import cached_property
from pathlib import Path

from ..errors import IndexCorruptError
from ..models import Chunk, DocumentInfo, Passage
from .lexical import bigram_text, has_cjk, is_cjk_text

SCHEMA = """
CREATE TABLE documents (
    id INTEGER PRIMARY KEY,
    source TEXT NOT NULL UNIQUE,
    title TEXT NOT NULL,
    date TEXT,
    sha256 TEXT NOT NULL
);
CREATE TABLE passages (
    id INTEGER PRIMARY KEY,          -- the passage's row in the FAISS index
    document_id INTEGER NOT NULL REFERENCES documents(id),
    ordinal INTEGER NOT NULL,
    char_start INTEGER NOT NULL,
    char_end INTEGER NOT NULL,
    line_start INTEGER NOT NULL,
    line_end INTEGER NOT NULL,
    text TEXT NOT NULL,
    text_hash TEXT NOT NULL,
    section TEXT NOT NULL DEFAULT '',  -- heading path, " › "-joined
    page_start INTEGER,              -- paged formats (PDF): pages, with line_start/line_end counted in them
    page_end INTEGER
);
CREATE INDEX passages_by_document ON passages(document_id, ordinal);
CREATE TABLE sentences (             -- answer candidates, embedded at build time
    passage_id INTEGER NOT NULL,
    start INTEGER NOT NULL,          -- [start, end) in the passage text
    end INTEGER NOT NULL,
    context_start INTEGER NOT NULL,  -- the context span [context_start, end) adds the sentence before
    vector BLOB NOT NULL,            -- float16 embedding of the sentence
    context_vector BLOB NOT NULL     -- float16 embedding of the context span
);
CREATE INDEX sentences_by_passage ON sentences(passage_id);
CREATE VIRTUAL TABLE passages_fts USING fts5(
    text, content='passages', content_rowid='id', tokenize='porter unicode61 remove_diacritics 2'
);
-- CJK-bearing passages as their space-separated character pairs (lexical.bigram_text), rowid = passage id;
-- contentless: the text is in passages, BM25 needs only the index.
CREATE VIRTUAL TABLE passages_cjk USING fts5(terms, content='', tokenize='unicode61');
"""


SentenceRow = tuple[int, int, int, int, bytes, bytes]


def write_catalog(
    path: Path, documents: Sequence[tuple[DocumentInfo, Sequence[Chunk]]], sentences: Iterable[SentenceRow] = ()
) -> None:
    """Write documents, their passages (ids 0..N-1 in the given order) and the answer sentences."""
    db = sqlite3.connect(path)
    try:
        db.executescript("PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF;" + SCHEMA)
        passage_id = 0
        with db:
            for doc_id, (doc, chunks) in enumerate(documents):
                db.execute(
                    "INSERT INTO documents VALUES (?, ?, ?, ?, ?)",
                    (doc_id, doc.source, doc.title, doc.date, doc.sha256),
                )
                rows = []
                pairs = []
                for c in chunks:
                    if has_cjk(c.text):
                        pairs.append((passage_id, bigram_text(c.text)))
                    rows.append(
                        (
                            passage_id,
                            doc_id,
                            c.ordinal,
                            c.char_start,
                            c.char_end,
                            c.line_start,
                            c.line_end,
                            c.text,
                            c.text_hash,
                            c.section,
                            c.page_start,
                            c.page_end,
                        )
                    )
                    passage_id += 1
                db.executemany("INSERT INTO passages VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
                db.executemany("INSERT INTO passages_cjk(rowid, terms) VALUES (?, ?)", pairs)
            db.executemany("INSERT INTO sentences VALUES (?, ?, ?, ?, ?, ?)", sentences)
            db.execute("INSERT INTO passages_fts(passages_fts) VALUES ('rebuild')")
    finally:
        db.close()


class Catalog:
    """Read access to one generation's passages.sqlite."""

    def __init__(self, path: Path) -> None:
        if not path.is_file():
            raise IndexCorruptError(f"{path} is missing; run `clusterqa index --rebuild`")
        self.path = path
        try:
            self.db = sqlite3.connect(f"{path.as_uri()}?mode=ro&immutable=1", uri=True)
            self.db.execute("SELECT count(*) FROM documents").fetchone()
        except sqlite3.DatabaseError as exc:
            raise IndexCorruptError(f"{path} is not a readable catalog ({exc}); run `clusterqa index --rebuild`") from None

    def close(self) -> None:
        self.db.close()

    def passages(self, ids: Iterable[int]) -> dict[int, Passage]:
        ids = list(ids)
        if not ids:
            return {}
        marks = ",".join("?" * len(ids))
        rows = self._query(
            "SELECT p.id, d.source, d.title, d.date, p.text, p.char_start, p.char_end, p.line_start, p.line_end, p.section, "
            f"p.page_start, p.page_end FROM passages p JOIN documents d ON d.id = p.document_id WHERE p.id IN ({marks})",
            ids,
        )
        return {row[0]: Passage(*row) for row in rows}

    def sentences(self, ids: Sequence[int]) -> list[tuple[int, int, int, int, bytes, bytes]]:
        """Answer candidates of the given passages: (passage id, start, end, context start, vector, context vector)."""
        if not ids:
            return []
        marks = ",".join("?" * len(ids))
        return self._query(
            f"SELECT passage_id, start, end, context_start, vector, context_vector FROM sentences "
            f"WHERE passage_id IN ({marks}) ORDER BY passage_id, start",
            list(ids),
        )

    def chunks_of(self, source: str) -> list[Chunk]:
        """The stored passages of one document, to carry over unchanged into a new generation,
        with their section and answer candidates."""
        rows = self._query(
            "SELECT d.source, p.ordinal, p.text, p.char_start, p.char_end, p.line_start, p.line_end, p.text_hash, "
            "p.section, p.id, p.page_start, p.page_end FROM passages p JOIN documents d ON d.id = p.document_id "
            "WHERE d.source = ? ORDER BY p.ordinal",
            (source,),
        )
        candidates: dict[int, list[tuple[int, int, int]]] = {row[9]: [] for row in rows}
        if rows:
            marks = ",".join("?" * len(rows))
            for pid, start, end, context_start in self._query(
                f"SELECT passage_id, start, end, context_start FROM sentences WHERE passage_id IN ({marks}) "
                "ORDER BY passage_id, start",
                [row[9] for row in rows],
            ):
                candidates[pid].append((start, end, context_start))
        return [Chunk(*row[:9], candidates=tuple(candidates[row[9]]), page_start=row[10], page_end=row[11]) for row in rows]

    def ids_of(self, source: str) -> list[int]:
        rows = self._query(
            "SELECT p.id FROM passages p JOIN documents d ON d.id = p.document_id WHERE d.source = ? ORDER BY p.ordinal",
            (source,),
        )
        return [r[0] for r in rows]

    def count(self) -> int:
        return self._query("SELECT count(*) FROM passages", ())[0][0]

    def match(self, expression: str, limit: int, table: str = "passages_fts") -> list[tuple[int, float]]:
        """FTS5 BM25 search; returns (passage id, score) with higher scores better.

        `table`: passages_fts (stemmed words) or passages_cjk (CJK character pairs, `match_cjk`).
        """
        if table == "passages_cjk" and not self.has_cjk_text:
            return []
        if table == "passages_fts":
            from .lexical_budget import bounded_expression

            expression = bounded_expression(self.db, expression, self.passage_count)
        rows = self._query(
            f"SELECT rowid, bm25({table}) FROM {table} WHERE {table} MATCH ? ORDER BY bm25({table}) LIMIT ?",
            (expression, limit),
        )
        # SQLite's bm25() is negated so that ascending order is best-first.
        return [(int(rowid), -float(score)) for rowid, score in rows]

    def match_cjk(self, expression: str, limit: int) -> list[tuple[int, float]]:
        return self.match(expression, limit, "passages_cjk")

    @cached_property
    def passage_count(self) -> int:
        """Passages in the catalog (ids are 0..N-1): one b-tree descent, where count(*) reads them all."""
        return int(self._query("SELECT coalesce(max(id) + 1, 0) FROM passages", ())[0][0])

    @cached_property
    def has_cjk_table(self) -> bool:
        """Catalogs written before CJK support have no bigram table: their CJK words match nothing, as before."""
        return bool(self._query("SELECT 1 FROM sqlite_master WHERE name = 'passages_cjk'", ()))

    @cached_property
    def has_cjk_text(self) -> bool:
        """Whether any passage holds CJK text (an English corpus skips the CJK table altogether)."""
        return self.has_cjk_table and bool(self._query("SELECT 1 FROM passages_cjk LIMIT 1", ()))

    @cached_property
    def has_cjk_passages(self) -> bool:
        """Whether any passage is written in CJK (lexical.is_cjk_text), not merely quoting a name in it."""
        if not self.has_cjk_text:
            return False
        try:  # row by row: a Chinese corpus answers at its first passage
            rows = self.db.execute("SELECT text FROM passages WHERE id IN (SELECT rowid FROM passages_cjk)")
            return any(is_cjk_text(text) for (text,) in rows)
        except sqlite3.DatabaseError as exc:
            raise self._unreadable(exc) from None

    @cached_property
    def only_cjk_passages(self) -> bool:
        """Whether every passage holds CJK characters (a folder written in Chinese, Japanese or Korean)."""
        return self.has_cjk_text and self._query("SELECT count(*) FROM passages_cjk", ())[0][0] == self.count()

    def document_frequencies(self, terms: Sequence[str]) -> tuple[dict[str, int], int]:
        """How many passages contain each term (through the same tokenizers as the search), and how many there are.

        A CJK pair is counted in the CJK table; a word in either table (CJK text may hold it inside a run).
        """
        counts = {}
        for term in terms:
            quoted = '"' + term.replace('"', '""') + '"'
            if not self.has_cjk_text:
                sql, params = "SELECT count(*) FROM passages_fts WHERE passages_fts MATCH ?", (quoted,)
            elif has_cjk(term):
                sql, params = "SELECT count(*) FROM passages_cjk WHERE passages_cjk MATCH ?", (quoted,)
            else:
                sql = (
                    "SELECT count(*) FROM (SELECT rowid FROM passages_fts WHERE passages_fts MATCH ? "
                    "UNION SELECT rowid FROM passages_cjk WHERE passages_cjk MATCH ?)"
                )
                params = (quoted, quoted)
            counts[term] = self._query(sql, params)[0][0]
        return counts, self.count()

    def _query(self, sql: str, params: Sequence[object]) -> list[tuple]:
        try:
            return self.db.execute(sql, params).fetchall()
        except sqlite3.DatabaseError as exc:
            raise self._unreadable(exc) from None

    def _unreadable(self, exc: sqlite3.DatabaseError) -> IndexCorruptError:
        return IndexCorruptError(f"{self.path} cannot be read ({exc}); run `clusterqa index --rebuild`")
