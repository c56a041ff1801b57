"""Bringing the index up to date with the seeds folder: plan, embed what is new, publish."""

from __future__ import annotations

import os
import shutil
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

from . import documents as docs
from .catalog import Catalog, write_catalog
from .chunking import chunk, text_hash
from .config import Settings
from .errors import ClusterQAError, IndexCorruptError, IndexFormatError, IndexMissingError, NoDocumentsError
from .freshness import is_stale, settings_change  # noqa: F401 - re-exported for callers
from .lock import writer_lock
from .models import Chunk, Document, DocumentInfo, Skipped
from .sentences import Candidate, answer_candidates
from .store import CATALOG, DENSE, FORMAT, FORMAT_VERSION, MANIFEST, Generation, Store, model_key, write_json

if TYPE_CHECKING:
    import numpy as np

Progress = Callable[[str, int, int], None]
Warn = Callable[[str], None]
EMBED_BATCH = 64


@dataclass(frozen=True)
class Plan:
    """What `clusterqa index` would do."""

    added: tuple[str, ...] = ()
    changed: tuple[str, ...] = ()
    deleted: tuple[str, ...] = ()
    renamed: tuple[tuple[str, str], ...] = ()  # (old source, new source)
    unchanged: tuple[str, ...] = ()
    touched: tuple[str, ...] = ()  # same content, new mtime: only the manifest changes
    skipped: tuple[Skipped, ...] = ()
    settings_change: str | None = None  # why every document must be redone
    passages_to_embed: int | None = None  # None: unknown until the model is exported

    @property
    def content_changes(self) -> bool:
        return bool(self.added or self.changed or self.deleted or self.renamed or self.settings_change)


@dataclass(frozen=True)
class BuildReport:
    plan: Plan
    documents: int
    passages: int
    embedded: int
    seconds: float
    published: bool
    generation: str | None


@dataclass
class _Work:
    """The plan plus what building it needs: documents read, previous passages to carry over."""

    plan: Plan
    files: list[docs.SourceFile]
    read: dict[str, Document] = field(default_factory=dict)
    entries: dict[str, dict] = field(default_factory=dict)  # manifest entry per kept source


def previous_generation(store: Store, rebuild: bool, warn: Warn) -> Generation | None:
    """The live generation to build on, or None for a from-scratch build."""
    try:
        generation = store.current()
    except IndexMissingError:
        return None
    except IndexFormatError:
        if rebuild:
            return None
        raise
    except IndexCorruptError as exc:
        warn(f"{exc}; building a new index from scratch")
        return None
    if rebuild:
        return None
    damage = generation_damage(generation)
    if damage:
        # A live generation whose files are damaged is not built on (its passages and vectors
        # would be carried over); the cache makes the fresh build cheap.
        warn(f"{damage}; building a new index from scratch")
        return None
    return generation


def generation_damage(generation: Generation) -> str | None:
    """Why a published generation cannot be used (unreadable files, counts that disagree), or None.

    Cheap: a count over the catalog and the FAISS header (memory-mapped, vectors not read).
    """
    from .dense import DenseIndex

    expected = generation.manifest["passages"]
    try:
        catalog = Catalog(generation.catalog)
        try:
            found = catalog.count()
        finally:
            catalog.close()
        if found != expected:
            return f"{generation.catalog} has {found} passages but {generation.directory / MANIFEST} lists {expected}"
        DenseIndex(generation.dense, expected, generation.manifest["model"]["dim"])
    except IndexCorruptError as exc:
        return str(exc).split("; run `clusterqa index", 1)[0]
    return None


def _classify(store: Store, settings: Settings, previous: Generation | None, warn: Warn) -> _Work:
    scan = docs.scan(settings.seeds)
    reason = settings_change(previous, settings)
    built: dict[str, dict] = previous.manifest["documents"] if previous and not reason else {}
    skipped = list(scan.skipped)
    work = _Work(Plan(), list(scan.files))
    added, changed, unchanged, touched = [], [], [], []
    for f in scan.files:
        entry = built.get(f.source)
        if entry and entry["size"] == f.size and entry["mtime_ns"] == f.mtime_ns:
            unchanged.append(f.source)
            work.entries[f.source] = entry
            continue
        try:
            document = docs.read_document(f, settings.max_file_bytes)
        except ValueError as exc:
            skipped.append(Skipped(f.source, str(exc)))
            continue
        if entry and entry["sha256"] == document.sha256:
            touched.append(f.source)
            work.entries[f.source] = {**entry, "size": f.size, "mtime_ns": f.mtime_ns}
        else:
            work.read[f.source] = document
            (changed if entry else added).append(f.source)
    for s in skipped:
        warn(f"skipped {s.source}: {s.reason}")
    present = set(unchanged) | set(touched) | set(work.read)
    deleted = [source for source in built if source not in present]
    gone_by_hash = {built[source]["sha256"]: source for source in deleted}
    renamed = []
    for source in list(added):
        old = gone_by_hash.pop(work.read[source].sha256, None)
        if old is not None:
            renamed.append((old, source))
            added.remove(source)
            deleted.remove(old)
    work.plan = Plan(
        added=tuple(added),
        changed=tuple(changed),
        deleted=tuple(deleted),
        renamed=tuple(renamed),
        unchanged=tuple(unchanged),
        touched=tuple(touched),
        skipped=tuple(skipped),
        settings_change=reason,
    )
    return work


