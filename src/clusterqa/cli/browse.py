"""`clusterqa docs` (what the index holds) and `clusterqa show FILE[:START[-END]]` (a cited span with context)."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..config import Settings
from ..errors import UsageError

Warn = Callable[[str], None]


@dataclass(frozen=True)
class IndexedDocument:
    source: str  # relative to the documents folder
    path: str  # as a terminal opens it (see render.display_path)
    title: str
    date: str | None
    passages: int
    pages: int | None = None  # paged formats (PDF)


@dataclass(frozen=True)
class Listing:
    documents: tuple[IndexedDocument, ...]
    skipped: tuple[tuple[str, str], ...]  # (source, reason)
    stale: bool  # the documents folder changed since the index was built


def list_documents(settings: Settings) -> Listing:
    """The documents of the live index, in the order they were indexed, and the files it skipped."""
    from ..index.freshness import check_documents_folder, is_stale
    from ..index.store import Store
    from .render import display_path

    generation = Store(settings.index).current()
    check_documents_folder(generation, settings)
    manifest = generation.manifest
    documents = tuple(
        IndexedDocument(
            source, display_path(settings.seeds, source), e.get("title", ""), e.get("date"), e["passages"], e.get("pages")
        )
        for source, e in manifest["documents"].items()
    )
    skipped = tuple((s["source"], s["reason"]) for s in manifest.get("skipped", []))
    return Listing(documents, skipped, is_stale(generation, settings))


def listing_json(listing: Listing) -> dict[str, Any]:
    return {
        "documents": [
            {"source": d.source, "path": d.path, "title": d.title, "date": d.date, "passages": d.passages, "pages": d.pages}
            for d in listing.documents
        ],
        "skipped": [{"source": source, "reason": reason} for source, reason in listing.skipped],
        "up_to_date": not listing.stale,
    }


def print_listing(listing: Listing) -> None:
    """One line a document: path, date, passages, title; then one line a skipped file."""
    from rich.text import Text

    from .render import console

    out = console()
    width = max((len(d.path) for d in listing.documents), default=0)
    for d in listing.documents:
        out.print(
            Text.assemble(
                (d.path.ljust(width), "cyan"),
                f"  {d.date or '-':10}  ",
                (f"{d.passages:>4} passage{'s' if d.passages != 1 else ' '}", "dim"),
                f"  {d.title}",
                (f"  ({_count(d.pages, 'page')})" if d.pages else "", "dim"),
            )
        )
    for source, reason in listing.skipped:
        out.print(Text.assemble(("skipped ", "yellow"), f"{source}: {reason}"))
    total = sum(d.passages for d in listing.documents)
    summary = f"{_count(len(listing.documents), 'document')}, {_count(total, 'passage')}"
    out.print(Text(summary + (f", {len(listing.skipped)} skipped" if listing.skipped else ""), style="dim"))


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


def print_plan(settings: Settings, warn: Warn) -> None:
    """`clusterqa status`: what `index` would change; says so when there is no index or nothing to index."""
    from rich.markup import escape

    from ..index.planning import plan
    from .render import console

    p = plan(settings, warn=warn)
    out = console()
    if p.settings_change:
        out.print("[bold yellow]full rebuild needed:[/] " + escape(p.settings_change))
    rows = [("added", p.added), ("changed", p.changed), ("deleted", p.deleted)]
    for label, sources in rows:
        for s in sources:
            out.print(f"  {label:8} {s}", markup=False)
    for old, new in p.renamed:
        out.print(f"  renamed  {old} -> {new}", markup=False)
    for s in p.skipped:
        out.print(f"  skipped  {s.source}: {s.reason}", markup=False)
    present = [*p.unchanged, *p.touched, *p.added, *p.changed, *(new for _, new in p.renamed)]
    if present:
        formats: dict[str, int] = {}
        for source in present:
            kind = source.rsplit(".", 1)[-1].lower()
            formats[kind] = formats.get(kind, 0) + 1
        out.print("documents by format: " + ", ".join(f"{n} {kind}" for kind, n in sorted(formats.items())), markup=False)
    embed = "unknown (model not exported yet)" if p.passages_to_embed is None else str(p.passages_to_embed)
    out.print(
        f"{len(p.unchanged) + len(p.touched)} unchanged, {len(p.added)} added, {len(p.changed)} changed, "
        f"{len(p.deleted)} deleted, {len(p.renamed)} renamed; passages to embed: {embed}",
        markup=False,
    )
    if not (p.unchanged or p.touched or p.added or p.changed or p.renamed):
        out.print(
            f"no documents (.txt, .md, .pdf, .html, .docx, ...) in {settings.seeds} to index; add documents or pass --seeds DIR",
            markup=False,
        )
    elif not settings.store and not (settings.index / "CURRENT").exists():
        out.print(f"no index in {settings.index} yet; `clusterqa index` (or the first `ask`) builds it", markup=False)
    elif not p.content_changes:
        out.print("index is up to date")


@dataclass(frozen=True)
class Span:
    path: Path
    start: int | None  # 1-based, inclusive; None: the whole file
    end: int | None
    index: Path | None = None  # where the text extracted from a PDF, HTML or DOCX file is cached

    @property
    def paged(self) -> bool:
        """A PDF: START-END are pages, and lines are counted within each page."""
        return self.path.suffix.lower() == ".pdf"


_SPEC = re.compile(r"^(?P<file>.+?)(?::(?P<start>\d+)(?:-(?P<end>\d+))?)?:?$")


def parse_span(spec: str, seeds: Path | None, index: Path | None = None) -> Span:
    """FILE, FILE:LINE or FILE:START-END, as `ask` prints citations (for a PDF, FILE:PAGE or
    FILE:FIRST-LAST pages). FILE is a path (as `ask` shows it) or a document's name relative to the
    documents folder."""
    match = _SPEC.match(spec)
    if not match or Path(spec).is_file():
        return Span(_find(spec, seeds), None, None, index)
    start = int(match["start"]) if match["start"] else None
    end = int(match["end"]) if match["end"] else start
    if start is not None and (start < 1 or end < start):
        unit = "pages" if match["file"].lower().endswith(".pdf") else "lines"
        raise UsageError(f"{spec}: {unit} are START or START-END, counted from 1, with START <= END")
    return Span(_find(match["file"], seeds), start, end, index)


def _find(name: str, seeds: Path | None) -> Path:
    candidates = [Path(name).expanduser()] + ([seeds / name] if seeds is not None else [])
    for path in candidates:
        if path.is_file():
            return path
    where = f" or in {seeds}" if seeds is not None else ""
    raise UsageError(f"no file {name} here{where}; pass a path as `clusterqa ask` cites it (FILE:LINE)")


def span_lines(span: Span, context: int) -> tuple[list[tuple[int, str, bool]], int]:
    """(line number, text, cited) for the span and `context` lines either side; and the file's line count.

    A PDF, HTML or DOCX file shows its extracted text (the lines citations count); a PDF span is pages,
    shown whole, numbered by line within each page (see `page_lines`).
    """
    from ..reading.documents import EXTRACTED_SUFFIXES

    if span.path.name.lower().endswith(EXTRACTED_SUFFIXES):
        extraction = _extraction(span)
        text = extraction.text
        if span.paged:
            return [row for _, rows in page_lines(extraction, span) for row in rows], len(extraction.pages)
    else:
        try:
            text = span.path.read_bytes().decode("utf-8-sig", errors="replace")
        except OSError as exc:
            raise UsageError(f"cannot read {span.path} ({exc.strerror})") from None
    lines = [line.removesuffix("\r") for line in text.split("\n")]
    if lines and lines[-1] == "" and len(lines) > 1:
        lines.pop()  # the newline that ends the last line does not start another
    start, end = (span.start, span.end) if span.start is not None else (1, len(lines))
    if start > len(lines):
        raise UsageError(f"{span.path} has {len(lines)} lines; line {start} is past its end")
    end = min(end or start, len(lines))
    first, last = max(1, start - context), min(len(lines), end + context)
    return [(n, lines[n - 1], start <= n <= end) for n in range(first, last + 1)], len(lines)


def _extraction(span: Span):  # noqa: ANN202 - extraction.Extraction, imported lazily
    """The file's extracted text: from the index's extraction cache when it holds this content, else read now."""
    import hashlib

    from ..reading.extraction import ExtractionCache, cache_path, extract

    try:
        data = span.path.read_bytes()
    except OSError as exc:
        raise UsageError(f"cannot read {span.path} ({exc.strerror})") from None
    found = None
    if span.index is not None and cache_path(span.index).is_file():
        with ExtractionCache(cache_path(span.index)) as cache:
            found = cache.get(hashlib.sha256(data).hexdigest())
    if isinstance(found, str):
        raise UsageError(f"{span.path.name} {found}")
    if found is not None:
        return found
    try:
        return extract(span.path.name, data)
    except ValueError as exc:
        raise UsageError(f"{span.path.name} {exc}") from None


def page_lines(extraction, span: Span) -> list[tuple[int, list[tuple[int, str, bool]]]]:  # noqa: ANN001 - Extraction
    """(page, its lines numbered within the page) for pages START-END, all pages when None."""
    count = len(extraction.pages)
    first, last = (span.start, span.end) if span.start is not None else (1, count)
    if first > count:
        raise UsageError(f"{span.path} has {count} page{'s' if count != 1 else ''}; page {first} is past its end")
    lines = extraction.text.split("\n")
    pages = []
    for page in range(first, min(last or first, count) + 1):
        top, bottom = extraction.page_lines(page)
        if bottom > top and not lines[bottom - 1].strip():
            bottom -= 1  # the blank line between two pages belongs to neither
        pages.append((page, [(n - top + 1, lines[n - 1], True) for n in range(top, bottom + 1)]))
    return pages


def print_span(span: Span, context: int) -> None:
    """grep's layout: `12:text` for the cited lines, `11-text` for context lines."""
    from rich.text import Text

    from .render import console

    out = console()
    out.soft_wrap = True  # a line of the file is one line of output, as with grep: the terminal folds it
    if span.paged:
        for page, rows in page_lines(_extraction(span), span):
            out.print(Text(f"{span.path.name} p. {page}", style="bold cyan"))
            _print_rows(out, rows)
        return
    rows, _ = span_lines(span, context)
    _print_rows(out, rows)


def _print_rows(out, rows: list[tuple[int, str, bool]]) -> None:  # noqa: ANN001 - rich Console
    from rich.text import Text

    for number, line, cited in rows:
        out.print(
            Text.assemble(
                (str(number), "green" if cited else "dim"), (":" if cited else "-", "dim"), (line, "bold" if cited else "")
            )
        )
