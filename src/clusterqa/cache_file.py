"""The SQLite file behind a cache (embeddings, extractions): created when missing, replaced when
damaged (a cache is never trusted over the work it saves), reported when it cannot be used."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from .errors import ClusterQAError


def open_cache(path: Path, schema: str, table: str, what: str) -> sqlite3.Connection:
    """A connection to the cache at `path` whose `schema` (plain CREATE TABLE statements) holds `table`."""
    db = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(path, timeout=30)
        db.executescript(
            schema.replace("CREATE TABLE IF NOT EXISTS", "CREATE TABLE").replace("CREATE TABLE", "CREATE TABLE IF NOT EXISTS")
        )
        db.execute(f"SELECT count(*) FROM {table}").fetchone()
        return db
    except sqlite3.OperationalError as exc:
        # Locked, read-only or unopenable: a problem to report, not a damaged file to delete.
        if db is not None:
            db.close()
        raise ClusterQAError(f"cannot use the {what} {path} ({exc}); check the index folder's permissions") from None
    except OSError as exc:
        raise ClusterQAError(f"cannot use the {what} {path} ({exc.strerror}); check the index folder") from None
    except sqlite3.DatabaseError:
        db.close()
        path.unlink(missing_ok=True)
        db = sqlite3.connect(path, timeout=30)
        db.executescript(schema)
        return db
