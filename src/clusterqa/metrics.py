"""Retrieval measures shared by the question-file and the BEIR evaluations.

MRR@10, nDCG@10 and Recall@k come from ir_measures (MacAvaney, Macdonald and Ounis,
"Streamlining Evaluation with ir-measures", ECIR 2022), which runs trec_eval's code.
Differences between two runs are checked with a paired randomization test (Smucker, Allan
and Carterette, "A Comparison of Statistical Significance Tests for Information Retrieval
Evaluation", CIKM 2007).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

PERMUTATIONS = 10_000


@dataclass(frozen=True)
class Measured:
    """One measure over a query set: the mean and each query's value (0 for a query with no results)."""

    mean: float | None
    per_query: dict[str, float]


def trec_measures(
    qrels: dict[str, dict[str, int]], rankings: dict[str, Sequence[str]], measures: Sequence[str]
) -> dict[str, Measured]:
    """trec_eval measures of ranked lists, averaged over every query that has qrels.

    Rankings are given best first; they are handed to trec_eval with strictly decreasing
    scores so its own tie-breaking (by document id) never reorders them. A query that has
    qrels but retrieved nothing scores 0 (trec_eval would silently drop it from the mean).
    """
    import ir_measures

    parsed = [ir_measures.parse_measure(m) for m in measures]
    judged = {qid: docs for qid, docs in qrels.items() if docs}
    run = [
        ir_measures.ScoredDoc(qid, doc, float(len(ranking) - rank))
        for qid, ranking in rankings.items()
        if qid in judged
        for rank, doc in enumerate(ranking)
    ]
    qrel_rows = [ir_measures.Qrel(qid, doc, int(rel)) for qid, docs in judged.items() for doc, rel in docs.items()]
    per: dict[str, dict[str, float]] = {m: dict.fromkeys(judged, 0.0) for m in measures}
    names = {str(p): m for p, m in zip(parsed, measures, strict=True)}
    if run:
        for metric in ir_measures.iter_calc(parsed, qrel_rows, run):
            per[names[str(metric.measure)]][metric.query_id] = float(metric.value)
    return {m: Measured(mean(list(per[m].values())), per[m]) for m in measures}


def mean(values: Sequence[float | bool]) -> float | None:
    """The arithmetic mean; None for no values (a measure over no queries is undefined, not 0)."""
    return sum(values) / len(values) if values else None


def rounded(value: float | None) -> float | None:
    """A measure as reports show it: four decimals, None kept."""
    return None if value is None else round(value, 4)


def paired_randomization_p(a: Sequence[float], b: Sequence[float], seed: int = 0) -> float:
    """Two-sided p-value of mean(a - b) under random sign flips of the per-query differences."""
    import numpy as np

    diff = np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64)
    observed = abs(diff.mean())
    signs = np.random.default_rng(seed).choice((-1.0, 1.0), size=(PERMUTATIONS, diff.size))
    return float(((np.abs((signs * diff).mean(axis=1)) >= observed - 1e-12).sum() + 1) / (PERMUTATIONS + 1))
