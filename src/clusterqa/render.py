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
        "answer": None
        if a is None
        else {"text": a.text, "source": a.source, "line": a.line, "score": round(a.score, 4)},
        "passages": [passage_json(h) for h in result.hits],
    }


def print_json(data: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(data, ensure_ascii=False, indent=2) + "\n")


def _cite(p: Passage) -> str:
    return f"{p.source}:{p.line_start}" + (f"-{p.line_end}" if p.line_end != p.line_start else "")


def print_result(result: AskResult) -> None:
    from rich.console import Console
    from rich.text import Text

    console = Console(highlight=False)
    if result.answer is not None:
        a = result.answer
        console.print(Text.assemble(("Answer ", "bold green"), (a.text, "bold")))
        console.print(Text(f"  {a.source}:{a.line}", style="cyan"))
    else:
        console.print(
            Text(
                f"No passage in {result.documents} documents answers this confidently. Nearest passages:",
                style="bold yellow",
            )
        )
    dim = not result.confident
    for hit in result.hits:
        p = hit.passage
        console.print()
        header = Text.assemble(
            (f"[{hit.rank}] ", "bold"),
            (p.source, "cyan"),
            (f"  lines {p.line_start}-{p.line_end}", "cyan"),
            (f"  score {hit.score:.3f}", "dim"),
        )
        console.print(header)
        console.print(Text(p.title + (f" · {p.date}" if p.date else ""), style="italic"))
        body = Text(" ".join(p.text.split()) if hit.highlight is None else "", style="dim" if dim else "")
        if hit.highlight is not None:
            s, e = hit.highlight
            body.append(" ".join(p.text[:s].split()) + " ", style="dim" if dim else "")
            body.append(" ".join(p.text[s:e].split()), style="dim" if dim else "bold yellow")
            body.append(" " + " ".join(p.text[e:].split()), style="dim" if dim else "")
        console.print(body)
        for twin in hit.also_in:
            console.print(Text(f"also reported in {_cite(twin)}", style="dim"))
