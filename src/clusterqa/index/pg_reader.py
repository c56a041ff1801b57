"""Reading the PostgreSQL store: the calls a question makes (the local store's Catalog and DenseIndex,
answered by SQL), all inside one REPEATABLE READ transaction, so that a question never sees half of
an update another member is publishing.

Lexical ranking: BM25 as SQLite's FTS5 computes it (k1 = 1.2, b = 0.75, idf = ln((N - n + 0.5) /
(n + 0.5)), floored at 1e-6; Robertson and Zaragoza 2009, "The Probabilistic Relevance Framework")
over the same Porter-stemmed unicode61 words (pg_schema.tokens), with term frequencies read from the
tsvector's positions (of the question's words only: setweight + ts_filter keep them before unnest);
PostgreSQL's GIN index finds the candidates. Measured against ts_rank_cd in
benchmarks/pg_store.py.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from functools import cached_property
from typing import Any

import numpy as np

from ..errors import IndexCorruptError, IndexMissingError, first_line
from ..models import Chunk, Passage
from .lexical import has_cjk, is_cjk_text, quoted_terms
from .lexical_budget import applies, postings_budget, rarest_within
from .pg_schema import describe, meta_row, plain_tokens, tokens, tsquery_any

CJK_PAGE = 500  # passages read at a time by has_cjk_passages

K1, B = 1.2, 0.75
_PASSAGE_COLUMNS = (
    "p.id, d.source, d.title, d.date, p.text, p.char_start, p.char_end, p.line_start, p.line_end, p.section, "
    "p.page_start, p.page_end"
)


def _array(value: Any) -> Any:
    """pgvector's Vector (pgvector >= 0.4 returns it) or an ndarray."""
    return value.to_numpy() if hasattr(value, "to_numpy") else value


def bm25_idf(rows: int, hits: int) -> float:
    """FTS5's idf (sqlite ext/fts5/fts5_aux.c): ln((N - n + 0.5) / (n + 0.5)), at least 1e-6."""
    idf = math.log((rows - hits + 0.5) / (hits + 0.5)) if rows else 0.0
    return idf if idf > 0 else 1e-6


