"""Combining ranked lists from the dense and the lexical retriever."""

from __future__ import annotations

from collections.abc import Sequence

RRF_K = 60


def reciprocal_rank_fusion(rankings: Sequence[Sequence[int]], k: int = RRF_K) -> dict[int, float]:
    """score(d) = sum over rankings of 1 / (k + rank(d)), rank starting at 1.

    Cormack, Clarke and Büttcher, "Reciprocal Rank Fusion outperforms Condorcet and
    individual Rank Learning Methods", SIGIR 2009; k = 60 as in the paper.
    """
    scores: dict[int, float] = {}
    for ranking in rankings:
        for rank, item in enumerate(ranking, start=1):
            scores[item] = scores.get(item, 0.0) + 1.0 / (k + rank)
    return scores


def convex_fusion(
    dense: Sequence[tuple[int, float]], lexical: Sequence[tuple[int, float]], alpha: float, lexical_floor: float | None = None
) -> dict[int, float]:
    """alpha * dense + (1 - alpha) * lexical, each min-max normalized over its own list; with `lexical_floor`
    (the score function's theoretical minimum: 0 for BM25) the lexical list is normalized from that floor
    instead of its own minimum, the "theoretical min-max" of the paper below.

    Bruch, Gai and Ingber, "An Analysis of Fusion Functions for Hybrid Retrieval",
    ACM TOIS 2023 (convex combination of normalized scores). An item missing from a list
    scores 0 there, the list's minimum after normalization.
    """
    scores: dict[int, float] = {}
    for weight, results, floor in ((alpha, dense, None), (1.0 - alpha, lexical, lexical_floor)):
        if not results:
            continue
        values = [s for _, s in results]
        low, high = min(values) if floor is None else floor, max(values)
        span = high - low
        for item, score in results:
            normalized = (score - low) / span if span > 0 else 1.0
            scores[item] = scores.get(item, 0.0) + weight * normalized
    return scores


def summed_bm25(*lists: Sequence[tuple[int, float]]) -> list[tuple[int, float]]:
    """One BM25 list from the lists of indexes holding disjoint terms of the question (stemmed words,
    CJK character pairs): BM25 is a sum over the query's terms (Robertson & Zaragoza 2009), so a
    passage's scores add; each index keeps its own document lengths and IDFs."""
    total: dict[int, float] = {}
    for results in lists:
        for i, score in results:
            total[i] = total.get(i, 0.0) + score
    return sorted(total.items(), key=lambda item: (-item[1], item[0]))
