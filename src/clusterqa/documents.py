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
from datetime import date
from pathlib import Path

from .errors import NoDocumentsError
from .models import Document, Skipped

SUFFIXES = (".txt", ".md")
_BINARY_SNIFF = 8192
_HEADER_LINES = 4  # a stated date lives in the first lines, not in the body's history

_MONTHS = {
    name: number
    for number, names in enumerate(
        [
            ("january", "jan"),
            ("february", "feb"),
            ("march", "mar"),
            ("april", "apr"),
            ("may",),
            ("june", "jun"),
            ("july", "jul"),
            ("august", "aug"),
            ("september", "sep", "sept"),
            ("october", "oct"),
            ("november", "nov"),
            ("december", "dec"),
        ],
        start=1,
    )
    for name in names
}
_MONTH = r"(?P<month>" + "|".join(sorted(_MONTHS, key=len, reverse=True)) + r")\.?"
_DATE_PATTERNS = [
    # 2023-08-17, 2023/08/17, 2023.08.17
    re.compile(r"(?<!\d)(?P<year>\d{4})[-/.](?P<mnum>\d{1,2})[-/.](?P<day>\d{1,2})(?!\d)"),
    # July 31 2020, July 31, 2020, July 31 18:38 2020
    re.compile(
        _MONTH + r"\s+(?P<day>\d{1,2})(?:st|nd|rd|th)?,?\s+(?:\d{1,2}:\d{2}(?::\d{2})?\s+)?(?P<year>\d{4})(?!\d)",
        re.IGNORECASE,
    ),
    # 31 July 2020
    re.compile(r"(?<!\d)(?P<day>\d{1,2})\s+" + _MONTH + r",?\s+(?P<year>\d{4})(?!\d)", re.IGNORECASE),
    # 2020年7月31日
    re.compile(r"(?P<year>\d{4})年(?P<mnum>\d{1,2})月(?P<day>\d{1,2})日"),
]
_DATE_LABEL = r"(?:date|dated|posted|post time|published|updated)?\s*:?\s*"


@dataclass(frozen=True)
class SourceFile:
    """A candidate file found by the scan, before it is read."""

    path: Path
    source: str
    size: int
    mtime_ns: int


@dataclass(frozen=True)
class Scan:
    files: tuple[SourceFile, ...]
    skipped: tuple[Skipped, ...]


def scan(seeds: Path, ignored: Callable[[str, bool], bool] | None = None) -> Scan:
    """List the .txt and .md files under `seeds`, recursively, in a stable order.

    `ignored(path relative to seeds, is_dir)` drops folders and files (see `ignore.IgnoreRules`).
    """
    if not seeds.exists():
        raise NoDocumentsError(f"seeds folder {seeds} does not exist; create it or pass --seeds DIR")
    if not seeds.is_dir():
        raise NoDocumentsError(f"seeds path {seeds} is not a folder; pass --seeds DIR")
    files: list[SourceFile] = []
    skipped: list[Skipped] = []
    for dirpath, dirnames, filenames in os.walk(seeds):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        if ignored is not None:
            here = Path(dirpath).relative_to(seeds).as_posix()
            dirnames[:] = [d for d in dirnames if not ignored(d if here == "." else f"{here}/{d}", True)]
        for name in sorted(filenames):
            if name.startswith(".") or not name.lower().endswith(SUFFIXES):
                continue
            path = Path(dirpath, name)
            source = path.relative_to(seeds).as_posix()
            if ignored is not None and ignored(source, False):
                continue
            try:
                st = path.stat()
            except OSError as exc:
                skipped.append(Skipped(source, f"cannot be read ({exc.strerror})"))
                continue
            if not stat.S_ISREG(st.st_mode):  # a FIFO would block the read forever
                skipped.append(Skipped(source, "is not a regular file"))
                continue
            files.append(SourceFile(path, source, st.st_size, st.st_mtime_ns))
    return Scan(tuple(files), tuple(skipped))


def read_bytes_checked(data: bytes, max_bytes: int) -> str:
    """Decode a file's bytes, or raise ValueError with the reason it cannot be indexed."""
    if len(data) > max_bytes:
        raise ValueError(_too_big(len(data), max_bytes))
    if b"\x00" in data[:_BINARY_SNIFF]:
        raise ValueError("looks binary (contains NUL bytes)")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ValueError(f"is not valid UTF-8 (bad byte at offset {exc.start}); convert it to UTF-8") from None
    if not text.strip():
        raise ValueError("is empty")
    return text


def _too_big(size: int, max_bytes: int) -> str:
    return f"is {_size(size)}, over the {_size(max_bytes)} limit (raise it with CLUSTERQA_MAX_FILE_MB)"


def _size(n: int) -> str:
    if n < 1048576:
        return f"{n:,} bytes"
    return f"{n // 1048576} MB" if n % 1048576 == 0 else f"{n / 1048576:.1f} MB"


def read_document(file: SourceFile, max_bytes: int) -> Document:
    """Read one file; raises ValueError (with the reason) for files that cannot be indexed.

    A file over the limit is refused from its size, without reading it into memory.
    """
    try:
        with open(file.path, "rb") as handle:
            size = os.fstat(handle.fileno()).st_size
            if size > max_bytes:
                raise ValueError(_too_big(size, max_bytes))
            data = handle.read(max_bytes + 1)
    except OSError as exc:
        raise ValueError(f"cannot be read ({exc.strerror})") from None
    return parse_document(file.source, data, max_bytes)


def parse_document(source: str, data: bytes, max_bytes: int = 10 * 1024 * 1024) -> Document:
    original = read_bytes_checked(data, max_bytes)
    text, offsets = normalize_with_offsets(original)
    title, when = title_and_date(text)
    return Document(
        source=source,
        title=title,
        date=when,
        text=text,
        original=original,
        sha256=hashlib.sha256(data).hexdigest(),
        offsets=offsets,
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


def title_and_date(text: str) -> tuple[str, str | None]:
    """Title: the first non-empty line. Date: the first full date stated in the header lines.

    When the title line itself carries the date (" date 2023-08-17 The first batch..."),
    the date and its label are taken off the title.
    """
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    title = lines[0].lstrip("#").strip() if lines else ""
    for index, line in enumerate(lines[:_HEADER_LINES]):
        found = _find_date(line)
        if found is None:
            continue
        iso, match = found
        if index == 0:
            stripped = re.sub(r"^\s*" + _DATE_LABEL + re.escape(match) + r"[\s:,-]*", "", title, flags=re.I)
            title = stripped or title
        return title, iso
    return title, None


def _find_date(line: str) -> tuple[str, str] | None:
    best: tuple[int, str, str] | None = None
    for pattern in _DATE_PATTERNS:
        for m in pattern.finditer(line):
            groups = m.groupdict()
            month = int(groups["mnum"]) if groups.get("mnum") else _MONTHS[groups["month"].lower()]
            try:
                day = date(int(groups["year"]), month, int(groups["day"]))
            except ValueError:
                continue
            if best is None or m.start() < best[0]:
                best = (m.start(), day.isoformat(), m.group(0))
            break
    return (best[1], best[2]) if best else None
