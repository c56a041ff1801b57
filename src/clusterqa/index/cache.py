"""Passage vectors by (encoder, text hash), and the answer sentences' vectors pooled from each
passage's pass by (encoder, passage hash + sentence spans): unchanged text is never embedded twice.

Written in small transactions as a build goes, so a killed build keeps what it embedded
and the next run picks up from there.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

import numpy as np

from ..cache_file import open_cache

_SCHEMA = (
    "CREATE TABLE vectors (model TEXT NOT NULL, text_hash TEXT NOT NULL, "
    "vector BLOB NOT NULL, PRIMARY KEY (model, text_hash)) WITHOUT ROWID;"
    # float16 rows, one per answer sentence of the passage, in span order
    "CREATE TABLE sentences (model TEXT NOT NULL, key TEXT NOT NULL, "
    "vectors BLOB NOT NULL, PRIMARY KEY (model, key)) WITHOUT ROWID"
)


class EmbeddingCache:
    def __init__(self, path: Path, model_key: str, dim: int) -> None:
        self.path = path
        self.model_key = model_key
        self.dim = dim
        self.db = open_cache(path, _SCHEMA, "vectors", "embedding cache")

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> EmbeddingCache:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def get(self, hashes: Iterable[str]) -> dict[str, np.ndarray]:
        """Passage vectors by text hash, for the hashes the cache holds."""
        found: dict[str, np.ndarray] = {}
        for text_hash, blob in self._select("vectors", "text_hash", "vector", hashes):
            vector = np.frombuffer(blob, dtype=np.float32)
            if vector.shape == (self.dim,):
                found[text_hash] = vector
        return found

    def get_sentences(self, keys: Iterable[str]) -> dict[str, np.ndarray]:
        """Sentence vectors (float16, one row per sentence) by sentence key."""
        found: dict[str, np.ndarray] = {}
        for key, blob in self._select("sentences", "key", "vectors", keys):
            vectors = np.frombuffer(blob, dtype=np.float16)
            if vectors.size % self.dim == 0:
                found[key] = vectors.reshape(-1, self.dim)
        return found

    def missing(self, hashes: Iterable[str]) -> set[str]:
        """Which of these passage hashes have no cached vector (reads keys only, not vectors)."""
        wanted = set(hashes)
        present = {h for (h,) in self._select("vectors", "text_hash", None, wanted)}
        return wanted - present

    def _select(self, table: str, key_column: str, value_column: str | None, keys: Iterable[str]) -> Iterator[tuple]:
        keys = list(dict.fromkeys(keys))
        columns = key_column + (f", {value_column}" if value_column else "")
        for first in range(0, len(keys), 500):
            batch = keys[first : first + 500]
            marks = ",".join("?" * len(batch))
            yield from self.db.execute(
                f"SELECT {columns} FROM {table} WHERE model = ? AND {key_column} IN ({marks})",
                [self.model_key, *batch],
            )

    def put(self, hashes: Sequence[str], vectors: np.ndarray, sentences: Sequence[tuple[str, np.ndarray]] = ()) -> None:
        """Store passage vectors and (key, rows) of sentence vectors in one transaction."""
        with self.db:
            self.db.executemany(
                "INSERT OR REPLACE INTO vectors VALUES (?, ?, ?)",
                [
                    (self.model_key, h, np.ascontiguousarray(v, dtype=np.float32).tobytes())
                    for h, v in zip(hashes, vectors, strict=True)
                ],
            )
            self.db.executemany(
                "INSERT OR REPLACE INTO sentences VALUES (?, ?, ?)",
                [(self.model_key, key, np.ascontiguousarray(rows, dtype=np.float16).tobytes()) for key, rows in sentences],
            )

    def keep_only(self, hashes: Iterable[str], sentence_keys: Iterable[str] = ()) -> None:
        """Forget this encoder's vectors of text no longer in the index, so the cache stays its size."""
        with self.db:
            for table, column, keys in (("vectors", "text_hash", hashes), ("sentences", "key", sentence_keys)):
                self.db.execute("CREATE TEMP TABLE IF NOT EXISTS live (key TEXT PRIMARY KEY)")
                self.db.execute("DELETE FROM live")
                self.db.executemany("INSERT OR IGNORE INTO live VALUES (?)", ((k,) for k in keys))
                self.db.execute(
                    f"DELETE FROM {table} WHERE model = ? AND {column} NOT IN (SELECT key FROM live)", (self.model_key,)
                )
