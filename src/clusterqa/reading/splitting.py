"""Splitting text into paragraphs and sentences, with hard-wrapped lines read as one paragraph."""

from __future__ import annotations

import re
from dataclasses import dataclass

# A sentence ends at . ! ? (or CJK enders) plus closing quotes/brackets, before whitespace.
# NFKC turns the fullwidth ！ ？ and ； into ASCII, so in normalized CJK text an ASCII ! ? or ;
# directly followed by a CJK character ends a sentence too (a Chinese semicolon joins statements
# that each answer on their own: "产值达1200亿元；出口占三成").
_CJK = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af"
_SENTENCE_END = re.compile(r"[.!?。！？…]+[\"'”’)\]]*(?=\s)|[。！？]+[”’」』)]*|[!?;]+(?=[" + _CJK + "])")
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


MIN_WRAP_WIDTH = 40  # a paragraph whose longest line is shorter is not hard-wrapped prose (an address, a poem)
# A line that starts a list item or a "Label:" field is a statement of its own, never a wrapped continuation.
_LIST_ITEM = re.compile(r"[^\S\n]*(?:[-*+•‣◦]|\d{1,3}[.)])\s")
_LABEL_WORDS = r"[A-Z][\w'’&/-]*(?: [\w'’&/-]+){0,3}"  # one to four words, the first capitalized
_LABEL = re.compile(rf"[^\S\n]*{_LABEL_WORDS}:(?:\s|$)")
# A whole line "Label: value" (Phone: 0510-68559077, Released: 2019): a fact of its own however short.
_FIELD = re.compile(rf"[^\S\n]*({_LABEL_WORDS}):[^\S\n]+\S[^\n]*")
LINE = re.compile(r"[^\n]+")
_BLANK_LINES = re.compile(r"\n[^\S\n]*(?:\n[^\S\n]*)+")


@dataclass(frozen=True)
class Span:
    """[start, end) in a document's normalized text."""

    start: int
    end: int
    paragraph: int


def paragraphs(text: str, start: int = 0, end: int | None = None) -> list[tuple[int, int]]:
    """Blank-line separated paragraphs of text[start:end], whitespace trimmed."""
    end = len(text) if end is None else end
    found = []
    cursor = start
    for m in _BLANK_LINES.finditer(text, start, end):
        s, e = trim(text, cursor, m.start())
        if s < e:
            found.append((s, e))
        cursor = m.end()
    s, e = trim(text, cursor, end)
    if s < e:
        found.append((s, e))
    return found


def sentence_spans(text: str) -> list[Span]:
    """Sentences of `text` (lone short lines are statements of their own), each tagged with its paragraph.

    Lines that were hard-wrapped to fit a width are read as one paragraph, see `line_groups`.
    """
    spans: list[Span] = []
    for paragraph, (start, end) in enumerate(paragraphs(text)):
        spans.extend(Span(s, e, paragraph) for s, e in prose_sentences(text, start, end))
    return spans


def prose_sentences(text: str, start: int, end: int) -> list[tuple[int, int]]:
    """Sentences of one prose paragraph text[start:end]."""
    pieces = []
    for group_start, group_end in line_groups(text, start, end):
        pieces.extend(_split_sentences(text, group_start, group_end))
    return pieces


def line_groups(text: str, start: int, end: int) -> list[tuple[int, int]]:
    """The lines of a paragraph, with hard-wrapped lines joined: a line break is a soft wrap when the
    line was broken because the next word did not fit the paragraph's width.

    The width is the paragraph's longest line (at least MIN_WRAP_WIDTH). A line ending in a colon or a
    Markdown hard break, and a line before a list item or a "Label:" field, is never joined to the next.
    """
    lines = []
    for m in LINE.finditer(text, start, end):
        s, e = trim(text, m.start(), m.end())
        if s < e:
            lines.append((m.start(), s, e, m.end()))
    if not lines:
        return []
    width = max(e - line_start for line_start, _, e, _ in lines)
    groups = [[lines[0][1], lines[0][2]]]
    for (prev_start, _, prev_end, prev_raw_end), (next_start, s, e, _) in zip(lines, lines[1:]):  # noqa: B905
        if width >= MIN_WRAP_WIDTH and _wrapped(text, prev_start, prev_end, prev_raw_end, next_start, s, e, width):
            groups[-1][1] = e
        else:
            groups.append([s, e])
    return [(s, e) for s, e in groups]


def _wrapped(text: str, prev_start: int, prev_end: int, prev_raw_end: int, next_start: int, s: int, e: int, width: int) -> bool:
    if text[prev_end - 1] == ":" or text[prev_end - 1] == "\\" or text.startswith("  ", prev_raw_end - 2):
        return False
    if _LIST_ITEM.match(text, next_start, e) or _LABEL.match(text, next_start, e):
        return False
    first_word = text[s:e].split(None, 1)[0]
    return (prev_end - prev_start) + 1 + len(first_word) > width


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
        s, e = trim(text, cursor, stop)
        if s < e:
            pieces.append((s, e))
        cursor = stop
    s, e = trim(text, cursor, end)
    if s < e:
        pieces.append((s, e))
    return pieces


def field_label(text: str, start: int, end: int) -> str | None:
    """The label when text[start:end] is a whole line "Label: value" (one to four words, a colon, a value
    on the same line), else None. A sentence inside a paragraph ("... See: Mechanical stoker ...") is not."""
    line_start = text.rfind("\n", 0, start) + 1
    line_end = text.find("\n", end)
    line = text[line_start : len(text) if line_end < 0 else line_end]
    m = _FIELD.fullmatch(line)
    return m.group(1) if m and line.strip() == text[start:end].strip() else None


def trim(text: str, start: int, end: int) -> tuple[int, int]:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return start, end
