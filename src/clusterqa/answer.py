"""The answer sentence and the confidence that the documents answer the question at all."""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from .chunking import sentence_spans
from .lexical import query_terms
from .models import Answer, Hit

# A question is answered when its best sentence or passage is at least this similar to it
# (cosine of the model's embeddings). Calibrated on the development questions: answerable
# ones reach 0.36 and up, off-topic ones stay under 0.22.
CONFIDENCE_THRESHOLD = 0.30
LEXICAL_WEIGHT = 0.3  # weight of the IDF-weighted share of question words a sentence contains
MIN_ANSWER_WORDS = 5  # headings and fragments are not answers
MAX_PASSAGES = 5

Embed = Callable[[list[str]], np.ndarray]
DocumentFrequencies = Callable[[list[str]], tuple[dict[str, int], int]]


def _stemmer():  # noqa: ANN202
    import Stemmer

    return Stemmer.Stemmer("english")


def idf(df: int, n: int) -> float:
    """BM25's inverse document frequency, log(1 + (N - df + 0.5) / (df + 0.5)) (Robertson & Zaragoza 2009)."""
    return math.log(1.0 + (n - df + 0.5) / (df + 0.5))


def pick_answer(
    question: str, query: np.ndarray, hits: list[Hit], embed: Embed, frequencies: DocumentFrequencies
) -> tuple[Answer | None, list[Hit], float]:
    """Score every sentence of the top passages; the best one is the answer.

    A sentence's score is its cosine with the question plus the IDF-weighted share of the
    question's words it contains, so rare names and numbers count for more than common words.
    Returns the answer (None when not confident), the hits with their best sentence
    marked for highlighting, and the confidence.
    """
    candidates: list[tuple[int, int, int]] = []  # (hit index, start, end)
    for h, hit in enumerate(hits[:MAX_PASSAGES]):
        spans = sentence_spans(hit.passage.text)
        full = [s for s in spans if len(hit.passage.text[s.start : s.end].split()) >= MIN_ANSWER_WORDS]
        for span in full or spans:
            if hit.passage.text[span.start : span.end].strip() != hit.passage.title.strip() or len(spans) == 1:
                candidates.append((h, span.start, span.end))
    if not candidates:
        return None, hits, 0.0
    texts = [hits[h].passage.text[s:e] for h, s, e in candidates]
    # A sentence often leans on the one before it ("it generated ..."): score it with that
    # context too, and keep the better of the two.
    contexts = [
        hits[h].passage.text[candidates[i - 1][1] : e] if i and candidates[i - 1][0] == h else texts[i]
        for i, (h, _, e) in enumerate(candidates)
    ]
    vectors = embed(texts + contexts)
    cosines = np.maximum(vectors[: len(texts)] @ query, vectors[len(texts) :] @ query)
    stem = _stemmer().stemWords
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
    for i, (h, _, _) in enumerate(candidates):
        if h not in best_per_hit or scores[i] > scores[best_per_hit[h]]:
            best_per_hit[h] = i
    marked = [_with_highlight(hit, candidates[best_per_hit[h]]) if h in best_per_hit else hit for h, hit in enumerate(hits)]
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


def _with_highlight(hit: Hit, candidate: tuple[int, int, int]) -> Hit:
    from dataclasses import replace

    return replace(hit, highlight=(candidate[1], candidate[2]))
