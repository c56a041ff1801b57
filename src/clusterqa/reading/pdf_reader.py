"""PDF: the text layer of each page with pypdfium2, paragraphs from line shapes, sections from the outline.

Pages are laid end to end with one blank line between them; `Extraction.pages` records the line
each page starts on, so passages, citations (`report.pdf p. 12`) and `show report.pdf:12` count
pages and lines within a page. There is no OCR: a PDF without a text layer is refused as such.
"""

from __future__ import annotations

import re

from .extraction import Extraction
from .readers import RawBlock
from .titles import find_date, title_and_date

_PASSWORD_ERRORS = (4, 6)  # FPDF_ERR_PASSWORD, FPDF_ERR_SECURITY (an unsupported security handler)
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f\ufffe\uffff]")
_SENTENCE_END = re.compile(r"[.!?:;][\"'”’)\]]*$")
_SHORT_LINE = 0.8  # a line ending a sentence below this share of the page's width ends its paragraph


def extract(data: bytes) -> Extraction:
    import pypdfium2 as pdfium

    try:
        pdf = pdfium.PdfDocument(data)
    except pdfium.PdfiumError as exc:
        if getattr(exc, "err_code", None) in _PASSWORD_ERRORS:
            raise ValueError("is an encrypted PDF (it needs a password): save a copy without the password to index it") from None
        raise ValueError(f"is not a readable PDF ({exc})") from None
    try:
        pages = [_page_lines(pdf[i]) for i in range(len(pdf))]
        outline = _outline(pdf)
        meta_title = (pdf.get_metadata_value("Title") or "").strip()
        meta_date = _pdf_date(pdf.get_metadata_value("CreationDate") or "")
    finally:
        pdf.close()
    if not pages:
        raise ValueError("is a PDF with no pages")
    if not any(pages):
        n = len(pages)
        raise ValueError(
            f"has no text layer ({n} page{'s' if n != 1 else ''}; a scanned or image-only PDF), and clusterqa does not OCR"
        )
    lines: list[str] = []
    starts: list[int] = []
    raw: list[RawBlock] = []
    for page in pages:
        if lines:
            lines.append("")  # pages are apart like paragraphs
        starts.append(len(lines))
        offset = len(lines)
        lines.extend(page or [""])
        raw.extend(_join_across(raw, [RawBlock(offset + a, offset + b, "prose") for a, b in _paragraphs(page)], lines))
    raw = _with_sections(raw, lines, starts, outline)
    text = "\n".join(lines)
    title_line, text_date = title_and_date(text)
    return Extraction(
        text=text,
        title=meta_title or title_line,
        date=text_date or meta_date,
        blocks=tuple(raw),
        pages=tuple(s + 1 for s in starts),
    )


def _page_lines(page) -> list[str]:  # noqa: ANN001 - pypdfium2.PdfPage
    """A page's text as lines, trailing spaces and blank lines at either end dropped."""
    textpage = page.get_textpage()
    try:
        text = textpage.get_text_bounded()
    finally:
        textpage.close()
        page.close()
    text = _CONTROL.sub("", text.replace("\r\n", "\n").replace("\r", "\n").replace("\x02", "-"))
    lines = [line.rstrip() for line in text.split("\n")]
    while lines and not lines[-1].strip():
        lines.pop()
    while lines and not lines[0].strip():
        lines.pop(0)
    return lines


def _paragraphs(lines: list[str]) -> list[tuple[int, int]]:
    """Line ranges [a, b) of a page's paragraphs: a blank line, or a short line that ends a sentence,
    ends one (PDF text has no paragraph marks; a paragraph's last line is usually short)."""
    width = max((len(line.strip()) for line in lines), default=0)
    found = []
    first = None
    for i, line in enumerate(lines):
        stripped = line.strip()
        if not stripped:
            if first is not None:
                found.append((first, i))
                first = None
            continue
        if first is None:
            first = i
        if _SENTENCE_END.search(stripped) and len(stripped) < _SHORT_LINE * width:
            found.append((first, i + 1))
            first = None
    if first is not None:
        found.append((first, len(lines)))
    return found


def _join_across(before: list[RawBlock], page: list[RawBlock], lines: list[str]) -> list[RawBlock]:
    """A sentence that runs on over a page break stays one block: the previous page's last paragraph
    does not end a sentence and this page's first starts in lower case. The passage holding it is
    then on two pages; every other passage is on one."""
    if not before or not page:
        return page
    tail = lines[before[-1].last - 1].strip()
    head = lines[page[0].first].strip()
    if _SENTENCE_END.search(tail) or not head[:1].islower():
        return page
    merged = before.pop()
    return [RawBlock(merged.first, page[0].last, "prose"), *page[1:]]


def _outline(pdf) -> list[tuple[int, int, str]]:  # noqa: ANN001 - pypdfium2.PdfDocument
    """(page index, level, title) of each outline entry (bookmark) that points at a page."""
    entries = []
    try:
        for item in pdf.get_toc():
            dest = item.get_dest()
            index = dest.get_index() if dest is not None else None
            title = " ".join((item.get_title() or "").split())
            if index is not None and title:
                entries.append((index, item.level, title))
    except Exception:  # noqa: BLE001 - a damaged outline costs the sections, not the document
        return []
    return entries


Outline = list[tuple[int, int, str]]  # (page index, level, title)


def _with_sections(raw: list[RawBlock], lines: list[str], starts: list[int], outline: Outline) -> list[RawBlock]:
    """Section paths from the outline: an entry's section starts at the line of its page that reads
    its title (that line becomes a heading block), else at the top of the page."""
    if not outline:
        return raw
    events: list[tuple[int, int, str]] = []  # (line, level, title)
    heading_lines: set[int] = set()
    for index, level, title in outline:
        if index >= len(starts):
            continue
        top = starts[index]
        bottom = starts[index + 1] if index + 1 < len(starts) else len(lines)
        key = title.casefold()
        line = next((i for i in range(top, bottom) if " ".join(lines[i].split()).casefold() == key), None)
        events.append((top if line is None else line, level, title))
        if line is not None:
            heading_lines.add(line)
    split: list[RawBlock] = []
    for b in raw:  # a heading line inside a paragraph becomes a block of its own
        cursor = b.first
        for i in range(b.first, b.last):
            if i in heading_lines:
                if cursor < i:
                    split.append(RawBlock(cursor, i, b.kind))
                split.append(RawBlock(i, i + 1, "heading", 1, lines[i].strip()))
                cursor = i + 1
        if cursor < b.last:
            split.append(RawBlock(cursor, b.last, b.kind))
    events.sort(key=lambda e: e[0])
    path: list[tuple[int, str]] = []
    result = []
    e = 0
    for b in split:
        while e < len(events) and events[e][0] <= b.first:
            _, level, title = events[e]
            while path and path[-1][0] >= level:
                path.pop()
            path.append((level, title))
            e += 1
        result.append(RawBlock(b.first, b.last, b.kind, b.level, b.heading, " › ".join(t for _, t in path)))
    return result


def _pdf_date(value: str) -> str | None:
    """A PDF date string (D:YYYYMMDDHHmmSS...) as YYYY-MM-DD."""
    m = re.match(r"D?:?(\d{4})(\d{2})(\d{2})", value.strip())
    if not m:
        return None
    found = find_date(f"{m[1]}-{m[2]}-{m[3]}")
    return found[0] if found else None