def plan(settings: Settings, warn: Warn = lambda _: None) -> Plan:
    """What `index` would do now, including how many passages it would embed."""
    store = Store(settings.index)
    previous = previous_generation(store, rebuild=False, warn=warn)
    work = _classify(store, settings, previous, warn)
    encoder_dir = store.encoder_dir(model_key(settings.model))
    if not (encoder_dir / "encoder.json").exists():
        return work.plan
    from .cache import EmbeddingCache
    from .encoder import TokenCounter

    count = TokenCounter(encoder_dir / "tokenizer.json")
    chunks = [c for d in work.read.values() for c in chunk(d, count, settings.chunking)]
    dim = _encoder_dim(encoder_dir)
    cached: dict = {}
    if store.cache_file.exists():
        cache = EmbeddingCache(store.cache_file, model_key(settings.model), dim)
        try:
            cached = cache.get(c.text_hash for c in chunks)
        finally:
            cache.close()
    missing = {c.text_hash for c in chunks} - set(cached)
    return replace(work.plan, passages_to_embed=len(missing))


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
    work = _classify(store, settings, previous, warn)
    p = work.plan
    if not work.entries and not work.read:
        raise NoDocumentsError(
            f"no readable .txt or .md files in {settings.seeds}"
            + (f" ({len(p.skipped)} skipped)" if p.skipped else "")
            + "; add documents or pass --seeds DIR"
        )
    skipped_entries = _skipped_entries(p, work.files)
    manifest_only = not p.content_changes and (p.touched or _skipped_differ(previous, skipped_entries))
    if previous is not None and not p.content_changes and not manifest_only:
        return BuildReport(
            p, len(p.unchanged), previous.manifest["passages"], 0, time.perf_counter() - started, False, previous.name
        )

    key = model_key(settings.model)
    encoder_dir = store.encoder_dir(key)
    carried: dict[str, list[Chunk]] = {}
    if previous is not None:
        old = Catalog(previous.catalog)
        try:
            for source in work.entries:
                carried[source] = old.chunks_of(source)
        finally:
            old.close()

    fresh: dict[str, list[Chunk]] = {}
    embedded = 0
    if work.read:
        _ensure_encoder(settings.model, encoder_dir, warn)
        from .encoder import TokenCounter

        count = TokenCounter(encoder_dir / "tokenizer.json")
        for source, document in work.read.items():
            fresh[source] = chunk(document, count, settings.chunking)

    order = [f.source for f in work.files if f.source in carried or f.source in fresh]
    entries: list[tuple[DocumentInfo, list[Chunk]]] = []
    manifest_docs: dict[str, dict] = {}
    for source in order:
        if source in fresh:
            d = work.read[source]
            f = next(x for x in work.files if x.source == source)
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
    all_chunks = [c for _, chunks in entries for c in chunks]

    target = store.new_generation_dir()
    if manifest_only and previous is not None:
        _link_or_copy(previous.catalog, target / CATALOG)
        _link_or_copy(previous.dense, target / DENSE)
        dim = previous.manifest["model"]["dim"]
        max_seq = previous.manifest["model"]["max_seq_length"]
    else:
        import numpy as np  # here, not at the top: a no-op `index` never needs it

        _ensure_encoder(settings.model, encoder_dir, warn)
        sentence_spans = _sentence_spans(entries) if settings.sentence_vectors else []
        texts = {c.text_hash: c.text for c in all_chunks}
        for _, _, text, candidate in sentence_spans:
            texts.setdefault(text_hash(text[candidate.start : candidate.end]), text[candidate.start : candidate.end])
            context = text[candidate.context_start : candidate.end]
            texts.setdefault(text_hash(context), context)
        found, missing = _vectors(store, encoder_dir, key, texts, progress)
        embedded = len(missing & {c.text_hash for c in all_chunks})
        dim = _encoder_dim(encoder_dir)
        max_seq = _encoder_info(encoder_dir)["max_seq_length"]
        vectors = np.zeros((len(all_chunks), dim), dtype=np.float32)
        for row, c in enumerate(all_chunks):
            vectors[row] = found[c.text_hash]
        sentence_rows = [
            (
                pid,
                cand.start,
                cand.end,
                cand.context_start,
                found[text_hash(text[cand.start : cand.end])].astype(np.float16).tobytes(),
                found[text_hash(text[cand.context_start : cand.end])].astype(np.float16).tobytes(),
            )
            for pid, _, text, cand in sentence_spans
        ]
        write_catalog(target / CATALOG, entries, sentence_rows)
        from .dense import write_dense

        write_dense(target / DENSE, vectors)
        live_hashes = list(texts)
    write_json(
        target / MANIFEST,
        {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "seeds": str(settings.seeds),
            "model": {"name": settings.model, "key": key, "dim": dim, "max_seq_length": max_seq},
            "encoder": f"encoders/{key}",
            "metric": "inner_product",
            "chunking": settings.chunking.as_dict(),
            "sentence_vectors": settings.sentence_vectors,
            "passages": len(all_chunks),
            "documents": manifest_docs,
            "skipped": skipped_entries,
        },
    )
    generation = store.publish(target)
    store.collect_garbage(generation.name)
    if not manifest_only and store.cache_file.exists():
        from .cache import EmbeddingCache

        cache = EmbeddingCache(store.cache_file, key, dim)
        try:
            cache.keep_only(live_hashes)
        finally:
            cache.close()
    return BuildReport(p, len(entries), len(all_chunks), embedded, time.perf_counter() - started, True, generation.name)


