"""Fusion weights for Chinese questions about English documents (multilingual-e5-small), fitted and checked.

Two weights decide how such a question ranks passages (answering/cross_lingual.py): the dense weight of
the convex fusion, whose lexical side rests on the question's numbers, Latin words, the pinyin of its
names and the dictionary's English words for its words (answering/glossary.py), and how much of a
passage's dense score comes from its best sentence rather than the passage as a whole. This script
measures every pair of a grid on:

- benchmarks/zh_squad_questions.jsonl: 387 squad2 questions translated into Chinese (the English kept in
  `question_en`), from the 13 articles of the fitting part ("part": "fit", 260 answerable) and the 5 of the
  checking part ("check", 60 answerable) of benchmarks/fit_answers.py's split, over an e5 index of all 636
  squad2 paragraphs;
- benchmarks/zh_seed_questions.jsonl: the 14 Chinese development questions about the English seeds.

It chooses the pair with the best mean MRR@50 over the two fitting sets (squad2 fitting part, seeds), then
prints hit@1, hit@3 and MRR of the checking part for the shipped weights, the chosen ones and the earlier
ones (0.5, 0.5).

Then, with the shipped weights, it fits the answer models for such questions (answering/answer.py,
AcrossScripts) on the translated fitting part and off-topic questions (some of it asked of the seeds),
as benchmarks/fit_answers.py fits the English ones, with the word-overlap features read through the
question's translations (answer_features.translated_terms) and without the second stage (MiniLM's
token outputs), writes them to src/clusterqa/data/across_scripts_model.json, and prints the checking
part's and the seeds' figures with the English models (what such a question got before) and with these.
The held-out Chinese seed questions are never run here (benchmarks/languages.py reports them).

    pip install -e ".[fit]"
    python benchmarks/cross_script.py [--keep DIR]   # DIR: build the two e5 indexes once and reuse them
"""

from __future__ import annotations

import argparse
import itertools
import json
import statistics
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "benchmarks"))
OUTPUT = ROOT / "src" / "clusterqa" / "data" / "across_scripts_model.json"
SQUAD = ROOT.parent / "shared" / "bench" / "squad2"
MODEL = "multilingual-e5-small"
ALPHAS = (0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0)
SENTENCE_WEIGHTS = (0.0, 0.25, 0.5, 0.75, 1.0)
EARLIER = (0.5, 0.5)  # (alpha, sentence weight) before this fit
OFF_TOPIC_EVERY = 5  # every 5th answerable fitting question, asked of the seeds: as many as squad2's unanswerable ones
DEPTH = 50  # a passage ranked below this counts as missed (reciprocal rank 0)


def searcher_for(docs: Path, index: Path):  # noqa: ANN201
    from clusterqa.config import resolve_settings
    from clusterqa.service import open_index

    if not index.exists():
        print(f"building an e5 index of {docs} into {index}", file=sys.stderr)
    settings = resolve_settings(seeds=docs, index=index, model=MODEL)
    return open_index(settings, refresh=True, warn=lambda m: print(m, file=sys.stderr))


def components(searcher, questions) -> list[dict]:  # noqa: ANN001
    """Per answerable question: its relevant passages, the dense list, each candidate's best sentence
    cosine and the lexical list, everything the fusion reads, computed once."""
    from clusterqa.answering.cross_lingual import cjk_query, lexical_expression
    from clusterqa.answering.fusion import summed_bm25
    from clusterqa.answering.search import CANDIDATES
    from clusterqa.evaluation.evaluate import _PassageQrels

    qrels = _PassageQrels(searcher)
    out = []
    for q in questions:
        relevant = qrels.of(q)
        if q.unanswerable or not relevant:
            continue
        query = searcher.embed([q.question])[0]
        dense = searcher.dense.search(query, CANDIDATES)
        rows = searcher.catalog.sentences([i for i, _ in dense])
        vectors = np.frombuffer(b"".join(r[4] for r in rows), dtype=np.float16).reshape(len(rows), -1).astype(np.float32)
        best: dict[int, float] = {}
        for (pid, *_), cosine in zip(rows, (vectors @ query).tolist(), strict=True):
            best[pid] = max(best.get(pid, -1.0), cosine)
        expression = lexical_expression(q.question, translate=True)  # neither folder is written in CJK
        lexical = searcher.catalog.match(expression, CANDIDATES) if expression else []
        pairs = cjk_query(q.question)
        if pairs and searcher.catalog.has_cjk_text:  # as Searcher.retrieve: squad2 quotes a few Chinese names
            lexical = summed_bm25(lexical, searcher.catalog.match_cjk(pairs, CANDIDATES))[:CANDIDATES]
        out.append({"id": q.id, "relevant": relevant, "dense": dense, "best": best, "lexical": lexical})
    return out


