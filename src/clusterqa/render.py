"""Terminal and JSON output of results. Only this module and cli.py touch rich."""

from __future__ import annotations

import json
import sys
from typing import Any

from .models import AskResult, Hit, Passage


def passage_json(hit: Hit) -> dict[str, Any]:
    p = hit.passage
    return {
        "rank": hit.rank,
        "score": round(hit.score, 6),
        "source": p.source,
        "title": p.title,
        "date": p.date,
        "section": p.section,
        "line_start": p.line_start,
        "line_end": p.line_end,
        "char_start": p.char_start,
        "char_end": p.char_end,
        "text": p.text,
        "also_in": [_cite(a) for a in hit.also_in],
    }


def result_json(result: AskResult) -> dict[str, Any]:
    a = result.answer
    return {
        "question": result.question,
        "confident": result.confident,
        "confidence": round(result.confidence, 4),
        "answer": None if a is None else {"text": a.text, "source": a.source, "line": a.line, "score": round(a.score, 4)},
        "passages": [passage_json(h) for h in result.hits],
    }


def print_json(data: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(data, ensure_ascii=False, indent=2) + "\n")


def _cite(p: Passage) -> str:
    return f"{p.source}:{p.line_start}" + (f"-{p.line_end}" if p.line_end != p.line_start else "")


def _where(p: Passage) -> str:
    """`guide.md § Install › Linux, lines 40-52`; `notes.txt  lines 3-9` outside any section."""
    if p.section:
        return f"{p.source} § {p.section}, lines {p.line_start}-{p.line_end}"
    return f"{p.source}  lines {p.line_start}-{p.line_end}"


def print_result(result: AskResult) -> None:
    from rich.console import Console
    from rich.padding import Padding
    from rich.text import Text

    console = Console(highlight=False)
    dim = not result.confident
    if result.answer is not None:
        a = result.answer
        console.print(Text.assemble(("Answer  ", "bold green"), (" ".join(a.text.split()), "bold")))
        console.print(Text(f"        {a.source}:{a.line}", style="cyan"))
    else:
        console.print(
            Text(f"No passage in {result.documents} documents answers this confidently. Nearest passages:", style="bold yellow")
        )
    for hit in result.hits:
        p = hit.passage
        console.print()
        console.print(
            Text.assemble(
                (f"[{hit.rank}] ", "bold"),
                (_where(p), "dim cyan" if dim else "cyan"),
                (f"  {p.title}", "dim italic" if dim else "italic"),
                (f"  {p.date}" if p.date else "", "dim"),
                (f"  (similarity {hit.dense_score:.2f})" if hit.dense_score is not None else "", "dim"),
            )
        )
        console.print(Padding(_passage_text(hit, dim), (0, 0, 0, 4)))
        for twin in hit.also_in:
            console.print(Text(f"    also reported in {_cite(twin)}", style="dim"))


def _passage_text(hit: Hit, dim: bool):  # noqa: ANN202 - rich.text.Text, imported lazily
    from rich.text import Text

    text = hit.passage.text
    body = Text(style="dim" if dim else "")
    if hit.highlight is None:
        body.append(" ".join(text.split()))
        return body
    start, end = hit.highlight
    parts = [(text[:start], None), (text[start:end], "dim" if dim else "bold yellow"), (text[end:], None)]
    for chunk, style in parts:
        words = " ".join(chunk.split())
        if words:
            body.append((" " if body.plain else "") + words, style=style)
    return body
