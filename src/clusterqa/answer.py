"""The answer sentence and the confidence that the documents answer the question at all."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import replace

import numpy as np

from .lexical import query_terms, stem
from .models import Answer, Hit

# A question is answered when its best sentence or passage is at least this similar to it
# (cosine of the model's embeddings). Calibrated on the development questions with sentence
# vectors pooled from their passage's pass: answerable ones reach 0.28 and up, off-topic ones
# stay under 0.22.
CONFIDENCE_THRESHOLD = 0.25
LEXICAL_WEIGHT = 0.3  # weight of the IDF-weighted share of question words a sentence contains
MAX_PASSAGES = 5

SentenceRows = Callable[[Sequence[int]], list[tuple[int, int, int, int, bytes, bytes]]]
DocumentFrequencies = Callable[[list[str]], tuple[dict[str, int], int]]


def idf(df: int, n: int) -> float:
    """BM25's inverse document frequency, log(1 + (N - df + 0.5) / (df + 0.5)) (Robertson & Zaragoza 2009)."""
    return math.log(1.0 + (n - df + 0.5) / (df + 0.5))


def pick_answer(
    question: str, query: np.ndarray, hits: list[Hit], sentences: SentenceRows, frequencies: DocumentFrequencies
) -> tuple[Answer | None, list[Hit], float]:
    """Score every answer candidate of the top passages; the best one is the answer.

    A candidate's score is the better of its own and its context's cosine with the question
    (both embedded at build time), plus the IDF-weighted share of the question's words it
    contains, so rare names and numbers count for more than common words. Returns the answer
    (None when not confident), the hits with their best sentence marked, and the confidence.
    """
    top = hits[:MAX_PASSAGES]
    rows = sentences([h.passage.id for h in top])
    dense_best = max((h.dense_score or 0.0) for h in hits) if hits else 0.0
    if not rows:
        return None, hits, dense_best
    by_id = {h.passage.id: i for i, h in enumerate(top)}
    own = np.frombuffer(b"".join(r[4] for r in rows), dtype=np.float16).reshape(len(rows), -1)
    context = np.frombuffer(b"".join(r[5] for r in rows), dtype=np.float16).reshape(len(rows), -1)
    cosines = np.maximum(own.astype(np.float32) @ query, context.astype(np.float32) @ query)
    texts = [top[by_id[r[0]]].passage.text[r[1] : r[2]] for r in rows]

    terms = query_terms(question)
    counts, n = frequencies(terms) if terms else ({}, 0)
    weights: dict[str, float] = {}
    for term, stemmed in zip(terms, stem(terms), strict=True):
        weights[stemmed] = max(weights.get(stemmed, 0.0), idf(counts.get(term, 0), n))
    total = sum(weights.values())
    scores = []
    for text, cosine in zip(texts, cosines.tolist(), strict=True):
        present = set(stem(query_terms(text)))
        overlap = sum(w for t, w in weights.items() if t in present) / total if total else 0.0
        scores.append(cosine + LEXICAL_WEIGHT * overlap)

    best_per_hit: dict[int, int] = {}
    for i, r in enumerate(rows):
        h = by_id[r[0]]
        if h not in best_per_hit or scores[i] > scores[best_per_hit[h]]:
            best_per_hit[h] = i
    marked = [
        replace(hit, highlight=(rows[best_per_hit[h]][1], rows[best_per_hit[h]][2])) if h in best_per_hit else hit
        for h, hit in enumerate(hits)
    ]
    best = max(range(len(rows)), key=lambda i: scores[i])
    confidence = float(max(float(cosines.max()), dense_best))
    hit = top[by_id[rows[best][0]]]
    passage = hit.passage
    answer = Answer(
        text=texts[best],
        source=passage.source,
        line=passage.line_start + passage.text.count("\n", 0, rows[best][1]),
        score=float(scores[best]),
        hit_rank=hit.rank,
    )
    return (answer if confidence >= CONFIDENCE_THRESHOLD else None), marked, confidence
