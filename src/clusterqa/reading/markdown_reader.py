"""Markdown (.md, .markdown, .mdx): front matter, then blocks from markdown-it-py's token line maps."""

from __future__ import annotations

import re

from .readers import Layout, RawBlock, finish, nfkc, parse_date
from .titles import title_and_date

_MYST_LABEL = re.compile(r"\(\S[^()]*\)=")  # a MyST target line, "(install-linux)="
_FIELD = re.compile(r"([A-Za-z_][\w-]*)\s*[:=]\s*(.*)")  # a top-level YAML `key: value` or TOML `key = value`
_CLOSERS = {"---": ("---", "..."), "+++": ("+++",)}
_KINDS = {
    "paragraph_open": "prose",
    "blockquote_open": "prose",
    "fence": "code",
    "code_block": "code",
    "table_open": "table",
    "bullet_list_open": "list",
    "ordered_list_open": "list",
    "html_block": "other",
}


def front_matter(lines: list[str]) -> tuple[int, dict[str, str]]:
    """How many lines YAML (---) or TOML (+++) front matter takes at the top, and its top-level fields.

    Only the scalar fields a citation needs are read (title, date), so no YAML library is needed:
    a value is the rest of its line, unquoted.
    """
    if not lines or lines[0].strip() not in _CLOSERS:
        return 0, {}
    closers = _CLOSERS[lines[0].strip()]
    for i in range(1, len(lines)):
        if lines[i].strip() in closers:
            fields: dict[str, str] = {}
            for line in lines[1:i]:
                m = _FIELD.fullmatch(line.rstrip())
                if m:
                    fields.setdefault(m.group(1).lower(), _unquote(m.group(2).strip()))
            return (i + 1, fields) if fields else (0, {})
    return 0, {}


def _unquote(value: str) -> str:
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
        return value[1:-1]
    return value.split(" #", 1)[0].strip()  # a YAML/TOML comment after the value


def read_markdown(original: str, text: str) -> Layout:
    from markdown_it import MarkdownIt

    lines = original.split("\n")
    skip, fields = front_matter(lines)
    # The front matter's lines are blanked, not cut, so the parser's line numbers are the file's; a lone
    # carriage return, a line break to the parser but not to citations, is read as a space.
    body = re.sub("\r(?!\n)", " ", "\n" * skip + "\n".join(lines[skip:]))
    # Block tokens (with their line maps and a heading's text) are all this reads: inline parsing, half the
    # parser's time, is skipped.
    tokens = MarkdownIt("commonmark").enable("table").disable("inline").parse(body)
    raw: list[RawBlock] = []
    for index, token in enumerate(tokens):
        if token.level != 0 or not token.map or token.nesting == -1:
            continue
        first, last = token.map[0], min(token.map[1], len(lines))
        if token.type == "heading_open":
            raw.append(RawBlock(first, last, "heading", int(token.tag[1:]), tokens[index + 1].content))
            continue
        kind = _KINDS.get(token.type)
        if kind is None:  # a thematic break
            continue
        if token.type == "paragraph_open":
            while first < last and _MYST_LABEL.fullmatch(lines[first].strip()):
                first += 1  # a label names the block after it; it is not text
            if first == last:
                continue
        raw.append(RawBlock(first, last, kind))
    blocks = finish(text, raw)
    text_lines = [line for line in text.split("\n")[skip:] if not _MYST_LABEL.fullmatch(line.strip())]
    fallback_title, fallback_date = title_and_date("\n".join(text_lines))
    first_heading = next((b.heading for b in raw if b.kind == "heading"), "")
    title = nfkc(fields.get("title", "")) or nfkc(first_heading) or fallback_title
    when = parse_date(fields.get("date", "")) or fallback_date
    return Layout(title, when, blocks)
