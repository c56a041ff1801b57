"""The store protocol: what indexing and answering need of an index, whichever store holds it.

Two implementations:
- `store.Store`: a local folder of immutable generations (FAISS + SQLite files), published by
  replacing the CURRENT pointer; one writer at a time through a file lock. The default.
- `postgres.PostgresStore`: one PostgreSQL database with pgvector (`--store postgresql://...`,
  env CLUSTERQA_STORE), published in one transaction; one writer through pg_advisory_lock.

A question (service.open_index -> answering.search.Searcher) sees only these calls: the store's
`current()` generation, whose `open()` gives a reader with `catalog` and `dense` sides. Writing
differs in kind (files renamed into place, rows changed in a transaction): the indexer decides
what changed through the shared calls (`current`, `writer_lock`, `Generation.chunks_of`, the
manifest's content hashes) and hands the result to the store's own publish.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    import numpy as np

    from ..config import Settings
    from ..models import Chunk, Passage


class Catalog(Protocol):
    """Passages, their answer sentences and the lexical (BM25) index of one generation."""

    has_cjk_text: bool  # some passage holds a CJK character
    has_cjk_passages: bool  # some passage is written in CJK
    only_cjk_passages: bool  # every passage holds a CJK character

    def passages(self, ids: Iterable[int]) -> dict[int, Passage]: ...
    def sentences(self, ids: Sequence[int]) -> list[tuple[int, int, int, int, bytes, bytes]]: ...
    def ids_of(self, source: str) -> list[int]: ...
    def count(self) -> int: ...
    def match(self, expression: str, limit: int) -> list[tuple[int, float]]: ...
    def match_cjk(self, expression: str, limit: int) -> list[tuple[int, float]]: ...
    def document_frequencies(self, terms: Sequence[str]) -> tuple[dict[str, int], int]: ...
    def close(self) -> None: ...


class Dense(Protocol):
    """Nearest passages by inner product of normalized vectors, and stored vectors by passage id."""

    def search(self, query: np.ndarray, k: int) -> list[tuple[int, float]]: ...
    def vectors(self, ids: list[int]) -> np.ndarray: ...


class Reader(Protocol):
    """One generation open for questions; everything it returns belongs to that one generation."""

    catalog: Catalog
    dense: Dense

    def close(self) -> None: ...


class Generation(Protocol):
    """A published generation: its name changes with every publish; the manifest lists its documents
    with their content hashes (planning compares them with the documents folder)."""

    @property
    def name(self) -> str: ...
    @property
    def manifest(self) -> dict[str, Any]: ...
    def open(self) -> Reader: ...
    def damage(self) -> str | None: ...
    def chunks_of(self, sources: Sequence[str]) -> dict[str, list[Chunk]]: ...


class IndexStore(Protocol):
    kind: str  # "local" or "postgresql"
    location: str  # for messages (a PostgreSQL URL without its password)

    def current(self) -> Generation: ...
    def writer_lock(self, wait_seconds: float = 30.0, on_wait: Callable[[str], None] | None = None) -> AbstractContextManager: ...
    def is_locked(self) -> bool: ...
    def collect_garbage(self, live: str) -> None: ...


def open_store(settings: Settings) -> IndexStore:
    """The store `settings` name: PostgreSQL for --store/CLUSTERQA_STORE, else the local index folder.

    psycopg is imported only in the first case.
    """
    if settings.store:
        from .postgres import PostgresStore

        return PostgresStore(settings.store)
    from .store import Store

    return Store(settings.index)
