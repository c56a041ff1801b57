"""Bringing the index up to date with the seeds folder: embed what is new, write and publish
a generation. What must change is decided in `planning`."""

from __future__ import annotations

import os
import shutil
import sqlite3
import time
from dataclasses import dataclass, field
from pathlib import Path

from ..config import Settings, model_key
from ..embedding.encoder_store import ensure_encoder
from ..errors import ClusterQAError, NoDocumentsError
from ..models import Chunk, DocumentInfo, Progress
from .ann import check_kind, kind_change
from .catalog import write_catalog
from .freshness import is_stale, settings_change  # noqa: F401 - re-exported for callers
from .planning import (
    Plan,
    Warn,
    Work,
    cache_key,
    chunk_documents,
    classify,
    previous_generation,
    skipped_differ,
    skipped_entries,
)
from .protocol import IndexStore, open_store
from .store import CATALOG, DENSE, FORMAT, FORMAT_VERSION, MANIFEST, Generation, Store, encoder_record, write_json


@dataclass(frozen=True)
class BuildReport:
    plan: Plan
    documents: int
    passages: int
    embedded: int
    seconds: float
    published: bool
    generation: str | None


@dataclass(frozen=True)
class _Contents:
    """The next generation's documents in seeds order, each with its passages, and their manifest records."""

    entries: list[tuple[DocumentInfo, list[Chunk]]]
    manifest_docs: dict[str, dict]

    @property
    def chunks(self) -> list[Chunk]:
        return [c for _, chunks in self.entries for c in chunks]


@dataclass(frozen=True)
class _Written:
    """What writing the catalog and FAISS files settled, for the manifest and the cache."""

    encoder: dict  # the export's encoder.json
    embedded: int = 0  # passages whose text was not in the cache
    live_hashes: tuple[str, ...] = ()  # every passage the generation holds a vector of
    live_sentences: tuple[str, ...] = ()  # every passage whose sentence vectors it holds
    dense: dict = field(default_factory=lambda: {"kind": "flat"})  # the dense index's manifest record (ann)


def build(
    settings: Settings,
    rebuild: bool = False,
    progress: Progress | None = None,
    warn: Warn = lambda _: None,
    lock_wait: float = 30.0,
) -> BuildReport:
    """Bring the index up to date; publishes a new generation only when something changed."""
    started = time.perf_counter()
    store = open_store(settings)
    try:
        with store.writer_lock(lock_wait, on_wait=warn):
            return _build_locked(store, settings, rebuild, progress, warn, started)
    except (OSError, sqlite3.OperationalError) as exc:
        reason = getattr(exc, "strerror", None) or exc
        raise ClusterQAError(
            f"cannot write the index in {settings.index} ({reason}); check the folder's permissions and free space"
        ) from None


def _build_locked(
    store: IndexStore, settings: Settings, rebuild: bool, progress: Progress | None, warn: Warn, started: float
) -> BuildReport:
    if settings.dense_index is not None:
        check_kind(settings.dense_index)  # before any work: CLUSTERQA_DENSE_INDEX may name no kind
    previous = previous_generation(store, rebuild, warn)
    if previous is not None:
        store.collect_garbage(previous.name)
    work = classify(settings, previous, warn)
    p = work.plan
    if p.settings_change:
        warn(f"{p.settings_change}: indexing every document again")
    if not work.entries and not work.read:
        raise NoDocumentsError(
            f"no readable documents (.txt, .md, .rst, .org, .pdf, .html, .docx) in {settings.seeds}"
            + (f" ({len(p.skipped)} skipped)" if p.skipped else "")
            + "; add documents or pass --seeds DIR"
        )
    skipped = skipped_entries(p, work.files)
    # a forced kind: rewrite, from cached vectors (PostgreSQL's vectors are in pgvector's HNSW index)
    redense = kind_change(settings.dense_index, previous) if isinstance(store, Store) else None
    if redense:
        warn(redense)
    manifest_only = not p.content_changes and not redense and (p.touched or skipped_differ(previous, skipped))
    if previous is not None and not p.content_changes and not manifest_only and not redense:
        return BuildReport(
            p, len(p.unchanged), previous.manifest["passages"], 0, time.perf_counter() - started, False, previous.name
        )

    contents = _assemble(store, settings, work, previous, warn, progress)
    work.read.clear()  # the documents' text is in the passages now: free it before embedding
    if not isinstance(store, Store):  # PostgreSQL: rows changed in one transaction, not files renamed into place
        from .pg_build import publish_build

        generation, embedded = publish_build(
            store, settings, contents.entries, lambda info: _manifest(settings, contents, info, skipped), p, previous,
            manifest_only, progress, warn,
        )  # fmt: skip
        _prune_extractions(settings.index, contents)
        seconds = time.perf_counter() - started
        return BuildReport(p, len(contents.entries), len(contents.chunks), embedded, seconds, True, generation.name)
    target = store.new_generation_dir()
    if manifest_only and previous is not None:
        written = _share_files(previous, target)
    else:
        # --rebuild builds on nothing, but keeps the kind the dense index was asked to be, and its centroids
        dense_from = previous if previous is not None or not rebuild else _sound_current(store)
        written = _embed_and_write(store, settings, contents, target, progress, warn, dense_from)
    _write_manifest(target, settings, contents, written, skipped)
    generation = store.publish(target)
    store.collect_garbage(generation.name)
    if not manifest_only:
        _prune_cache(store, settings.model, written)
        _prune_extractions(settings.index, contents)
    seconds = time.perf_counter() - started
    return BuildReport(p, len(contents.entries), len(contents.chunks), written.embedded, seconds, True, generation.name)