def _link_or_copy(source: Path, target: Path) -> None:
    """Share an immutable file with the next generation; copy it where hard links are not supported."""
    try:
        os.link(source, target)
    except OSError:
        shutil.copyfile(source, target)


def _skipped_entries(p: Plan, files: list[docs.SourceFile]) -> list[dict]:
    """The manifest's record of skipped files, with size and mtime where known, so that a file
    fixed later (re-encoded, filled in) can be told apart from the one that was skipped."""
    stats = {f.source: f for f in files}
    entries = []
    for s in p.skipped:
        f = stats.get(s.source)
        entries.append({"source": s.source, "reason": s.reason, **({"size": f.size, "mtime_ns": f.mtime_ns} if f else {})})
    return entries


def _skipped_differ(previous: Generation | None, entries: list[dict]) -> bool:
    if previous is None:
        return True

    def key(e: dict) -> tuple:
        return e["source"], e["reason"], e.get("size"), e.get("mtime_ns")

    return {key(e) for e in previous.manifest.get("skipped", [])} != {key(e) for e in entries}


def _sentence_spans(entries: list[tuple[DocumentInfo, list[Chunk]]]) -> list[tuple[int, str, str, Candidate]]:
    """(passage id, source, passage text, candidate) for every answer candidate, in passage order."""
    rows = []
    pid = 0
    for info, chunks in entries:
        for c in chunks:
            rows.extend((pid, info.source, c.text, cand) for cand in answer_candidates(c.text, info.title))
            pid += 1
    return rows


def _vectors(
    store: Store, encoder_dir: Path, key: str, texts: dict[str, str], progress: Progress | None
) -> tuple[dict[str, np.ndarray], set[str]]:
    """Vectors by text hash: from the cache where the text was seen before, else embedded (and cached)."""
    from .cache import EmbeddingCache

    cache = EmbeddingCache(store.cache_file, key, _encoder_dim(encoder_dir))
    try:
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
                cache.put(batch, vectors)
                found.update(zip(batch, vectors, strict=True))
                if progress:
                    progress("embedding", min(first + EMBED_BATCH, len(missing)), len(missing))
        return found, set(missing)
    finally:
        cache.close()


def _ensure_encoder(model: str, encoder_dir: Path, warn: Warn) -> None:
    if (encoder_dir / "encoder.json").exists():
        return
    warn(f"exporting model {model!r} to ONNX (once per model)")
    from .export import export_encoder

    export_encoder(model, encoder_dir)


def _encoder_info(encoder_dir: Path) -> dict:
    import json

    return json.loads((encoder_dir / "encoder.json").read_text("utf-8"))


def _encoder_dim(encoder_dir: Path) -> int:
    return int(_encoder_info(encoder_dir)["dim"])
