"""The answer sentence and the confidence that the documents answer the question at all."""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from .chunking import sentence_spans
from .lexical import query_terms
from .models import Answer, Hit

# A question is answered when its best sentence is at least this similar to it (cosine of
# all-MiniLM-L6-v2 embeddings). Calibrated on the development questions: answerable ones
# score 0.48 and up, off-topic ones under 0.15; the threshold sits well below the former.
CONFIDENCE_THRESHOLD = 0.30
LEXICAL_WEIGHT = 0.15  # share of question words a sentence repeats, added to its cosine
MAX_PASSAGES = 5


def pick_answer(question: str, query: np.ndarray, hits: list[Hit], embed) -> tuple[Answer | None, list[Hit], float]:  # noqa: ANN001 - embed: list[str] -> np.ndarray
    """Score every sentence of the top passages; the best one is the answer.

    Returns the answer (None when not confident), the hits with their best sentence
    marked for highlighting, and the confidence.
    """
    candidates: list[tuple[int, int, int]] = []  # (hit index, start, end)
    for h, hit in enumerate(hits[:MAX_PASSAGES]):
        for span in sentence_spans(hit.passage.text):
            candidates.append((h, span.start, span.end))
    if not candidates:
        return None, hits, 0.0
    texts = [hits[h].passage.text[s:e] for h, s, e in candidates]
    cosines = embed(texts) @ query
    terms = set(query_terms(question))
    scores = []
    for text, cosine in zip(texts, cosines.tolist(), strict=True):
        words = set(query_terms(text))
        overlap = len(terms & words) / len(terms) if terms else 0.0
        scores.append(cosine + LEXICAL_WEIGHT * overlap)
    best_per_hit: dict[int, int] = {}
    for i, (h, _, _) in enumerate(candidates):
        if h not in best_per_hit or scores[i] > scores[best_per_hit[h]]:
            best_per_hit[h] = i
    marked = [
        replace(hit, highlight=(candidates[best_per_hit[h]][1], candidates[best_per_hit[h]][2]))
        if h in best_per_hit
        else hit
        for h, hit in enumerate(hits)
    ]
    best = max(range(len(candidates)), key=lambda i: scores[i])
    confidence = float(max(cosines.max(), max((h.dense_score or 0.0) for h in hits)))
    h, start, _ = candidates[best]
    passage = hits[h].passage
    answer = Answer(
        text=texts[best],
        source=passage.source,
        line=passage.line_start + passage.text.count("\n", 0, start),
        score=float(scores[best]),
        hit_rank=hits[h].rank,
    )
    return (answer if confidence >= CONFIDENCE_THRESHOLD else None), marked, confidence
