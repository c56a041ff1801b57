"""Splitting a document into passages that respect paragraphs and sentences."""

from __future__ import annotations

import bisect
import hashlib
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from .config import ChunkingSettings
from .models import Chunk, Document

TokenCounter = Callable[[Sequence[str]], list[int]]
"""Counts word pieces (without special tokens) for each text."""

# A sentence ends at . ! ? (or CJK enders) plus closing quotes/brackets, before whitespace.
# NFKC turns the fullwidth ！ and ？ into ASCII, so in normalized CJK text an ASCII ! or ?
# directly followed by a CJK character ends a sentence too.
_CJK = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af"
_SENTENCE_END = re.compile(r"[.!?。！？…]+[\"'”’)\]]*(?=\s)|[。！？]|[!?]+(?=[" + _CJK + "])")
_ABBREVIATIONS = frozenset(
    [
        "mr",
        "mrs",
        "ms",
        "dr",
        "prof",
        "st",
        "no",
        "co",
        "ltd",
        "inc",
        "corp",
        "vs",
        "etc",
        "e.g",
        "i.e",
        "jan",
        "feb",
        "mar",
        "apr",
        "jun",
        "jul",
        "aug",
        "sep",
        "sept",
        "oct",
        "nov",
        "dec",
    ]
)


@dataclass(frozen=True)
class Span:
    """[start, end) in a document's normalized text."""

    start: int
    end: int
    paragraph: int


def sentence_spans(text: str) -> list[Span]:
    """Sentences (and lone lines) of `text`, whitespace trimmed, each tagged with its paragraph."""
    spans: list[Span] = []
    paragraph = 0
    previous_end = 0
    for block_start, block_end in _blocks(text):
        if spans and text.count("\n", previous_end, block_start) >= 2:
            paragraph += 1
        previous_end = block_end
        for start, end in _split_sentences(text, block_start, block_end):
            spans.append(Span(start, end, paragraph))
    return spans


def _blocks(text: str) -> list[tuple[int, int]]:
    """Non-blank lines: a line break always ends a sentence in these documents' layout."""
    blocks = []
    for m in re.finditer(r"[^\n]+", text):
        start, end = _trim(text, m.start(), m.end())
        if start < end:
            blocks.append((start, end))
    return blocks


def _split_sentences(text: str, start: int, end: int) -> list[tuple[int, int]]:
    pieces = []
    cursor = start
    for m in _SENTENCE_END.finditer(text, start, end):
        stop = m.end()
        word = text[cursor : m.start()].rsplit(None, 1)[-1:] or [""]
        if word[0].lower().rstrip(".") in _ABBREVIATIONS or (len(word[0]) == 1 and word[0].isupper()):
            continue
        following = text[stop:end].lstrip()
        if following and following[0].islower():
            continue
        s, e = _trim(text, cursor, stop)
        if s < e:
            pieces.append((s, e))
        cursor = stop
    s, e = _trim(text, cursor, end)
    if s < e:
        pieces.append((s, e))
    return pieces


def _trim(text: str, start: int, end: int) -> tuple[int, int]:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return start, end


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


def chunk(document: Document, count: TokenCounter, settings: ChunkingSettings) -> list[Chunk]:
    """Pack sentences into passages of at most `max_tokens` word pieces.

    A passage ends at a paragraph break once it holds `min_tokens`, so short headings join
    the paragraph they introduce. When a paragraph must be split, the next passage repeats
    the previous sentence (if it is at most `overlap_tokens`) so no statement loses its context.
    """
    text = document.text
    sentences = sentence_spans(text)
    if not sentences:
        return []
    counts = count([text[s.start : s.end] for s in sentences])
    units: list[tuple[Span, int]] = []
    for span, n in zip(sentences, counts, strict=True):
        if n > settings.max_tokens:
            pieces = _split_long(text, span, settings.max_tokens, count)
            units.extend(zip(pieces, count([text[p.start : p.end] for p in pieces]), strict=True))
        else:
            units.append((span, n))

    groups: list[list[tuple[Span, int]]] = []
    current: list[tuple[Span, int]] = []
    tokens = 0
    for span, n in units:
        if current:
            new_paragraph = span.paragraph != current[-1][0].paragraph
            if tokens + n > settings.max_tokens or (new_paragraph and tokens >= settings.min_tokens):
                groups.append(current)
                last_span, last_n = current[-1]
                carry = (
                    not new_paragraph
                    and last_n <= settings.overlap_tokens
                    and len(current) > 1
                    and last_n + n <= settings.max_tokens
                )
                current, tokens = ([(last_span, last_n)], last_n) if carry else ([], 0)
        current.append((span, n))
        tokens += n
    # A short tail ("Post a Comment") belongs with the passage before it.
    if groups and tokens < settings.min_tokens and _tokens(groups[-1]) + tokens <= settings.max_tokens:
        groups[-1] = groups[-1] + [u for u in current if u not in groups[-1]]
    else:
        groups.append(current)

    from .sentences import answer_candidates  # sentences builds on this module's splitter

    newlines = [m.start() for m in re.finditer("\n", document.original)]
    chunks = []
    for ordinal, group in enumerate(groups):
        start, end = _whole_characters(document, group[0][0].start, group[-1][0].end)
        orig_start, orig_end = document.original_span(start, end)
        passage = text[start:end]
        chunks.append(
            Chunk(
                source=document.source,
                ordinal=ordinal,
                text=passage,
                char_start=orig_start,
                char_end=orig_end,
                line_start=bisect.bisect_right(newlines, orig_start - 1) + 1 if orig_start else 1,
                line_end=bisect.bisect_right(newlines, orig_end - 1) + 1,
                text_hash=text_hash(passage),
                candidates=tuple((c.start, c.end, c.context_start) for c in answer_candidates(passage, document.title)),
            )
        )
    return chunks


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


def _tokens(group: list[tuple[Span, int]]) -> int:
    return sum(n for _, n in group)


def text_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()