class PgReader:
    """One consistent view of the live generation: the catalog and dense calls of a Searcher."""

    def __init__(self, url: str) -> None:
        import psycopg

        from .pg_schema import connect

        self.url = url
        self.conn = connect(url)
        try:
            self.conn.autocommit = False
            self.conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
            self.conn.read_only = True
            meta = meta_row(self.conn)
        except psycopg.Error as exc:
            self.conn.close()
            raise IndexCorruptError(
                f"the index in {describe(url)} cannot be read ({exc}); run `clusterqa index --rebuild`"
            ) from None
        if meta is None:
            self.conn.close()
            raise IndexMissingError(f"no index in {describe(url)} yet; run `clusterqa index --store URL`")
        self.meta = meta
        self.manifest: dict[str, Any] = meta["manifest"]
        self.generation = meta["generation"]
        self.catalog = self.dense = self  # one object answers both sides
        self._ef_search = 0
        self._count: int | None = None
        self.ranking = "bm25"  # or "ts_rank_cd" (PostgreSQL's cover density ranking; benchmarks/pg_store.py compares them)

    def close(self) -> None:
        self.conn.close()

    def _query(self, sql: str, params: Sequence[object] | dict = ()) -> list[tuple]:
        import psycopg

        try:
            return self.conn.execute(sql, params).fetchall()
        except psycopg.Error as exc:
            raise IndexCorruptError(
                f"the index in {describe(self.url)} cannot be read ({first_line(exc)}); check the server"
            ) from None

    # --- dense -----------------------------------------------------------------------------------
    def search(self, query: np.ndarray, k: int) -> list[tuple[int, float]]:
        """The k passages of highest inner product (cosine: vectors are normalized), by the HNSW index."""
        if k <= 0:
            return []
        ef = min(max(k, 40), 1000)  # hnsw.ef_search caps how many rows an HNSW scan returns
        if ef != self._ef_search:
            self._query(f"SELECT set_config('hnsw.ef_search', '{ef}', true)")
            self._ef_search = ef
        rows = self._query(
            "SELECT id, -(embedding <#> %(q)s) FROM passages ORDER BY embedding <#> %(q)s LIMIT %(k)s",
            {"q": np.asarray(query, dtype=np.float32), "k": k},
        )
        return [(int(i), float(s)) for i, s in rows]

    def vectors(self, ids: list[int]) -> np.ndarray:
        dim = int(self.meta["dim"])
        if not ids:
            return np.zeros((0, dim), dtype=np.float32)
        found = dict(self._query("SELECT id, embedding FROM passages WHERE id = ANY(%s)", (list(ids),)))
        return np.vstack([np.asarray(_array(found[i]), dtype=np.float32) for i in ids])

    # --- catalog ---------------------------------------------------------------------------------
    def count(self) -> int:
        if self._count is None:
            self._count = int(self._query("SELECT count(*) FROM passages")[0][0])
        return self._count

    def passages(self, ids: Iterable[int]) -> dict[int, Passage]:
        ids = list(ids)
        if not ids:
            return {}
        rows = self._query(
            f"SELECT {_PASSAGE_COLUMNS} FROM passages p JOIN documents d ON d.id = p.document_id WHERE p.id = ANY(%s)", (ids,)
        )
        return {row[0]: Passage(*row) for row in rows}

    def sentences(self, ids: Sequence[int]) -> list[tuple[int, int, int, int, bytes, bytes]]:
        if not ids:
            return []
        rows = self._query(
            'SELECT passage_id, start, "end", context_start, vector, context_vector FROM sentences '
            "WHERE passage_id = ANY(%s) ORDER BY passage_id, start",
            (list(ids),),
        )
        return [(int(p), s, e, c, bytes(v), bytes(cv)) for p, s, e, c, v, cv in rows]

    def ids_of(self, source: str) -> list[int]:
        rows = self._query(
            "SELECT p.id FROM passages p JOIN documents d ON d.id = p.document_id WHERE d.source = %s ORDER BY p.ordinal",
            (source,),
        )
        return [int(r[0]) for r in rows]

    def chunks_of(self, sources: Iterable[str]) -> dict[str, list[Chunk]]:
        """The stored passages of these documents with their answer candidates, to carry over unchanged."""
        sources = list(sources)
        if not sources:
            return {}
        rows = self._query(
            "SELECT d.source, p.ordinal, p.text, p.char_start, p.char_end, p.line_start, p.line_end, p.text_hash, "
            "p.section, p.id, p.page_start, p.page_end FROM passages p JOIN documents d ON d.id = p.document_id "
            "WHERE d.source = ANY(%s) ORDER BY d.source, p.ordinal",
            (sources,),
        )
        candidates: dict[int, list[tuple[int, int, int]]] = {row[9]: [] for row in rows}
        for pid, start, end, context_start in self._query(
            'SELECT passage_id, start, "end", context_start FROM sentences WHERE passage_id = ANY(%s) ORDER BY passage_id, start',
            (list(candidates),),
        ):
            candidates[pid].append((start, end, context_start))
        out: dict[str, list[Chunk]] = {source: [] for source in sources}
        for row in rows:
            out[row[0]].append(Chunk(*row[:9], candidates=tuple(candidates[row[9]]), page_start=row[10], page_end=row[11]))
        return out

    @property
    def has_cjk_text(self) -> bool:
        return int(self.meta["cjk_rows"]) > 0

    @cached_property
    def has_cjk_passages(self) -> bool:
        """Whether any passage is written in CJK (lexical.is_cjk_text), not merely quoting a name in it."""
        sql = "SELECT text FROM passages WHERE cjk IS NOT NULL ORDER BY id LIMIT %s OFFSET %s"
        offset = 0
        while self.has_cjk_text:  # page by page: a Chinese corpus answers at its first page
            rows = self._query(sql, (CJK_PAGE, offset))
            if any(is_cjk_text(text) for (text,) in rows):
                return True
            if len(rows) < CJK_PAGE:
                break
            offset += CJK_PAGE
        return False

    @property
    def only_cjk_passages(self) -> bool:
        """Whether every passage holds CJK characters (a folder written in Chinese, Japanese or Korean)."""
        return self.has_cjk_text and int(self.meta["cjk_rows"]) == self.count()

    def match(self, expression: str, limit: int) -> list[tuple[int, float]]:
        """BM25 over the stemmed words (the local catalog's passages_fts); higher is better."""
        # Not deduplicated: two question words with one stem ("county", "counties") count twice, as in FTS5.
        lexemes = [w for term in quoted_terms(expression) for w in tokens(term)]
        if self.ranking == "ts_rank_cd":
            return self._ts_rank_cd("words", lexemes, limit)
        return self._bm25("words", "nwords", lexemes, self.count(), float(self.meta["words_avg"]), limit)

    def match_cjk(self, expression: str, limit: int) -> list[tuple[int, float]]:
        """BM25 over CJK character pairs (the local catalog's passages_cjk)."""
        if not self.has_cjk_text:
            return []
        lexemes = [w for term in quoted_terms(expression) for w in plain_tokens(term)]
        return self._bm25("cjk", "ncjk", lexemes, int(self.meta["cjk_rows"]), float(self.meta["cjk_avg"]), limit)

    def _bm25(self, column: str, length: str, lexemes: list[str], rows: int, avg: float, limit: int) -> list[tuple[int, float]]:
        if not lexemes or not rows:
            return []
        distinct = list(dict.fromkeys(lexemes))
        frequency = dict(zip(distinct, self._frequencies(column, [tsquery_any([w]) for w in distinct]), strict=True))
        if column == "words" and applies(rows):  # a large catalog: its rarest words only, as the local one (lexical_budget)
            distinct = rarest_within(distinct, frequency, postings_budget())
            kept = set(distinct)
            lexemes = [w for w in lexemes if w in kept]
        hits = [frequency[w] for w in lexemes]
        idf = [bm25_idf(rows, n) for n in hits]
        found = self._query(
            f"""SELECT m.id, sum(q.idf * m.tf * {K1 + 1} / (m.tf + {K1} * ({1 - B} + {B} * m.n / %(avg)s))) AS score
            FROM (SELECT p.id, p.{length} AS n, u.lexeme, array_length(u.positions, 1) AS tf
                  FROM passages p, unnest(ts_filter(setweight(p.{column}, 'A', %(distinct)s), '{{a}}')) u
                  WHERE p.{column} @@ %(query)s::tsquery) m
            JOIN unnest(%(lexemes)s::text[], %(idf)s::float8[]) AS q(lexeme, idf) USING (lexeme)
            GROUP BY m.id ORDER BY score DESC, m.id LIMIT %(limit)s""",
            {
                "avg": max(avg, 1e-9),
                "query": tsquery_any(distinct),
                "distinct": distinct,
                "lexemes": lexemes,
                "idf": idf,
                "limit": limit,
            },
        )
        return [(int(i), float(s)) for i, s in found]

    def _ts_rank_cd(self, column: str, lexemes: list[str], limit: int) -> list[tuple[int, float]]:
        if not lexemes:
            return []
        found = self._query(
            f"SELECT id, ts_rank_cd({column}, q) AS score FROM passages, CAST(%s AS tsquery) AS q "
            f"WHERE {column} @@ q ORDER BY score DESC, id LIMIT %s",
            (tsquery_any(lexemes), limit),
        )
        return [(int(i), float(s)) for i, s in found]

    def _frequencies(self, column: str, queries: list[str]) -> list[int]:
        rows = self._query(
            f"SELECT (SELECT count(*) FROM passages WHERE {column} @@ q::tsquery) "
            "FROM unnest(%s::text[]) WITH ORDINALITY AS t(q, n) "
            "ORDER BY n",
            (queries,),
        )
        return [int(r[0]) for r in rows]

    def document_frequencies(self, terms: Sequence[str]) -> tuple[dict[str, int], int]:
        """How many passages contain each term, through the same words as the search (see Catalog)."""
        counts = {}
        for term in terms:
            words = tokens(term)
            pairs = plain_tokens(term)
            words_q = " & ".join(tsquery_any([w]) for w in words) if words else None
            cjk_q = " & ".join(tsquery_any([w]) for w in pairs) if pairs else None
            if not words_q:
                counts[term] = 0
            elif not self.has_cjk_text:
                counts[term] = self._query("SELECT count(*) FROM passages WHERE words @@ %s::tsquery", (words_q,))[0][0]
            elif has_cjk(term):
                counts[term] = self._query("SELECT count(*) FROM passages WHERE cjk @@ %s::tsquery", (cjk_q,))[0][0]
            else:
                counts[term] = self._query(
                    "SELECT count(*) FROM passages WHERE words @@ %s::tsquery OR cjk @@ %s::tsquery", (words_q, cjk_q)
                )[0][0]
        return counts, self.count()
