"""Deciding what `clusterqa index` must do: which live generation to build on, and which files
were added, changed, deleted, renamed, touched or skipped since it was built.

Reads the seeds folder and the live manifest only; nothing here embeds or writes. Cheap to
import: numpy, onnxruntime and faiss load only when `plan` counts passages to embed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

from ..config import Settings, model_key
from ..embedding.encoder_store import encoder_dir, encoder_info
from ..errors import IndexCorruptError, IndexFormatError, IndexMissingError
from ..models import Chunk, Document, Progress, Skipped
from ..reading import documents as docs
from ..reading.chunking import chunk
from ..reading.ignore import scan_documents
from .catalog import Catalog
from .freshness import check_documents_folder, settings_change
from .protocol import IndexStore, open_store
from .store import MANIFEST, Generation, Store

Warn = Callable[[str], None]


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


@dataclass
class Work:
    """The plan plus what building it needs: documents read, previous passages to carry over."""

    plan: Plan
    files: list[docs.SourceFile]
    read: dict[str, Document] = field(default_factory=dict)
    entries: dict[str, dict] = field(default_factory=dict)  # manifest entry per kept source


def previous_generation(store: IndexStore, rebuild: bool, warn: Warn) -> Generation | None:
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
    if not isinstance(generation, Generation):  # another store checks its own (protocol.Generation.damage)
        return generation.damage()
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
        DenseIndex(generation.dense, expected, generation.manifest["model"]["dim"], generation.manifest.get("dense"))
    except IndexCorruptError as exc:
        return str(exc).split("; run `clusterqa index", 1)[0]
    return None


def classify(settings: Settings, previous: Generation | None, warn: Warn, announce: bool = True) -> Work:
    """Compare the seeds folder with `previous`, reading only files whose size or mtime moved.

    With `announce`, files skipped for the first time get a warning each, and a non-empty list
    of skipped files one summary line (`status` lists them instead).
    """
    scan = scan_documents(settings)  # a folder that does not exist is named as such first
    check_documents_folder(previous, settings)
    reason = settings_change(previous, settings)
    built: dict[str, dict] = previous.manifest["documents"] if previous and not reason else {}
    skipped = list(scan.skipped)
    work = Work(Plan(), list(scan.files))
    added, changed, unchanged, touched = [], [], [], []
    extractions = None  # opened at the first PDF, HTML or DOCX file to read
    try:
        for f in scan.files:
            entry = built.get(f.source)
            if entry and entry["size"] == f.size and entry["mtime_ns"] == f.mtime_ns:
                unchanged.append(f.source)
                work.entries[f.source] = entry
                continue
            if extractions is None and f.source.lower().endswith(docs.EXTRACTED_SUFFIXES) and settings.index.is_dir():
                from ..reading.extraction import ExtractionCache, cache_path

                extractions = ExtractionCache(cache_path(settings.index))
            try:
                document = docs.read_document(f, settings.max_file_bytes, extractions)
            except ValueError as exc:
                skipped.append(Skipped(f.source, str(exc)))
                continue
            if document.encoding != "utf-8":
                warn(f"read {f.source} as {document.encoding}")
            if entry and entry["sha256"] == document.sha256:
                touched.append(f.source)
                work.entries[f.source] = {**entry, "size": f.size, "mtime_ns": f.mtime_ns}
            else:
                work.read[f.source] = document
                (changed if entry else added).append(f.source)
    finally:
        if extractions is not None:
            extractions.close()
    if announce:
        _announce_skipped(skipped, previous, warn)
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


def _announce_skipped(skipped: list[Skipped], previous: Generation | None, warn: Warn) -> None:
    """One warning per newly skipped file, then one line for all of them: not the same list on every run."""
    known = {(e["source"], e["reason"]) for e in previous.manifest.get("skipped", [])} if previous else set()
    for s in skipped:
        if (s.source, s.reason) not in known:
            warn(f"skipped {s.source}: {s.reason}")
    if skipped:
        n = len(skipped)
        warn(f"{n} file{'s' if n != 1 else ''} skipped (clusterqa status lists them)")


def plan(settings: Settings, warn: Warn = lambda _: None) -> Plan:
    """What `index` would do now, including how many passages it would embed."""
    store = open_store(settings)
    previous = previous_generation(store, rebuild=False, warn=warn)
    work = classify(settings, previous, warn, announce=False)
    directory = encoder_dir(settings.model)
    info = encoder_info(directory)
    if info is None:
        return work.plan
    from .cache import EmbeddingCache

    chunks = [c for cs in chunk_documents(work.read, directory, settings).values() for c in cs]
    missing = {c.text_hash for c in chunks}
    if not isinstance(store, Store):
        missing = store.missing_vectors(cache_key(settings.model, info), missing)
    elif store.cache_file.exists():
        with EmbeddingCache(store.cache_file, cache_key(settings.model, info), int(info["dim"])) as cache:
            missing = cache.missing(missing)
    return replace(work.plan, passages_to_embed=len(missing))


def chunk_documents(
    documents: dict[str, Document], encoder_dir: Path, settings: Settings, progress: Progress | None = None
) -> dict[str, list[Chunk]]:
    """Passages of each document, measured with the model's own tokenizer (the model is not loaded).

    `progress("reading", characters done, characters in all)`: a 20 MB file takes tens of seconds.
    """
    from ..embedding.encoder import token_counter

    count = token_counter(encoder_dir)
    total = sum(len(d.text) for d in documents.values())
    done = 0
    chunks = {}
    for source, document in documents.items():
        into = (lambda at, base=done: progress("reading", base + at, total)) if progress and total else None
        chunks[source] = chunk(document, count, settings.chunking, into)
        done += len(document.text)
    return chunks


def skipped_entries(p: Plan, files: list[docs.SourceFile]) -> list[dict]:
    """The manifest's record of skipped files, with size and mtime where known, so that a file
    fixed later (re-encoded, filled in) can be told apart from the one that was skipped."""
    stats = {f.source: f for f in files}
    entries = []
    for s in p.skipped:
        f = stats.get(s.source)
        entries.append({"source": s.source, "reason": s.reason, **({"size": f.size, "mtime_ns": f.mtime_ns} if f else {})})
    return entries


def skipped_differ(previous: Generation | None, entries: list[dict]) -> bool:
    """Whether the skipped files (or their size or mtime) differ from those `previous` recorded."""
    if previous is None:
        return True

    def key(e: dict) -> tuple:
        return e["source"], e["reason"], e.get("size"), e.get("mtime_ns")

    return {key(e) for e in previous.manifest.get("skipped", [])} != {key(e) for e in entries}


def cache_key(model: str, info: dict) -> str:
    """Cached vectors belong to one export of one model: another export is embedded afresh."""
    return f"{model_key(model)}:{info['id'][:12]}"