def _assemble(
    store: IndexStore, settings: Settings, work: Work, previous: Generation | None, warn: Warn, progress: Progress | None
) -> _Contents:
    """Passages carried over from `previous` for kept documents, freshly cut for the ones read."""
    carried = _carried_chunks(previous, work.entries)
    fresh = _fresh_chunks(store, settings, work, warn, progress)
    stats = {f.source: f for f in work.files}
    entries: list[tuple[DocumentInfo, list[Chunk]]] = []
    manifest_docs: dict[str, dict] = {}
    for source in (f.source for f in work.files if f.source in carried or f.source in fresh):
        if source in fresh:
            d, f = work.read[source], stats[source]
            info = DocumentInfo(source, d.title, d.date, d.sha256)
            stat = {"size": f.size, "mtime_ns": f.mtime_ns, **({"pages": len(d.pages)} if d.pages else {})}
        else:
            e = work.entries[source]
            info = DocumentInfo(source, e["title"], e["date"], e["sha256"])
            stat = {"size": e["size"], "mtime_ns": e["mtime_ns"], **({"pages": e["pages"]} if "pages" in e else {})}
        chunks = fresh[source] if source in fresh else carried[source]
        entries.append((info, chunks))
        manifest_docs[source] = {
            "sha256": info.sha256,
            **stat,
            "title": info.title,
            "date": info.date,
            "passages": len(chunks),
        }
    return _Contents(entries, manifest_docs)


def _carried_chunks(previous: Generation | None, kept: dict[str, dict]) -> dict[str, list[Chunk]]:
    return {} if previous is None else previous.chunks_of(list(kept))


def _fresh_chunks(
    store: IndexStore, settings: Settings, work: Work, warn: Warn, progress: Progress | None
) -> dict[str, list[Chunk]]:
    if not work.read:
        return {}
    encoder_dir, _ = ensure_encoder(settings.model, warn)
    return chunk_documents(work.read, encoder_dir, settings, progress)


def _sound_current(store: Store) -> Generation | None:
    """The live generation when it is readable and undamaged, else None."""
    from .planning import generation_damage

    try:
        generation = store.current()
    except ClusterQAError:
        return None
    return None if generation_damage(generation) else generation


def _share_files(previous: Generation, target: Path) -> _Written:
    """Only the manifest changes: the catalog and FAISS files are the previous generation's."""
    _link_or_copy(previous.catalog, target / CATALOG)
    _link_or_copy(previous.dense, target / DENSE)
    return _Written(encoder_record(previous.manifest), dense=previous.manifest.get("dense") or {"kind": "flat"})


def _embed_and_write(
    store: Store,
    settings: Settings,
    contents: _Contents,
    target: Path,
    progress: Progress | None,
    warn: Warn,
    previous: Generation | None = None,
) -> _Written:
    """Vectors for every passage and answer sentence, from the cache or one pass per passage; then the files.

    The catalog consumes the sentence rows as they are made, so only a window of passages is in
    flight; the passage vectors (1.5 KB each) are kept for the FAISS file.
    """
    from .ann import write_dense_index
    from .cache import EmbeddingCache
    from .vectors import PassageVectors

    directory, info = ensure_encoder(settings.model, warn)
    with EmbeddingCache(store.cache_file, cache_key(settings.model, info), int(info["dim"])) as cache:
        vectors = PassageVectors(cache, directory, contents.chunks, settings.sentence_vectors, progress, warn)
        write_catalog(target / CATALOG, contents.entries, vectors.sentence_rows())
    dense = write_dense_index(target / DENSE, vectors.out, settings.dense_index, previous)  # keeps previous's centroids
    hashes, sentence_keys = vectors.live_keys()
    return _Written(info, vectors.embedded, tuple(hashes), tuple(sentence_keys), dense)


def _write_manifest(target: Path, settings: Settings, contents: _Contents, written: _Written, skipped: list[dict]) -> None:
    write_json(target / MANIFEST, _manifest(settings, contents, written.encoder, skipped, written.dense))


def _manifest(settings: Settings, contents: _Contents, encoder: dict, skipped: list[dict], dense: dict | None = None) -> dict:
    """The generation's manifest; `encoder` is the export's encoder.json, `dense` the local dense index's record."""
    key = model_key(settings.model)
    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "seeds": str(settings.seeds),
        "model": {
            "name": settings.model,
            "key": key,
            "dim": int(encoder["dim"]),
            "max_seq_length": int(encoder["max_seq_length"]),
        },
        "encoder": {"key": key, "id": encoder["id"]},
        "metric": "inner_product",
        "chunking": settings.chunking.as_dict(),
        "sentence_vectors": settings.sentence_vectors,
        "passages": len(contents.chunks),
        **({"dense": dense} if dense is not None else {}),
        "documents": contents.manifest_docs,
        "skipped": skipped,
    }


def _prune_cache(store: Store, model: str, written: _Written) -> None:
    """Forget cached vectors of text this generation no longer holds, so the cache stays its size."""
    if not store.cache_file.exists():
        return
    from .cache import EmbeddingCache

    with EmbeddingCache(store.cache_file, cache_key(model, written.encoder), int(written.encoder["dim"])) as cache:
        cache.keep_only(written.live_hashes, written.live_sentences)


def _prune_extractions(index: Path, contents: _Contents) -> None:
    """Forget the text extracted from PDF, HTML and DOCX files this generation no longer holds."""
    from ..reading.extraction import cache_path

    if not cache_path(index).exists():
        return
    from ..reading.extraction import ExtractionCache

    with ExtractionCache(cache_path(index)) as cache:
        cache.keep_only(info.sha256 for info, _ in contents.entries)


def _link_or_copy(source: Path, target: Path) -> None:
    """Share an immutable file with the next generation; copy it where hard links are not supported."""
    try:
        os.link(source, target)
    except OSError:
        shutil.copyfile(source, target)
