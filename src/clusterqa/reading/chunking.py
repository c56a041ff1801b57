"""Splitting a document into passages that respect paragraphs and sentences."""

from __future__ import annotations

import bisect
import hashlib
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from ..config import ChunkingSettings
from ..models import Block, Chunk, Document
from .splitting import LINE, Span, field_label, line_groups, paragraphs, prose_sentences, sentence_spans, trim

__all__ = [
    "MIN_ANSWER_WORDS",
    "Span",
    "TokenCounter",
    "chunk",
    "line_groups",
    "paragraphs",
    "sentence_spans",
    "short_field",
    "text_hash",
]

TokenCounter = Callable[[Sequence[str]], list[int]]
"""Counts word pieces (without special tokens) for each text."""

MIN_ANSWER_WORDS = 5  # headings and fragments are not answers (a shorter "Label: value" field line is)
COUNT_BATCH = 4096  # sentences measured together: the tokenizer's batch path, and progress for a long document


def _split_long(text: str, span: Span, limit: int, count: TokenCounter) -> list[Span]:
    """Cut a sentence longer than `limit` word pieces at word boundaries."""
    words = [(m.start(), m.end()) for m in re.finditer(r"\S+", text[span.start : span.end])]
    counts = count([text[span.start + s : span.start + e] for s, e in words])
    pieces: list[Span] = []
    first = 0
    total = 0
    for i, n in enumerate(counts):
        if total and total + n > limit:
            pieces.append(Span(span.start + words[first][0], span.start + words[i - 1][1], span.paragraph))
            first, total = i, 0
        total += n
    pieces.append(Span(span.start + words[first][0], span.start + words[-1][1], span.paragraph))
    return pieces


@dataclass(frozen=True)
class _Unit:
    """A sentence (prose), a heading, or a line of a code/table/list block: what passages are packed from."""

    span: Span  # span.paragraph is the index of the unit's block
    tokens: int
    kind: str
    section: str
    page: int = 0  # paged formats: the page the unit starts on (0: not paged)


def chunk(
    document: Document, count: TokenCounter, settings: ChunkingSettings, progress: Callable[[int], None] | None = None
) -> list[Chunk]:
    """Pack sentences into passages of at most `max_tokens` word pieces.

    A passage ends at a paragraph break once it holds `min_tokens`, so short headings join
    the paragraph they introduce. When a paragraph must be split, the next passage repeats
    the previous sentence (if it is at most `overlap_tokens`) so no statement loses its context.
    A heading starts a new passage (so a passage lies in one section), and code, tables and
    lists never share a passage with prose. Answer candidates are the passage's full prose sentences.
    In a paged document (PDF) a new page starts a new passage; lines are counted within the page.
    `progress(characters)` hears how far into the text the cutting has come.
    """
    text = document.text
    units = _units(document, count, settings.max_tokens, progress)
    if not units:
        return []
    groups = _group(units, settings)
    newlines = [m.start() for m in re.finditer("\n", document.original)]
    chunks = []
    for ordinal, group in enumerate(groups):
        start, end = _whole_characters(document, group[0].span.start, group[-1].span.end)
        orig_start, orig_end = document.original_span(start, end)
        passage = text[start:end]
        line_start = bisect.bisect_right(newlines, orig_start - 1) + 1 if orig_start else 1
        line_end = bisect.bisect_right(newlines, orig_end - 1) + 1
        page_start = page_end = None
        if document.pages:
            page_start, line_start = _on_page(document.pages, line_start)
            page_end, line_end = _on_page(document.pages, line_end)
        chunks.append(
            Chunk(
                source=document.source,
                ordinal=ordinal,
                text=passage,
                char_start=orig_start,
                char_end=orig_end,
                line_start=line_start,
                line_end=line_end,
                text_hash=text_hash(passage),
                section=group[-1].section,
                candidates=_candidates(text, group, start, document.title),
                page_start=page_start,
                page_end=page_end,
            )
        )
    return chunks


def _on_page(pages: Sequence[int], line: int) -> tuple[int, int]:
    """(page, line within the page) of a line of a paged document; `pages` holds each page's first line."""
    page = bisect.bisect_right(pages, line)
    return page, line - pages[page - 1] + 1


