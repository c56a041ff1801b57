"""Finding and reading the files under the seeds folder."""

from __future__ import annotations

import hashlib
import os
import re
import stat
import unicodedata
from array import array
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import NoDocumentsError
from ..models import Document, Skipped
from .titles import title_and_date

if TYPE_CHECKING:
    from .extraction import ExtractionCache

# The extensions read (each has a reader in `readers`, or an extractor in `extraction` for the binary
# formats, imported only when a file is read: a question's freshness check scans the folder but reads nothing).
SUFFIXES = (".txt", ".text", ".md", ".markdown", ".mdx", ".rst", ".org", ".pdf", ".html", ".htm", ".docx")

__all__ = ["SUFFIXES", "Scan", "SourceFile", "decode", "normalize", "parse_document", "read_document", "scan", "title_and_date"]

_BINARY_SNIFF = 8192
EXTRACTED_SUFFIXES = (".pdf", ".html", ".htm", ".docx")  # read by `extraction`, not decoded as text
# When detection finds several encodings that read the bytes equally well, name the common one.
_PREFERRED_ENCODINGS = ("cp1252", "latin_1", "iso8859_15")


@dataclass(frozen=True)
class SourceFile:
    """A candidate file found by the scan, before it is read."""

    location: str  # the file's path; the Path is made only when asked for (building 20,000 of them took 0.2 s of a scan)
    source: str
    size: int
    mtime_ns: int

    @property
    def path(self) -> Path:
        return Path(self.location)


@dataclass(frozen=True)
class Scan:
    files: tuple[SourceFile, ...]
    skipped: tuple[Skipped, ...]


@dataclass(frozen=True)
class _Found:
    file: SourceFile
    via_link: bool  # reached through a symbolic link (to the file or to a folder above it)
    order: int


def scan(seeds: Path, ignored: Callable[[str, bool], bool] | None = None) -> Scan:
    """List the readable files (SUFFIXES) under `seeds`, recursively, in a stable order.

    Linked folders are followed like linked files; a link back to a folder it is inside is not
    (reported once). A file reachable by several paths is listed once, under its path without a
    link when it has one, else under the first path found. `ignored(path relative to seeds,
    is_dir)` drops folders and files (see `ignore.IgnoreRules`).
    """
    if not seeds.exists():
        raise NoDocumentsError(f"seeds folder {seeds} does not exist; create it or pass --seeds DIR")
    if not seeds.is_dir():
        raise NoDocumentsError(f"seeds path {seeds} is not a folder; pass --seeds DIR")
    found: dict[tuple[int, int], _Found] = {}
    skipped: list[Skipped] = []
    root = seeds.stat()
    _walk(seeds, "", False, ((root.st_dev, root.st_ino),), found, skipped, ignored)
    files = tuple(f.file for f in sorted(found.values(), key=lambda f: f.order))
    return Scan(files, tuple(skipped))


def _walk(
    folder: Path,
    prefix: str,
    via_link: bool,
    ancestors: tuple[tuple[int, int], ...],
    found: dict[tuple[int, int], _Found],
    skipped: list[Skipped],
    ignored: Callable[[str, bool], bool] | None,
) -> None:
    try:
        entries = sorted((e for e in os.scandir(folder) if not e.name.startswith(".")), key=lambda e: e.name)
    except OSError as exc:
        skipped.append(Skipped(prefix.rstrip("/") or ".", f"folder cannot be read ({exc.strerror})"))
        return
    folders = []
    for entry in entries:
        source = prefix + entry.name
        try:
            is_folder = entry.is_dir()
        except OSError:
            is_folder = False
        if ignored is not None and ignored(source, is_folder):
            continue
        if is_folder:
            folders.append(entry)
            continue
        if not entry.name.lower().endswith(SUFFIXES):
            continue
        try:
            st = entry.stat()  # the DirEntry's own stat (links followed): no Path to build for it
        except OSError as exc:
            skipped.append(Skipped(source, f"cannot be read ({exc.strerror})"))
            continue
        if not stat.S_ISREG(st.st_mode):  # a FIFO would block the read forever
            skipped.append(Skipped(source, "is not a regular file"))
            continue
        linked = via_link or entry.is_symlink()
        key = (st.st_dev, st.st_ino)
        seen = found.get(key)
        if seen is None or (seen.via_link and not linked):
            order = len(found) if seen is None else seen.order
            found[key] = _Found(SourceFile(entry.path, source, st.st_size, st.st_mtime_ns), linked, order)
    for entry in folders:
        try:
            st = os.stat(entry.path)
        except OSError as exc:
            skipped.append(Skipped(prefix + entry.name, f"folder cannot be read ({exc.strerror})"))
            continue
        key = (st.st_dev, st.st_ino)
        if key in ancestors:
            skipped.append(Skipped(prefix + entry.name, "links back to a folder it is inside; not followed"))
            continue
        _walk(
            Path(entry.path),
            prefix + entry.name + "/",
            via_link or entry.is_symlink(),
            (*ancestors, key),
            found,
            skipped,
            ignored,
        )


