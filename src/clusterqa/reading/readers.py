"""One reader per file format: a document's decoded text -> its title, date and located blocks.

A reader is a function `(original, text) -> Layout`: `original` is the decoded file, `text` its
NFKC-normalized form (same lines, what blocks point into). Markdown has its own module; plain
text, reStructuredText and Org mode are read here line by line (section titles where cheap).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from ..models import Block
from .splitting import paragraphs, trim
from .titles import find_date, title_and_date


@dataclass(frozen=True)
class Layout:
    title: str
    date: str | None  # ISO 8601
    blocks: tuple[Block, ...]


Reader = Callable[[str, str], Layout]


@dataclass(frozen=True)
class RawBlock:
    """Lines [first, last) of a document and what they hold, before sections are assigned."""

    first: int
    last: int
    kind: str  # prose | heading | code | table | list | other
    level: int = 0  # heading level, 1 = top
    heading: str = ""  # heading text, without its markup
    section: str | None = None  # a section path the format states outright (a PDF's outline), else from headings


def line_starts(text: str) -> list[int]:
    """Offset of the start of each line of `text`, plus len(text) at the end."""
    starts = [0]
    starts.extend(m.end() for m in re.finditer("\n", text))
    starts.append(len(text))
    return starts


def finish(text: str, raw: Sequence[RawBlock]) -> tuple[Block, ...]:
    """Located blocks with their section paths.

    The heading path is built from heading levels. When the document opens with a heading of the
    shallowest level and that level is used only there, the heading is the document's title rather
    than a section: it is left out
    of the paths, so citations read "guide.md § Install › Linux", not "guide.md § Guide › Install › Linux".
    """
    starts = line_starts(text)
    headings = [b for b in raw if b.kind == "heading"]
    title_heading = None
    if headings:
        top = min(h.level for h in headings)
        alone = headings[0].level == top and sum(h.level == top for h in headings) == 1 and raw[0] is headings[0]
        if alone:
            title_heading = headings[0]
    path: list[tuple[int, str]] = []
    blocks = []
    for b in raw:
        if b.kind == "heading" and b is not title_heading:
            while path and path[-1][0] >= b.level:
                path.pop()
            path.append((b.level, " ".join(b.heading.split())))
        start, end = trim(text, starts[b.first], starts[min(b.last, len(starts) - 1)])
        if start < end:
            section = b.section if b.section is not None else " › ".join(name for _, name in path)
            blocks.append(Block(start, end, b.kind, section))
    return tuple(blocks)


def nfkc(value: str) -> str:
    return " ".join(unicodedata.normalize("NFKC", value).split())


def parse_date(value: str) -> str | None:
    found = find_date(value)
    return found[0] if found else None


def read_plain(original: str, text: str) -> Layout:
    """Plain text: blank-line separated paragraphs of prose; the title is the first line."""
    title, when = title_and_date(text)
    return Layout(title, when, tuple(Block(s, e) for s, e in paragraphs(text)))


def lines_to_blocks(kinds: Sequence[str | None]) -> list[RawBlock]:
    """Group classified lines: a run of one kind is a block; prose runs end at blank lines (None)."""
    raw: list[RawBlock] = []
    first = None
    for i, kind in enumerate([*kinds, None]):
        if first is not None and (kind != kinds[first] or kind is None):
            raw.append(RawBlock(first, i, kinds[first]))
            first = None
        if first is None and kind is not None:
            first = i
    return raw


# reStructuredText: a title is a line underlined (and maybe overlined) with one repeated punctuation mark.
_RST_ADORNMENT = re.compile(r"([=\-~^\"'`#*+:._!])\1{2,}\s*")


def read_rst(original: str, text: str) -> Layout:
    lines = text.split("\n")
    kinds: list[str | None] = [None if not line.strip() else "prose" for line in lines]
    heads: dict[int, RawBlock] = {}
    styles: list[tuple[str, bool]] = []
    literal = False
    i = 0
    while i < len(lines):
        line = lines[i]
        under = lines[i + 1] if i + 1 < len(lines) else ""
        adorned = _RST_ADORNMENT.fullmatch(under)
        if line.strip() and not _RST_ADORNMENT.fullmatch(line) and adorned and len(under.rstrip()) >= len(line.strip()):
            over = i > 0 and lines[i - 1].strip() == under.strip()
            style = (under.strip()[0], over)
            if style not in styles:
                styles.append(style)
            first = i - 1 if over else i
            heads[first] = RawBlock(first, i + 2, "heading", styles.index(style) + 1, line.strip())
            for j in range(first, i + 2):
                kinds[j] = "heading"
            i += 2
            continue
        if line.strip() and (line.lstrip().startswith(".. ") or (literal and line[:1].isspace())):
            kinds[i] = "other" if line.lstrip().startswith(".. ") else "code"
        elif line.strip():
            literal = line.rstrip().endswith("::")
        i += 1
    raw = []
    for b in lines_to_blocks(kinds):
        if b.kind == "heading":  # consecutive titles are blocks of their own
            raw.extend(h for first, h in sorted(heads.items()) if b.first <= first < b.last)
        else:
            raw.append(b)
    blocks = finish(text, raw)
    titles = [h.heading for h in raw if h.kind == "heading"]
    title, when = title_and_date(text)
    return Layout(nfkc(titles[0]) if titles else title, when, blocks)


_ORG_HEADING = re.compile(r"(\*+)\s+(.*)")
_ORG_KEYWORD = re.compile(r"#\+(\w+):\s*(.*)", re.IGNORECASE)


def read_org(original: str, text: str) -> Layout:
    lines = text.split("\n")
    kinds: list[str | None] = []
    keywords: dict[str, str] = {}
    headings: dict[int, tuple[int, str]] = {}
    in_block = False
    for i, line in enumerate(lines):
        stripped = line.strip()
        upper = stripped.upper()
        if in_block:
            kinds.append("code")
            in_block = not upper.startswith("#+END_")
        elif upper.startswith("#+BEGIN_"):
            kinds.append("code")
            in_block = True
        elif m := _ORG_KEYWORD.fullmatch(stripped):
            keywords.setdefault(m.group(1).lower(), m.group(2))
            kinds.append(None)
        elif (m := _ORG_HEADING.fullmatch(line)) and m.group(2).strip():
            headings[i] = (len(m.group(1)), m.group(2))
            kinds.append("heading")
        elif stripped.startswith("|"):
            kinds.append("table")
        elif stripped.startswith("#"):
            kinds.append(None)  # an Org comment
        else:
            kinds.append("prose" if stripped else None)
    raw = []
    for b in lines_to_blocks(kinds):
        if b.kind == "heading":
            raw.extend(RawBlock(i, i + 1, "heading", *headings[i]) for i in range(b.first, b.last))
        else:
            raw.append(b)
    blocks = finish(text, raw)
    if not blocks:
        return Layout("", None, ())
    fallback_title, fallback_date = title_and_date(text[blocks[0].start :])
    title = keywords.get("title") or next((h.heading for h in raw if h.kind == "heading"), "") or fallback_title
    when = parse_date(keywords.get("date", "")) or fallback_date
    return Layout(nfkc(title), when, blocks)


def reader_for(source: str) -> Reader:
    """The reader of a file, by its extension (one of `documents.SUFFIXES`)."""
    from .markdown_reader import read_markdown

    suffix = "." + source.rsplit(".", 1)[-1].lower()
    return {".md": read_markdown, ".markdown": read_markdown, ".mdx": read_markdown, ".rst": read_rst, ".org": read_org}.get(
        suffix, read_plain
    )
