"""Binary formats (PDF, HTML, DOCX): a file's bytes -> its text, title, date, located blocks and pages.

Each format has an extractor module with `extract(data: bytes) -> Extraction`, registered by
extension in EXTRACTORS and imported only when a file of that format is read. The extracted
text is what passages, line numbers and `clusterqa show` refer to, so it is kept in the
extraction cache (by the bytes' SHA-256): an unchanged PDF is parsed once, across rebuilds too.
"""

from __future__ import annotations

import hashlib
import importlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from ..cache_file import open_cache
from .readers import RawBlock

# Extension -> module (imported on first use) whose `extract` reads it.
EXTRACTORS = {".pdf": "pdf_reader", ".html": "html_reader", ".htm": "html_reader", ".docx": "docx_reader"}
# Bump when an extractor's output changes, so cached extractions of the old one are not reused.
EXTRACTOR_VERSION = 1


@dataclass(frozen=True)
class Extraction:
    """What an extractor found: `text` (lines, what citations count), blocks as line ranges of it."""

    text: str
    title: str
    date: str | None  # ISO 8601
    blocks: tuple[RawBlock, ...]
    pages: tuple[int, ...] = ()  # paged formats: the 1-based line each page starts on

    def __post_init__(self) -> None:
        lines = self.text.count("\n") + 1
        if any(b.first < 0 or b.last > lines or b.first >= b.last for b in self.blocks):
            raise ValueError(f"extraction has a block outside its {lines} lines")
        if list(self.pages) != sorted(set(self.pages)) or (self.pages and (self.pages[0] != 1 or self.pages[-1] > lines)):
            raise ValueError(f"extraction pages {self.pages[:5]}... do not start lines of its {lines} lines")

    def page_lines(self, page: int) -> tuple[int, int]:
        """First and last line (1-based, inclusive) of a page."""
        last = self.pages[page] - 1 if page < len(self.pages) else self.text.count("\n") + 1
        return self.pages[page - 1], last

    def to_json(self) -> str:
        blocks = [[b.first, b.last, b.kind, b.level, b.heading, b.section] for b in self.blocks]
        data = {"text": self.text, "title": self.title, "date": self.date, "blocks": blocks, "pages": list(self.pages)}
        return json.dumps(data, ensure_ascii=False)

    @classmethod
    def from_json(cls, raw: str) -> Extraction:
        data = json.loads(raw)
        blocks = tuple(RawBlock(*b) for b in data["blocks"])
        return cls(data["text"], data["title"], data["date"], blocks, tuple(data["pages"]))


def is_extracted(source: str) -> bool:
    """Whether a file is read by an extractor (by its extension) rather than decoded as text."""
    return "." + source.rsplit(".", 1)[-1].lower() in EXTRACTORS


def extract(source: str, data: bytes, cache: ExtractionCache | None = None) -> Extraction:
    """The extraction of a file's bytes, from the cache when it holds them; raises ValueError with the
    reason a file cannot be read (that reason is cached too: a scanned PDF is not opened again)."""
    digest = hashlib.sha256(data).hexdigest()
    if cache is not None:
        found = cache.get(digest)
        if isinstance(found, str):
            raise ValueError(found)
        if found is not None:
            return found
    suffix = "." + source.rsplit(".", 1)[-1].lower()
    module = importlib.import_module(f".{EXTRACTORS[suffix]}", __package__)
    try:
        result = module.extract(data)
    except ValueError as exc:
        if cache is not None:
            cache.put(digest, str(exc))
        raise
    except Exception as exc:  # a parser's own error on a damaged file: a reason, not a traceback
        first_line = (str(exc).strip().splitlines() or [""])[0][:160]
        reason = f"cannot be read as {suffix[1:].upper()} ({type(exc).__name__}: {first_line})"
        if cache is not None:
            cache.put(digest, reason)
        raise ValueError(reason) from None
    if cache is not None:
        cache.put(digest, result)
    return result


def compose(elements: Iterable[tuple[str, int, Sequence[str]]]) -> tuple[str, tuple[RawBlock, ...]]:
    """Lay out (kind, heading level, lines) elements as text, one blank line between elements; each
    element is one block (a heading's text is its lines joined)."""
    lines: list[str] = []
    blocks: list[RawBlock] = []
    for kind, level, element_lines in elements:
        element_lines = [" ".join(line.split()) if kind != "code" else line.rstrip() for line in element_lines]
        element_lines = [line for line in element_lines if line.strip()]
        if not element_lines:
            continue
        if lines:
            lines.append("")
        first = len(lines)
        lines.extend(element_lines)
        heading = " ".join(element_lines) if kind == "heading" else ""
        blocks.append(RawBlock(first, len(lines), kind, level, heading))
    return "\n".join(lines), tuple(blocks)


_SCHEMA = (
    "CREATE TABLE extractions (sha256 TEXT NOT NULL, version INTEGER NOT NULL, "
    "failure TEXT, data TEXT, PRIMARY KEY (sha256, version)) WITHOUT ROWID"
)


class ExtractionCache:
    """Extractions by the SHA-256 of the file's bytes, and the reasons files could not be read."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.db = open_cache(path, _SCHEMA, "extractions", "extraction cache")

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> ExtractionCache:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def get(self, sha256: str) -> Extraction | str | None:
        """The cached extraction, the reason the file could not be read (a str), or None."""
        row = self.db.execute(
            "SELECT failure, data FROM extractions WHERE sha256 = ? AND version = ?", (sha256, EXTRACTOR_VERSION)
        ).fetchone()
        if row is None:
            return None
        failure, data = row
        if failure is not None:
            return failure
        try:
            return Extraction.from_json(data)
        except (ValueError, TypeError, KeyError):
            return None  # damaged: extracted again

    def put(self, sha256: str, result: Extraction | str) -> None:
        failure, data = (result, None) if isinstance(result, str) else (None, result.to_json())
        with self.db:
            self.db.execute("INSERT OR REPLACE INTO extractions VALUES (?, ?, ?, ?)", (sha256, EXTRACTOR_VERSION, failure, data))

    def keep_only(self, sha256s: Iterable[str]) -> None:
        """Forget the extractions of files no longer indexed (and those of older extractors).

        Failures are kept: a few bytes each, and they spare reopening a scanned or locked PDF
        that stays in the folder (a skipped file has no content hash in the manifest).
        """
        with self.db:
            self.db.execute("CREATE TEMP TABLE IF NOT EXISTS live (sha256 TEXT PRIMARY KEY)")
            self.db.execute("DELETE FROM live")
            self.db.executemany("INSERT OR IGNORE INTO live VALUES (?)", ((h,) for h in sha256s))
            self.db.execute(
                "DELETE FROM extractions WHERE version != ? OR (failure IS NULL AND sha256 NOT IN (SELECT sha256 FROM live))",
                (EXTRACTOR_VERSION,),
            )


def cache_path(index: Path) -> Path:
    return index / "cache" / "extracted.sqlite"