def decode(data: bytes) -> tuple[str, str]:
    """The text of a file's bytes and the encoding it was read with: UTF-8 (a BOM dropped) when valid,
    else the encoding charset-normalizer finds. Raises ValueError with the reason it cannot be read."""
    if b"\x00" in data[:_BINARY_SNIFF]:
        raise ValueError("looks binary (contains NUL bytes)")
    try:
        return data.decode("utf-8-sig"), "utf-8"
    except UnicodeDecodeError as exc:
        bad = exc.start
    from charset_normalizer import from_bytes

    matches = from_bytes(data)
    best = matches.best()
    if best is None:
        raise ValueError(f"is not UTF-8 (bad byte at offset {bad}) and no text encoding fits it; convert it to UTF-8")
    ties = {m.encoding: m for m in matches if m.chaos <= best.chaos + 0.01}
    chosen = next((ties[name] for name in _PREFERRED_ENCODINGS if name in ties), best)
    return str(chosen), chosen.encoding


def read_bytes_checked(data: bytes, max_bytes: int) -> str:
    """Decode a file's bytes, or raise ValueError with the reason it cannot be indexed."""
    return _checked(data, max_bytes)[0]


def _checked(data: bytes, max_bytes: int) -> tuple[str, str]:
    if len(data) > max_bytes:
        raise ValueError(_too_big(len(data), max_bytes))
    text, encoding = decode(data)
    if not text.strip():
        raise ValueError("is empty")
    return text, encoding


def _too_big(size: int, max_bytes: int) -> str:
    return f"is {_size(size)}, over the {_size(max_bytes)} limit (raise it with CLUSTERQA_MAX_FILE_MB)"


def _size(n: int) -> str:
    if n < 1048576:
        return f"{n:,} bytes"
    return f"{n // 1048576} MB" if n % 1048576 == 0 else f"{n / 1048576:.1f} MB"


def read_document(file: SourceFile, max_bytes: int, extractions: ExtractionCache | None = None) -> Document:
    """Read one file; raises ValueError (with the reason) for files that cannot be indexed.

    A file over the limit is refused from its size, without reading it into memory. PDF, HTML and
    DOCX extractions are looked up in (and added to) `extractions`.
    """
    try:
        with open(file.location, "rb") as handle:
            size = os.fstat(handle.fileno()).st_size
            if size > max_bytes:
                raise ValueError(_too_big(size, max_bytes))
            data = handle.read(max_bytes + 1)
    except OSError as exc:
        raise ValueError(f"cannot be read ({exc.strerror})") from None
    return parse_document(file.source, data, max_bytes, extractions)


def parse_document(
    source: str, data: bytes, max_bytes: int = 10 * 1024 * 1024, extractions: ExtractionCache | None = None
) -> Document:
    """A file's bytes as a Document, read by the reader of its format (see `readers`, `extraction`).

    A binary format's (PDF, HTML, DOCX) extracted text stands in for the file's text."""
    if len(data) > max_bytes:
        raise ValueError(_too_big(len(data), max_bytes))
    from .readers import Layout, finish, reader_for

    if source.lower().endswith(EXTRACTED_SUFFIXES):
        from .extraction import extract

        found = extract(source, data, extractions)
        original, encoding, pages = found.text, "utf-8", found.pages
        text, offsets = normalize_with_offsets(original)
        layout = Layout(found.title, found.date, finish(text, found.blocks))
        empty = "has no text"
    else:
        (original, encoding), pages = _checked(data, max_bytes), ()
        text, offsets = normalize_with_offsets(original)
        layout = reader_for(source)(original, text)
        empty = "has no text besides its front matter"
    if not layout.blocks:
        raise ValueError(empty)
    return Document(
        source=source,
        title=layout.title,
        date=layout.date,
        text=text,
        original=original,
        sha256=hashlib.sha256(data).hexdigest(),
        offsets=offsets,
        blocks=layout.blocks,
        encoding=encoding,
        pages=pages,
    )


def normalize(text: str) -> str:
    """NFKC, applied per starter-plus-combining-marks cluster so offsets can be tracked."""
    return normalize_with_offsets(text)[0]


def normalize_with_offsets(text: str) -> tuple[str, array | None]:
    """Return the normalized text and, when it differs, where each of its chars starts in `text`.

    Normalizing cluster by cluster (a starter and the combining marks after it) gives the
    same result as whole-string NFKC for all but exotic sequences, and keeps a map back to
    the original so citations point at the exact characters in the file.
    """
    if unicodedata.is_normalized("NFKC", text):
        return text, None
    pieces: list[str] = []
    offsets = array("I")  # 4 bytes a character: a 20 MB file needs 80 MB, not 160
    # Line by line: nothing composes across a line break, and most lines are already normal,
    # so only the lines that change pay for the character-by-character walk.
    for line in re.finditer(r"[^\n]*\n?", text):
        start, stop = line.span()
        if start == stop:
            continue
        if unicodedata.is_normalized("NFKC", line.group()):
            pieces.append(line.group())
            offsets.extend(range(start, stop))
        else:
            _normalize_clusters(text, start, stop, pieces, offsets)
    return "".join(pieces), offsets


def _normalize_clusters(text: str, start: int, stop: int, pieces: list[str], offsets: array) -> None:
    while start < stop:
        end = start + 1
        # Marks after a space or line break are a cluster of their own: no character composes
        # with whitespace, and a passage that starts at such a mark must not start a line early.
        if not text[start].isspace():
            while end < stop and unicodedata.combining(text[end]):
                end += 1
        cluster = text[start:end]
        piece = unicodedata.normalize("NFKC", cluster)
        pieces.append(piece)
        if piece == cluster:
            offsets.extend(range(start, end))  # unchanged: every char maps to itself
        else:
            offsets.extend([start] * len(piece))
        start = end
