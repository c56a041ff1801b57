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


def roc_auc(positives: Sequence[float], negatives: Sequence[float]) -> float | None:
    """Area under the ROC curve: the chance that a random positive scores above a random negative, ties half.

    The Mann-Whitney U statistic divided by n_pos * n_neg (Hanley and McNeil, Radiology 1982).
    """
    import numpy as np

    pos = np.asarray(positives, dtype=np.float64)
    neg = np.asarray(negatives, dtype=np.float64)
    if not len(pos) or not len(neg):
        return None
    scores = np.concatenate([pos, neg])
    order = np.argsort(scores, kind="mergesort")
    ranks = np.empty(len(scores))
    sorted_scores = scores[order]
    # average ranks over ties
    start = 0
    while start < len(scores):
        end = start
        while end + 1 < len(scores) and sorted_scores[end + 1] == sorted_scores[start]:
            end += 1
        ranks[order[start : end + 1]] = (start + end) / 2 + 1
        start = end + 1
    u = ranks[: len(pos)].sum() - len(pos) * (len(pos) + 1) / 2
    return float(u / (len(pos) * len(neg)))


def reliability_curve(predicted: Sequence[float], observed: Sequence[bool], bins: int = 10) -> list[dict]:
    """Per equal-width bin of predicted probability: count, mean prediction, observed share of positives.

    A calibrated probability has predicted close to observed in every bin (DeGroot and Fienberg, 1983).
    """
    import numpy as np

    p = np.asarray(predicted, dtype=np.float64)
    y = np.asarray(observed, dtype=np.float64)
    which = np.minimum((p * bins).astype(int), bins - 1)
    curve = []
    for b in range(bins):
        inside = which == b
        if inside.any():
            curve.append(
                {
                    "low": b / bins,
                    "high": (b + 1) / bins,
                    "count": int(inside.sum()),
                    "predicted": float(p[inside].mean()),
                    "observed": float(y[inside].mean()),
                }
            )
    return curve
