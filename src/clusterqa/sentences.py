"""Which sentences of a passage can be an answer, and the context each is scored with."""

from __future__ import annotations

from dataclasses import dataclass

from .chunking import MIN_ANSWER_WORDS, sentence_spans

__all__ = ["MIN_ANSWER_WORDS", "Candidate", "answer_candidates"]


@dataclass(frozen=True)
class Candidate:
    """A sentence [start, end) of a passage's text; [context_start, end) adds the sentence before it."""

    start: int
    end: int
    context_start: int


def answer_candidates(text: str, title: str) -> list[Candidate]:
    """Full sentences of `text` other than the document's title.

    A sentence often leans on the one before it ("it generated ..."), so each candidate
    also names a context span that starts at the previous sentence.
    """
    spans = sentence_spans(text)
    full = [s for s in spans if len(text[s.start : s.end].split()) >= MIN_ANSWER_WORDS]
    chosen = [s for s in (full or spans) if text[s.start : s.end].strip() != title.strip()] or spans
    candidates = []
    for i, span in enumerate(chosen):
        context = chosen[i - 1].start if i else span.start
        candidates.append(Candidate(span.start, span.end, context))
    return candidates
