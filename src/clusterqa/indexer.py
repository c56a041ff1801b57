"""Bringing the index up to date with the seeds folder: embed what is new, write and publish
a generation. What must change is decided in `planning`."""

from __future__ import annotations

import os
import shutil
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from .catalog import Catalog, write_catalog
from .chunking import text_hash
from .config import Settings
from .errors import ClusterQAError, NoDocumentsError
from .freshness import is_stale, settings_change  # noqa: F401 - re-exported for callers
from .lock import writer_lock
from .models import Chunk, DocumentInfo
from .planning import (
    Plan,
    Warn,
    Work,
    chunk_documents,
    classify,
    encoder_dim,
    encoder_info,
    previous_generation,
    skipped_differ,
    skipped_entries,
)
from .sentences import Candidate
from .store import CATALOG, DENSE, FORMAT, FORMAT_VERSION, MANIFEST, Generation, Store, model_key, write_json

if TYPE_CHECKING:
    import numpy as np

Progress = Callable[[str, int, int], None]
EMBED_BATCH = 64


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

    dim: int
    max_seq_length: int
    embedded: int = 0  # passages whose text was not in the cache
    live_hashes: tuple[str, ...] = ()  # every text the generation holds a vector of


def build(
    settings: Settings,
    rebuild: bool = False,
    progress: Progress | None = None,
    warn: Warn = lambda _: None,
    lock_wait: float = 30.0,
) -> BuildReport:
    """Bring the index up to date; publishes a new generation only when something changed."""
    started = time.perf_counter()
    store = Store(settings.index)
    try:
        with writer_lock(settings.index, lock_wait, on_wait=warn):
            return _build_locked(store, settings, rebuild, progress, warn, started)
    except (OSError, sqlite3.OperationalError) as exc:
        reason = getattr(exc, "strerror", None) or exc
        raise ClusterQAError(
            f"cannot write the index in {settings.index} ({reason}); check the folder's permissions and free space"
        ) from None


def _build_locked(
    store: Store, settings: Settings, rebuild: bool, progress: Progress | None, warn: Warn, started: float
) -> BuildReport:
    previous = previous_generation(store, rebuild, warn)
    if previous is not None:
        store.collect_garbage(previous.name)
    work = classify(settings, previous, warn)
    p = work.plan
    if not work.entries and not work.read:
        raise NoDocumentsError(
            f"no readable .txt or .md files in {settings.seeds}"
            + (f" ({len(p.skipped)} skipped)" if p.skipped else "")
            + "; add documents or pass --seeds DIR"
        )
    skipped = skipped_entries(p, work.files)
    manifest_only = not p.content_changes and (p.touched or skipped_differ(previous, skipped))
    if previous is not None and not p.content_changes and not manifest_only:
        return BuildReport(
            p, len(p.unchanged), previous.manifest["passages"], 0, time.perf_counter() - started, False, previous.name
        )

    contents = _assemble(store, settings, work, previous, warn)
    target = store.new_generation_dir()
    if manifest_only and previous is not None:
        written = _share_files(previous, target)
    else:
        written = _embed_and_write(store, settings, contents, target, progress, warn)
    _write_manifest(target, settings, contents, written, skipped)
    generation = store.publish(target)
    store.collect_garbage(generation.name)
    if not manifest_only:
        _prune_cache(store, model_key(settings.model), written)
    seconds = time.perf_counter() - started
    return BuildReport(p, len(contents.entries), len(contents.chunks), written.embedded, seconds, True, generation.name)


def _assemble(store: Store, settings: Settings, work: Work, previous: Generation | None, warn: Warn) -> _Contents:
    """Passages carried over from `previous` for kept documents, freshly cut for the ones read."""
    carried = _carried_chunks(previous, work.entries)
    fresh = _fresh_chunks(store, settings, work, warn)
    stats = {f.source: f for f in work.files}
    entries: list[tuple[DocumentInfo, list[Chunk]]] = []
    manifest_docs: dict[str, dict] = {}
    for source in (f.source for f in work.files if f.source in carried or f.source in fresh):
        if source in fresh:
            d, f = work.read[source], stats[source]
            info = DocumentInfo(source, d.title, d.date, d.sha256)
            stat = {"size": f.size, "mtime_ns": f.mtime_ns}
        else:
            e = work.entries[source]
            info = DocumentInfo(source, e["title"], e["date"], e["sha256"])
            stat = {"size": e["size"], "mtime_ns": e["mtime_ns"]}
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
    if previous is None:
        return {}
    old = Catalog(previous.catalog)
    try:
        return {source: old.chunks_of(source) for source in kept}
    finally:
        old.close()


def _fresh_chunks(store: Store, settings: Settings, work: Work, warn: Warn) -> dict[str, list[Chunk]]:
    if not work.read:
        return {}
    encoder_dir = store.encoder_dir(model_key(settings.model))
    _ensure_encoder(settings.model, encoder_dir, warn)
    return chunk_documents(work.read, encoder_dir, settings)


def _share_files(previous: Generation, target: Path) -> _Written:
    """Only the manifest changes: the catalog and FAISS files are the previous generation's."""
    _link_or_copy(previous.catalog, target / CATALOG)
    _link_or_copy(previous.dense, target / DENSE)
    model = previous.manifest["model"]
    return _Written(model["dim"], model["max_seq_length"])