def _units(document: Document, count: TokenCounter, limit: int, progress: Callable[[int], None] | None) -> list[_Unit]:
    """Sentences (prose) and lines (code, tables, lists) with their word-piece counts, measured a
    batch of blocks at a time so that a long document reports progress as it goes."""
    text = document.text
    blocks = document.blocks or tuple(Block(s, e) for s, e in paragraphs(text))
    newlines = [m.start() for m in re.finditer("\n", text)] if document.pages else []

    def page(offset: int) -> int:
        return bisect.bisect_right(document.pages, bisect.bisect_right(newlines, offset - 1) + 1) if document.pages else 0

    units: list[_Unit] = []
    pieces: list[tuple[Span, Block]] = []
    for index, block in enumerate(blocks):
        if block.kind == "prose":
            found = prose_sentences(text, block.start, block.end)
        elif block.kind == "heading":
            found = [trim(text, block.start, block.end)]
        else:  # code, tables, lists: line by line
            found = [trim(text, m.start(), m.end()) for m in LINE.finditer(text, block.start, block.end)]
        pieces.extend((Span(s, e, index), block) for s, e in found if s < e)
        if len(pieces) < COUNT_BATCH and index < len(blocks) - 1:
            continue
        counts = count([text[span.start : span.end] for span, _ in pieces])
        for (span, home), n in zip(pieces, counts, strict=True):
            if n > limit:
                cut = _split_long(text, span, limit, count)
                for piece, m in zip(cut, count([text[p.start : p.end] for p in cut]), strict=True):
                    units.append(_Unit(piece, m, home.kind, home.section, page(piece.start)))
            else:
                units.append(_Unit(span, n, home.kind, home.section, page(span.start)))
        pieces = []
        if progress:
            progress(block.end)
    return units


def _hard_break(current: list[_Unit], unit: _Unit) -> bool:
    """Whether `unit` must start a new passage whatever the sizes."""
    if unit.page != current[-1].page:
        return True  # a passage lies on one page (a sentence running over the break is one unit, on its first page)
    if all(u.kind == "heading" for u in current):
        return False  # a heading joins what it introduces
    if unit.kind == "heading":
        return True
    previous = current[-1]
    return unit.span.paragraph != previous.span.paragraph and (unit.kind != "prose" or previous.kind != "prose")


def _group(units: list[_Unit], settings: ChunkingSettings) -> list[list[_Unit]]:
    groups: list[list[_Unit]] = []
    current: list[_Unit] = []
    tokens = 0
    hard_start = True  # the current passage began at a hard break: it never joins the one before

    def close() -> None:
        # A short tail ("Post a Comment") belongs with the passage before it.
        if not hard_start and groups and tokens < settings.min_tokens and _tokens(groups[-1]) + tokens <= settings.max_tokens:
            groups[-1] = groups[-1] + [u for u in current if u not in groups[-1]]
        else:
            groups.append(current)

    for unit in units:
        n = unit.tokens
        if current:
            if _hard_break(current, unit):
                close()
                current, tokens, hard_start = [], 0, True
            else:
                new_paragraph = unit.span.paragraph != current[-1].span.paragraph
                if tokens + n > settings.max_tokens or (new_paragraph and tokens >= settings.min_tokens):
                    groups.append(current)
                    last = current[-1]
                    carry = (
                        not new_paragraph
                        and last.tokens <= settings.overlap_tokens
                        and len(current) > 1
                        and last.tokens + n <= settings.max_tokens
                    )
                    current, tokens = ([last], last.tokens) if carry else ([], 0)
                    hard_start = False
        current.append(unit)
        tokens += n
    close()
    return groups


def short_field(text: str, start: int, end: int) -> bool:
    """text[start:end] is a "Label: value" line under MIN_ANSWER_WORDS words: an answer candidate only
    because it is a field (Phone: 0510-68559077)."""
    return len(text[start:end].split()) < MIN_ANSWER_WORDS and field_label(text, start, end) is not None


def _candidates(text: str, group: list[_Unit], start: int, title: str) -> tuple[tuple[int, int, int], ...]:
    """Full prose sentences and "Label: value" fields (Phone: 0510-68559077) other than the title, as
    (start, end, context start) offsets in the passage.

    A sentence often leans on the one before it ("it generated ..."), so each candidate's context
    span starts at the previous full sentence; a short field's, at the candidate before it. A sentence
    never leans on a short field, so adding the fields left every sentence's context as it was.
    """
    prose = [u.span for u in group if u.kind == "prose"]
    if not prose:
        return ()
    short_fields = {s for s in prose if short_field(text, s.start, s.end)}
    full = [s for s in prose if len(text[s.start : s.end].split()) >= MIN_ANSWER_WORDS or s in short_fields]
    chosen = [s for s in (full or prose) if text[s.start : s.end].strip() != title.strip()] or prose
    candidates = []
    previous: Span | None = None
    sentence: Span | None = None  # the last full sentence: what the next one leans on
    for span in chosen:
        context = (previous if span in short_fields else sentence) or span
        candidates.append((span.start - start, span.end - start, context.start - start))
        previous = span
        if span not in short_fields:
            sentence = span
    return tuple(candidates)


def _whole_characters(document: Document, start: int, end: int) -> tuple[int, int]:
    """Widen [start, end) of the normalized text so it holds whole characters of the file.

    One character of the file can normalize to several ("¨" -> " " + U+0308, "ﬁ" -> "fi"); a
    passage that began or ended inside such an expansion would not map back to the file.
    """
    offsets = document.offsets
    if offsets is None:
        return start, end
    while start > 0 and offsets[start - 1] == offsets[start]:
        start -= 1
    while end < len(offsets) and offsets[end] == offsets[end - 1]:
        end += 1
    return start, end


def _tokens(group: list[_Unit]) -> int:
    return sum(u.tokens for u in group)


def text_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()