def ranks(data: list[dict], alpha: float, weight: float) -> list[int | None]:
    """The rank of each question's first relevant passage under these weights, as Searcher.retrieve fuses."""
    from clusterqa.answering.cross_lingual import LEXICAL_FLOOR
    from clusterqa.answering.fusion import convex_fusion

    found = []
    for d in data:
        dense = [(i, (1 - weight) * c + weight * d["best"].get(i, c)) for i, c in d["dense"]]
        fused = convex_fusion(dense, d["lexical"], alpha, LEXICAL_FLOOR)
        ranked = sorted(fused, key=lambda i: (-fused[i], i))[:DEPTH]
        found.append(next((r for r, i in enumerate(ranked, start=1) if i in d["relevant"]), None))
    return found


def figures(data: list[dict], alpha: float, weight: float) -> dict[str, float]:
    return rank_figures(ranks(data, alpha, weight))


def rank_figures(found: list[int | None]) -> dict[str, float]:
    """hit@1, hit@3 and MRR of the ranks of each question's first relevant passage (None: not found)."""
    return {
        "hit@1": statistics.mean(r == 1 for r in found),
        "hit@3": statistics.mean(r is not None and r <= 3 for r in found),
        "mrr": statistics.mean(1 / r if r else 0.0 for r in found),
    }


def line(label: str, f: dict[str, float]) -> str:
    return f"{label:32} hit@1 {f['hit@1']:.3f}  hit@3 {f['hit@3']:.3f}  MRR {f['mrr']:.3f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keep", type=Path, help="build the two e5 indexes into this folder once, then reuse them")
    parser.add_argument("--squad", type=Path, default=SQUAD)
    args = parser.parse_args()

    from clusterqa.evaluation.evaluate import load_questions

    translated = ROOT / "benchmarks" / "zh_squad_questions.jsonl"
    seed_file = ROOT / "benchmarks" / "zh_seed_questions.jsonl"
    parts = {row["id"]: row["part"] for row in question_rows(translated)}
    squad_questions = load_questions(translated)
    with tempfile.TemporaryDirectory() as temporary:
        work = args.keep or Path(temporary)
        squad = searcher_for(args.squad / "docs", work / "squad2-e5")
        seeds = searcher_for(ROOT / "seeds", work / "seeds-e5")
        report_fusion(
            {
                "squad2 fitting part": components(squad, [q for q in squad_questions if parts[q.id] == "fit"]),
                "seeds development": components(seeds, load_questions(seed_file)),
                "squad2 checking part": components(squad, [q for q in squad_questions if parts[q.id] == "check"]),
            },
            fitting=("squad2 fitting part", "seeds development"),
        )
        fit_answer_models(squad, seeds, question_rows(translated), question_rows(seed_file))
        squad.close()
        seeds.close()


def report_fusion(sets: dict[str, list[dict]], fitting: tuple[str, ...]) -> None:
    """The grid's MRR on the fitting sets, the pair it chooses, and every set's figures."""
    from clusterqa.answering.cross_lingual import ACROSS_SCRIPTS_ALPHA, ACROSS_SCRIPTS_SENTENCE_WEIGHT

    print("answerable questions with a relevant passage: " + ", ".join(f"{k} {len(v)}" for k, v in sets.items()))
    grid = {}
    for alpha, weight in itertools.product(ALPHAS, SENTENCE_WEIGHTS):
        grid[alpha, weight] = statistics.mean(figures(sets[name], alpha, weight)["mrr"] for name in fitting)
    print(f"\n== fitting sets: MRR per (dense weight alpha, sentence weight); mean of the {len(fitting)} sets")
    print("alpha  " + "  ".join(f"w={w:<4}" for w in SENTENCE_WEIGHTS))
    for alpha in ALPHAS:
        print(f"{alpha:<5}  " + "  ".join(f"{grid[alpha, w]:.3f} " for w in SENTENCE_WEIGHTS))
    chosen = max(grid, key=lambda k: (grid[k], k))
    shipped = (ACROSS_SCRIPTS_ALPHA, ACROSS_SCRIPTS_SENTENCE_WEIGHT)
    print(f"\nchosen alpha {chosen[0]}, sentence weight {chosen[1]}; shipped {shipped[0]}, {shipped[1]}")
    for name, data in sets.items():
        print(f"\n== {name} ({len(data)} questions)" + ("" if name in fitting else ": never used to choose"))
        for label, (alpha, weight) in (("earlier (0.5, 0.5)", EARLIER), ("chosen", chosen), ("shipped", shipped)):
            print(line(f"{label} α={alpha} w={weight}", figures(data, alpha, weight)))


