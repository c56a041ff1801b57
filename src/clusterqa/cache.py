"""Passage vectors by (model key, text hash): unchanged text is never embedded twice.

Written in small transactions as a build goes, so a killed build keeps what it embedded
and the next run picks up from there.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

from .errors import ClusterQAError

_SCHEMA = (
    "CREATE TABLE vectors (model TEXT NOT NULL, text_hash TEXT NOT NULL, "
    "vector BLOB NOT NULL, PRIMARY KEY (model, text_hash)) WITHOUT ROWID"
)


class EmbeddingCache:
    def __init__(self, path: Path, model_key: str, dim: int) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.model_key = model_key
        self.dim = dim
        try:
            self.db = sqlite3.connect(path, timeout=30)
            self.db.execute(_SCHEMA.replace("CREATE TABLE", "CREATE TABLE IF NOT EXISTS"))
            self.db.execute("SELECT count(*) FROM vectors").fetchone()
        except sqlite3.OperationalError as exc:
            # Locked, read-only or unopenable: a problem to report, not a damaged file to delete.
            if hasattr(self, "db"):
                self.db.close()
            raise ClusterQAError(f"cannot use the embedding cache {path} ({exc}); check the index folder's permissions") from None
        except sqlite3.DatabaseError:
            # The cache is only a cache: a damaged one is replaced, never trusted.
            self.db.close()
            path.unlink(missing_ok=True)
            self.db = sqlite3.connect(path, timeout=30)
            self.db.execute(_SCHEMA)

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> EmbeddingCache:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def get(self, hashes: Iterable[str]) -> dict[str, np.ndarray]:
        found: dict[str, np.ndarray] = {}
        hashes = list(dict.fromkeys(hashes))
        for first in range(0, len(hashes), 500):
            batch = hashes[first : first + 500]
            marks = ",".join("?" * len(batch))
            for text_hash, blob in self.db.execute(
                f"SELECT text_hash, vector FROM vectors WHERE model = ? AND text_hash IN ({marks})",
                [self.model_key, *batch],
            ):
                vector = np.frombuffer(blob, dtype=np.float32)
                if vector.shape == (self.dim,):
                    found[text_hash] = vector
        return found

    def put(self, hashes: Sequence[str], vectors: np.ndarray) -> None:
        with self.db:
            self.db.executemany(
                "INSERT OR REPLACE INTO vectors VALUES (?, ?, ?)",
                [
                    (self.model_key, h, np.ascontiguousarray(v, dtype=np.float32).tobytes())
                    for h, v in zip(hashes, vectors, strict=True)
                ],
            )

    def keep_only(self, hashes: Iterable[str]) -> None:
        """Forget this model's vectors of text no longer in the index, so the cache stays its size."""
        with self.db:
            self.db.execute("CREATE TEMP TABLE IF NOT EXISTS live (text_hash TEXT PRIMARY KEY)")
            self.db.execute("DELETE FROM live")
            self.db.executemany("INSERT OR IGNORE INTO live VALUES (?)", ((h,) for h in hashes))
            self.db.execute(
                "DELETE FROM vectors WHERE model = ? AND text_hash NOT IN (SELECT text_hash FROM live)",
                (self.model_key,),
            )