def _embed_and_write(
    store: Store, settings: Settings, contents: _Contents, target: Path, progress: Progress | None, warn: Warn
) -> _Written:
    """Vectors for every passage (and answer sentence), from the cache or the encoder; then the files."""
    import numpy as np  # here, not at the top: a no-op `index` never needs it

    key = model_key(settings.model)
    encoder_dir = store.encoder_dir(key)
    _ensure_encoder(settings.model, encoder_dir, warn)
    all_chunks = contents.chunks
    sentence_spans = _sentence_spans(contents.entries) if settings.sentence_vectors else []
    texts = _texts_to_embed(all_chunks, sentence_spans)
    found, missing = _vectors(store, encoder_dir, key, texts, progress)
    info = encoder_info(encoder_dir)
    dim = int(info["dim"])
    vectors = np.zeros((len(all_chunks), dim), dtype=np.float32)
    for row, c in enumerate(all_chunks):
        vectors[row] = found[c.text_hash]
    write_catalog(target / CATALOG, contents.entries, _sentence_rows(sentence_spans, found))
    from .dense import write_dense

    write_dense(target / DENSE, vectors)
    embedded = len(missing & {c.text_hash for c in all_chunks})
    return _Written(dim, info["max_seq_length"], embedded, tuple(texts))


def _texts_to_embed(chunks: list[Chunk], sentence_spans: list[tuple[int, str, Candidate]]) -> dict[str, str]:
    """Text by hash: each passage, then each answer sentence."""
    texts = {c.text_hash: c.text for c in chunks}
    for _, text, candidate in sentence_spans:
        texts.setdefault(text_hash(text[candidate.start : candidate.end]), text[candidate.start : candidate.end])
    return texts


def _sentence_rows(sentence_spans: list[tuple[int, str, Candidate]], found: dict[str, np.ndarray]) -> list[tuple]:
    """The catalog's sentence rows: offsets plus float16 vectors of the sentence and of its context.

    The context vector (this sentence with the one before it) is the normalized sum of the two
    sentence vectors rather than an embedding of its own: it halves the embedding work of a build
    and picks the same answers on the development questions.
    """
    import numpy as np

    rows = []
    previous: tuple[int, np.ndarray] | None = None
    for pid, text, cand in sentence_spans:
        own = found[text_hash(text[cand.start : cand.end])]
        context = own
        if previous is not None and previous[0] == pid and cand.context_start < cand.start:
            joined = previous[1] + own
            context = joined / max(float(np.linalg.norm(joined)), 1e-12)
        vectors = own.astype(np.float16).tobytes(), context.astype(np.float16).tobytes()
        rows.append((pid, cand.start, cand.end, cand.context_start, *vectors))
        previous = (pid, own)
    return rows


def _write_manifest(target: Path, settings: Settings, contents: _Contents, written: _Written, skipped: list[dict]) -> None:
    key = model_key(settings.model)
    write_json(
        target / MANIFEST,
        {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "seeds": str(settings.seeds),
            "model": {"name": settings.model, "key": key, "dim": written.dim, "max_seq_length": written.max_seq_length},
            "encoder": f"encoders/{key}",
            "metric": "inner_product",
            "chunking": settings.chunking.as_dict(),
            "sentence_vectors": settings.sentence_vectors,
            "passages": len(contents.chunks),
            "documents": contents.manifest_docs,
            "skipped": skipped,
        },
    )


def _prune_cache(store: Store, key: str, written: _Written) -> None:
    """Forget cached vectors of text this generation no longer holds, so the cache stays its size."""
    if not store.cache_file.exists():
        return
    from .cache import EmbeddingCache

    with EmbeddingCache(store.cache_file, key, written.dim) as cache:
        cache.keep_only(written.live_hashes)


def _link_or_copy(source: Path, target: Path) -> None:
    """Share an immutable file with the next generation; copy it where hard links are not supported."""
    try:
        os.link(source, target)
    except OSError:
        shutil.copyfile(source, target)


def _sentence_spans(entries: list[tuple[DocumentInfo, list[Chunk]]]) -> list[tuple[int, str, Candidate]]:
    """(passage id, passage text, candidate) for every answer candidate, in passage order.

    The candidates are the chunker's (`Chunk.candidates`): full prose sentences, never code,
    tables, lists or headings; carried-over passages bring theirs from the previous catalog.
    """
    rows = []
    pid = 0
    for _, chunks in entries:
        for c in chunks:
            rows.extend((pid, c.text, Candidate(*cand)) for cand in c.candidates)
            pid += 1
    return rows


def _vectors(
    store: Store, encoder_dir: Path, key: str, texts: dict[str, str], progress: Progress | None
) -> tuple[dict[str, np.ndarray], set[str]]:
    """Vectors by text hash: from the cache where the text was seen before, else embedded (and cached)."""
    from .cache import EmbeddingCache

    with EmbeddingCache(store.cache_file, key, encoder_dim(encoder_dir)) as cache:
        found = cache.get(texts)
        missing = [h for h in texts if h not in found]
        if missing:
            from .encoder import OnnxEncoder

            encoder = OnnxEncoder(encoder_dir)
            if progress:
                progress("embedding", 0, len(missing))
            for first in range(0, len(missing), EMBED_BATCH):
                batch = missing[first : first + EMBED_BATCH]
                vectors = encoder.encode([texts[h] for h in batch])
                cache.put(batch, vectors)  # committed per batch: a killed build keeps what it embedded
                found.update(zip(batch, vectors, strict=True))
                if progress:
                    progress("embedding", min(first + EMBED_BATCH, len(missing)), len(missing))
    return found, set(missing)


def _ensure_encoder(model: str, encoder_dir: Path, warn: Warn) -> None:
    if (encoder_dir / "encoder.json").exists():
        return
    warn(f"exporting model {model!r} to ONNX (once per model)")
    from .export import export_encoder

    export_encoder(model, encoder_dir)