def question_rows(path: Path) -> list[dict]:
    """A question file's rows, each marked unanswerable when it names no source."""
    rows = [json.loads(x) for x in path.read_text("utf-8").splitlines() if x.strip()]
    return [{**row, "unanswerable": not row.get("sources")} for row in rows]


def youden_threshold(confidence, right) -> float:  # noqa: ANN001
    """The threshold that best separates right answers from the rest (wrong sentences, unanswerable
    questions): the share of right answers kept minus the share of the rest let through at its largest
    (Youden's J). The English rule (flag at most 10% of answerable questions) would, across scripts,
    let half of the off-topic questions through."""

    def j(t: float) -> float:
        return float(np.mean(confidence[right] >= t) - np.mean(confidence[~right] >= t))

    return max(np.unique(confidence).tolist(), key=j)


def extract(searcher, rows: list[dict]):  # noqa: ANN001, ANN201
    """fit_answers.extract, with the questions whose translated name no passage holds (answer.py caps them)."""
    import fit_answers as fa
    from clusterqa.answering.answer_features import translated_terms

    f = fa.extract(searcher, rows, [row.get("article", "") for row in rows])
    frequencies = searcher.catalog.document_frequencies
    f.absent = np.array([translated_terms(row["question"], frequencies).asked_absent() is not None for row in rows])
    return f


def joined(a, b):  # noqa: ANN001, ANN201
    """Two fit_answers.Features as one (b's candidate rows after a's)."""
    from fit_answers import Features

    return Features(
        ids=a.ids + b.ids,
        articles=a.articles + b.articles,
        unanswerable=np.concatenate([a.unanswerable, b.unanswerable]),
        synthetic=np.concatenate([a.synthetic, b.synthetic]),
        retrieved=np.concatenate([a.retrieved, b.retrieved]),
        offsets=np.concatenate([a.offsets, b.offsets[1:] + a.offsets[-1]]),
        sentence=np.vstack([a.sentence, b.sentence]),
        labels=np.concatenate([a.labels, b.labels]),
        evidence=np.vstack([a.evidence, b.evidence]),
        questions=a.questions + b.questions,
        windows=a.windows + b.windows,
        window_starts=np.concatenate([a.window_starts, b.window_starts]),
        absent=np.concatenate([a.absent, b.absent]),
    )


