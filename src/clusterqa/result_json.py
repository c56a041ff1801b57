"""A question's result as JSON (`ask --json`, `eval --json`, the MCP server): one shape for every consumer."""

from __future__ import annotations

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
        "page_start": p.page_start,  # paged formats (PDF): lines count within these pages; null otherwise
        "page_end": p.page_end,
        "line_start": p.line_start,
        "line_end": p.line_end,
        "char_start": p.char_start,
        "char_end": p.char_end,
        "text": p.text,
        "also_in": [_cite(a) for a in hit.also_in],
    }


def result_json(result: AskResult) -> dict[str, Any]:
    return {
        "question": result.question,
        "confident": result.confident,
        "confidence": round(result.confidence, 4),
        "answer": _answer_json(result),
        "passages": [passage_json(h) for h in result.hits],
    }


def _answer_json(result: AskResult) -> dict[str, Any]:
    """The answer sentence; when not confident its fields are null and `reason` says why."""
    a = result.answer
    if a is None:
        return {
            "text": None,
            "source": None,
            "page": None,
            "line": None,
            "score": None,
            "reason": result.reason or "no confident answer",
        }
    return {"text": a.text, "source": a.source, "page": a.page, "line": a.line, "score": round(a.score, 4), "reason": None}


def _cite(p: Passage) -> str:
    if p.page_start is not None:
        return f"{p.source} {pages(p)}"
    return f"{p.source}:{p.line_start}" + (f"-{p.line_end}" if p.line_end != p.line_start else "")


def pages(p: Passage) -> str:
    return f"p. {p.page_start}" + (f"-{p.page_end}" if p.page_end != p.page_start else "")
