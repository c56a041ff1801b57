"""The embedding cache of the PostgreSQL store: the local EmbeddingCache's calls on two tables of the
team's database, so a member indexing for the first time takes the vectors others embedded."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence

import numpy as np


class PgEmbeddingCache:
    """Same interface as cache.EmbeddingCache (get, get_sentences, missing, put, keep_only)."""

    def __init__(self, conn, model_key: str, dim: int) -> None:  # noqa: ANN001 - an autocommit psycopg connection
        self.conn = conn
        self.model_key = model_key
        self.dim = dim

    def get(self, hashes: Iterable[str]) -> dict[str, np.ndarray]:
        found = {}
        for text_hash, blob in self._select("vector_cache", "text_hash", "vector", hashes):
            vector = np.frombuffer(bytes(blob), dtype=np.float32)
            if vector.shape == (self.dim,):
                found[text_hash] = vector
        return found

    def get_sentences(self, keys: Iterable[str]) -> dict[str, np.ndarray]:
        found = {}
        for key, blob in self._select("sentence_cache", "key", "vectors", keys):
            vectors = np.frombuffer(bytes(blob), dtype=np.float16)
            if vectors.size % self.dim == 0:
                found[key] = vectors.reshape(-1, self.dim)
        return found

    def missing(self, hashes: Iterable[str]) -> set[str]:
        wanted = set(hashes)
        return wanted - {h for (h,) in self._select("vector_cache", "text_hash", None, wanted)}

    def _select(self, table: str, key_column: str, value_column: str | None, keys: Iterable[str]) -> Iterator[tuple]:
        keys = list(dict.fromkeys(keys))
        columns = key_column + (f", {value_column}" if value_column else "")
        for first in range(0, len(keys), 5000):
            yield from self.conn.execute(
                f"SELECT {columns} FROM {table} WHERE model = %s AND {key_column} = ANY(%s)",
                (self.model_key, keys[first : first + 5000]),
            ).fetchall()

    def put(self, hashes: Sequence[str], vectors: np.ndarray, sentences: Sequence[tuple[str, np.ndarray]] = ()) -> None:
        """Passage and sentence vectors in one transaction (committed: a killed build keeps them)."""
        with self.conn.transaction(), self.conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO vector_cache VALUES (%s, %s, %s) "
                "ON CONFLICT (model, text_hash) DO UPDATE SET vector = EXCLUDED.vector",
                [
                    (self.model_key, h, np.ascontiguousarray(v, dtype=np.float32).tobytes())
                    for h, v in zip(hashes, vectors, strict=True)
                ],
            )
            cur.executemany(
                "INSERT INTO sentence_cache VALUES (%s, %s, %s) "
                "ON CONFLICT (model, key) DO UPDATE SET vectors = EXCLUDED.vectors",
                [(self.model_key, key, np.ascontiguousarray(rows, dtype=np.float16).tobytes()) for key, rows in sentences],
            )

    def keep_only(self, hashes: Iterable[str], sentence_keys: Iterable[str] = ()) -> None:
        """Forget this encoder's vectors of text the index no longer holds."""
        with self.conn.transaction():
            for table, column, keys in (("vector_cache", "text_hash", hashes), ("sentence_cache", "key", sentence_keys)):
                self.conn.execute(
                    f"DELETE FROM {table} WHERE model = %s AND NOT ({column} = ANY(%s))", (self.model_key, list(set(keys)))
                )