def fit_answer_models(squad, seeds, translated: list[dict], seed_questions: list[dict]) -> None:  # noqa: ANN001
    """Fit, write and measure the AcrossScripts models (see the module's docstring)."""
    import fit_answers as fa
    from clusterqa.answering.alignment import ALIGNMENT_FEATURES
    from clusterqa.answering.answer import across_scripts_model, answer_model
    from clusterqa.answering.answer_features import (
        CONFIDENCE_FEATURES,
        CONFIDENCE_WORD_EVIDENCE,
        SENTENCE_FEATURES,
        WORD_EVIDENCE,
    )

    # Off-topic questions: answerable translated ones asked of a folder about something else (the seeds).
    # squad2's unanswerable questions are all on-topic; without these the confidence learns that a low
    # cosine means nothing.
    elsewhere = {
        part: [
            {**row, "id": f"{row['id']}-elsewhere", "sources": [], "answers": [], "unanswerable": True, "article": "elsewhere"}
            for row in translated
            if row["part"] == part and not row["unanswerable"]
        ]
        for part in ("fit", "check")
    }
    fit_elsewhere = elsewhere["fit"][::OFF_TOPIC_EVERY]
    f = joined(extract(squad, translated), extract(seeds, fit_elsewhere))
    part = np.array([row["part"] for row in translated + fit_elsewhere])
    fit, check = part == "fit", part == "check"
    sentence_keep = list(range(len(SENTENCE_FEATURES)))  # word evidence through the translations (translated_terms)
    unused = {f"best_{n}" for n in ALIGNMENT_FEATURES}
    confidence_keep = [i for i, n in enumerate(CONFIDENCE_FEATURES) if n not in unused]
    scorer, _, confidence = fa.fit_models(f, fit, sentence_keep, confidence_keep, None, second_stage=False)
    d = fa.decide(f, scorer, None, confidence, None)
    threshold = youden_threshold(d.confidence[fit], d.best_correct[fit])
    note = (
        "Fitted by benchmarks/cross_script.py on the Chinese translations of squad2 questions from the fitting "
        f"part's articles (benchmarks/zh_squad_questions.jsonl) over an index of squad2's English paragraphs built "
        f"with {MODEL}, and on every {OFF_TOPIC_EVERY}th answerable one asked of the seeds instead (off-topic): "
        f"{int(fit.sum())} questions, {int((fit & f.unanswerable).sum())} unanswerable. The conditional logit over "
        "candidate sentences and the confidence are fitted as benchmarks/fit_answers.py fits them, with the "
        "word-overlap features read through the question's translations (CC-CEDICT) and without the second stage; "
        "the threshold maximizes Youden's J of right answers "
        "against the rest on the fitting part. Used for a question in another script than every candidate "
        "passage, with this encoder."
    )
    data = {"note": note, "encoder": MODEL, "threshold": round(threshold, 6)}
    fa.write_json(OUTPUT, {**data, "sentence": fa.logistic_json(scorer), "confidence": fa.logistic_json(confidence)})
    print(f"\nwrote {OUTPUT} (threshold {threshold:.4f})")

    shipped, english = across_scripts_model.__wrapped__(OUTPUT), answer_model()

    def without_words(m, names):  # noqa: ANN001, ANN202
        """An English model as answer.neutral applies it across scripts: word evidence weighs nothing."""
        return fa.Logistic(m.features, m.mean, m.scale, np.where(np.isin(m.features, names), 0.0, m.weights), m.intercept)

    models = {
        "English models (word evidence neutralized)": (
            without_words(english.sentence, WORD_EVIDENCE),
            without_words(english.first_stage_confidence, CONFIDENCE_WORD_EVIDENCE),
            english.first_stage_threshold,
        ),
        "these models": (shipped.sentence, shipped.confidence, shipped.threshold),
    }
    s, off = extract(seeds, seed_questions), extract(seeds, elsewhere["check"])
    sets = (
        ("squad2 checking part, answerable", f, check & ~f.unanswerable),
        ("squad2 checking part, unanswerable on-topic", f, check & f.unanswerable),
        ("checking part asked of the seeds (off-topic)", off, np.ones(len(off.ids), bool)),
        ("seeds development, answerable", s, ~s.unanswerable),
        ("seeds development, unanswerable", s, s.unanswerable),
    )
    print("\n== answers across scripts: " + " -> ".join(models))
    print(f"  {'question set':44} {'best right':>12} {'conf. right':>12} {'conf. wrong':>12} {'flagged':>12} {'AUC right':>12}")
    for title, data, mask in sets:
        cells = [summary(data, mask, fa.decide(data, m, None, c, None), cut) for m, c, cut in models.values()]
        print(f"  {title:44} " + " ".join(f"{a:>5}->{b:<5}" for a, b in zip(*cells, strict=True)))


def summary(data, mask, d, threshold: float) -> list[str]:  # noqa: ANN001
    """Of the questions in `mask`: the best sentence right (answer passage in the top 5), confident and
    right, confident and wrong, flagged, and the ROC AUC of the confidence, right answers against the rest."""
    from clusterqa.evaluation.metrics import roc_auc

    confident = d.confidence >= threshold
    retrieved = mask & data.retrieved
    shares = [
        d.best_correct[retrieved].mean() if retrieved.any() else None,
        (confident & d.best_correct)[mask].mean(),
        (confident & ~d.best_correct)[mask].mean(),
        (~confident)[mask].mean(),
    ]
    right, rest = mask & d.best_correct, mask & ~d.best_correct
    auc = roc_auc(d.confidence[right], d.confidence[rest]) if right.any() and rest.any() else None
    return ["-" if v is None else f"{v:.2f}" for v in (*shares, auc)]


if __name__ == "__main__":
    main()
