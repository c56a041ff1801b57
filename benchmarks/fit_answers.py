"""Fit the answer-sentence scorer and the confidence model on SQuAD 2.0 paragraphs; write the package's data file.

One command, rerunnable end to end (after any change to how sentences are split or embedded):

    pip install -e ".[fit]"                      # scikit-learn, used only here
    python benchmarks/fit_answers.py             # from the repository root

It (1) builds or updates an index of ../shared/bench/squad2/docs in bench-index/squad2 with the
library's own indexer, (2) asks every question through the retriever and computes the features of
answer_features.py for every candidate sentence of the top passages, (3) splits the questions BY
ARTICLE (file name before `_pNNN`) into a fitting and a checking part with a fixed seed, (4) fits two
logistic regressions on the fitting part (which sentence answers; is the chosen one right), picks
the confidence threshold on the fitting part, (5) writes src/clusterqa/data/answer_model.json and
(6) prints the checking part's figures and an ablation (each feature group dropped in turn).
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from clusterqa.answering.alignment import RERANKED, TokenVectors, alignment_features  # noqa: E402
from clusterqa.answering.answer import RERANK_FEATURES, Logistic, answer_model, rerank, reranked, sigmoid  # noqa: E402
from clusterqa.answering.answer_features import (  # noqa: E402
    CONFIDENCE_FEATURES,
    CONFIDENCE_GROUPS,
    SENTENCE_FEATURES,
    SENTENCE_GROUPS,
    candidate_features,
    confidence_features,
    question_evidence,
    question_focus,  # noqa: E402
)
from clusterqa.evaluation.evaluate import contains_answer  # noqa: E402
from clusterqa.evaluation.metrics import reliability_curve, roc_auc  # noqa: E402
from clusterqa.index.lexical import stem  # noqa: E402

DATA = ROOT.parent / "shared" / "bench" / "squad2"
WORK = ROOT / "bench-index" / "squad2"
OUTPUT = ROOT / "src" / "clusterqa" / "data" / "answer_model.json"
PASSAGES = 5  # the fixed candidate set: answers come from the top 5 fused passages
SEED = 13
CHECK_SHARE = 0.3
MAX_ANSWERABLE_FLAGGED = 0.10  # threshold: flag as many unanswerable as possible, at most this share of answerable
ABSENT_CAP = 0.05  # the confidence of a question whose focus or a name occurs in no paragraph at all
HIGHLIGHT = 0.3  # a sentence is highlighted when it holds at least this share of the scorer's softmax
REGULARIZATION = 1.0  # scikit-learn's C (inverse L2 strength)


def article(source: str) -> str:
    """SQuAD article of a paragraph file: `1973_oil_crisis_p004.txt` -> `1973_oil_crisis`."""
    return PurePosixPath(source).name.rsplit("_p", 1)[0]


def load_questions(data: Path) -> list[dict]:
    return [json.loads(line) for line in (data / "questions.jsonl").read_text("utf-8").splitlines() if line.strip()]


def assign_articles(questions: list[dict]) -> list[str]:
    """Each question's article. Unanswerable questions list no source; the file keeps SQuAD's order
    (article by article, paragraph by paragraph), so they take the article of the answerable question before them."""
    articles: list[str | None] = [article(q["sources"][0]) if q.get("sources") else None for q in questions]
    last = next((a for a in articles if a), "")
    for i, a in enumerate(articles):
        if a is None:
            articles[i] = last
        else:
            last = a
    return [a or "" for a in articles]


def split_articles(articles: list[str], seed: int = SEED, check_share: float = CHECK_SHARE) -> set[str]:
    """The articles of the checking part: a fixed-seed shuffle of the sorted article names."""
    names = sorted(set(articles))
    random.Random(seed).shuffle(names)
    return set(names[: round(len(names) * check_share)])


def foreign_words(data: Path, limit: int = 5000) -> list[str]:
    """Words of another public corpus (BEIR SciFact, beside squad2/) that no squad2 paragraph uses."""
    import re

    corpus = data.parent / "scifact" / "corpus.jsonl"
    if not corpus.is_file():
        return []
    known = {w for path in (data / "docs").glob("*.txt") for w in re.findall(r"[a-z]+", path.read_text("utf-8").lower())}
    known_stems = set(stem(sorted(known)))
    found: dict[str, None] = {}
    for line in corpus.read_text("utf-8").splitlines():
        for w in re.findall(r"\b[a-z]{6,12}\b", json.loads(line).get("text", "")):
            if w not in known and stem([w])[0] not in known_stems:
                found.setdefault(w, None)
        if len(found) >= limit:
            break
    return sorted(found)


def swapped_questions(questions: list[dict], articles: list[str], fit: set[str], words: list[str]) -> list[dict]:
    """On-topic questions the documents cannot answer, made from answerable ones: what the question asks
    about (its focus, e.g. "height" in "What is the height of X?") is replaced by a word that no
    paragraph uses. Half of the answerable questions of `fit` articles, chosen with the fixed seed."""
    import re

    rng = random.Random(SEED)
    made = []
    for q, a in zip(questions, articles, strict=True):
        if q.get("unanswerable") or a not in fit or rng.random() >= 0.5 or not words:
            continue
        focus = question_focus(q["question"])
        if not focus:
            continue
        pattern = re.compile(r"\b" + r"\W+".join(re.escape(w) for w in focus) + r"\b", re.I)
        text, n = pattern.subn(rng.choice(words), q["question"], count=1)
        if n:
            made.append(
                {"id": q["id"] + "-swap", "question": text, "answers": [], "sources": [], "unanswerable": True, "article": a}
            )
    return made


def open_searcher(data: Path, work: Path):  # noqa: ANN201
    from clusterqa.config import Settings
    from clusterqa.index.indexer import build
    from clusterqa.service import open_index

    settings = Settings(seeds=data / "docs", index=work)
    started = time.perf_counter()
    report = build(settings, warn=lambda m: print(m, file=sys.stderr))
    print(
        f"index: {report.documents} documents, {report.passages} passages ({time.perf_counter() - started:.0f} s)",
        file=sys.stderr,
    )
    return open_index(settings, refresh=False, warn=lambda m: print(m, file=sys.stderr))


@dataclass
class Features:
    """Every question's candidates, stacked."""

    ids: list[str]
    articles: list[str]
    unanswerable: np.ndarray  # (Q,) bool
    synthetic: np.ndarray  # (Q,) bool: made by swapped_questions (fitting only; never in the figures)
    retrieved: np.ndarray  # (Q,) bool: an answering passage is among the candidates
    offsets: np.ndarray  # (Q+1,) candidates of question q are rows offsets[q]:offsets[q+1]
    sentence: np.ndarray  # (M, len(SENTENCE_FEATURES))
    labels: np.ndarray  # (M,) bool: the sentence is in a source paragraph and contains a gold answer
    evidence: np.ndarray  # (Q, 3): question_evidence
    questions: list[str]  # the question texts
    windows: list[str]  # (M,) each candidate with the sentence before it (Candidates.window)
    window_starts: np.ndarray  # (M,) where the candidate starts in its window
    absent: np.ndarray | None = None  # (Q,) bool: asked_absent


def extract(searcher, questions: list[dict], articles: list[str] | None = None) -> Features:  # noqa: ANN001
    rows, labels, offsets, evidence, retrieved, windows = [], [], [0], [], [], []
    started = time.perf_counter()
    for n, q in enumerate(questions):
        hits, query = searcher.retrieve(q["question"], PASSAGES)
        catalog = searcher.catalog
        c = candidate_features(q["question"], query, hits, catalog.sentences, catalog.document_frequencies, searcher.scales[0])
        sources = {PurePosixPath(s).name for s in q.get("sources", [])}
        answers = q.get("answers", [])
        for h, (start, end) in zip(c.hit_index, c.spans, strict=True):
            p = hits[h].passage
            labels.append(PurePosixPath(p.source).name in sources and contains_answer(p.text[start:end], answers))
        retrieved.append(
            any(PurePosixPath(h.passage.source).name in sources and contains_answer(h.passage.text, answers) for h in hits)
        )
        rows.append(c.features)
        windows.extend(c.window(i, hits) for i in range(len(c.spans)))
        offsets.append(offsets[-1] + len(c.spans))
        evidence.append(question_evidence(c))
        if n % 500 == 0:
            print(f"features: {n}/{len(questions)} questions ({time.perf_counter() - started:.0f} s)", file=sys.stderr)
    return Features(
        ids=[q["id"] for q in questions],
        articles=articles or assign_articles(questions),
        unanswerable=np.array([bool(q.get("unanswerable")) for q in questions]),
        synthetic=np.array([q["id"].endswith("-swap") for q in questions]),
        retrieved=np.array(retrieved),
        offsets=np.array(offsets),
        sentence=np.vstack(rows) if rows else np.zeros((0, len(SENTENCE_FEATURES))),
        labels=np.array(labels, dtype=bool),
        evidence=np.array(evidence, dtype=np.float64).reshape(len(questions), -1),
        questions=[q["question"] for q in questions],
        windows=[w for w, _ in windows],
        window_starts=np.array([start for _, start in windows], dtype=np.int64),
    )


class Aligner:
    """alignment_features of candidate rows, computed once per row (they depend on the question and
    the window only, not on which scorer put the row among its best)."""

    def __init__(self, f: Features, tokens: TokenVectors) -> None:
        self.f, self.tokens, self.cache = f, tokens, {}
        self.question_of = np.repeat(np.arange(len(f.ids)), np.diff(f.offsets))

    def save(self, path: Path) -> None:
        rows = np.array(sorted(self.cache), dtype=np.int64)
        np.savez_compressed(path, rows=rows, values=np.vstack([self.cache[int(r)] for r in rows]))

    def load(self, path: Path) -> None:
        """Reuse what `save` wrote for the same features file."""
        if path.is_file():
            z = np.load(path)
            self.cache.update(zip(z["rows"].tolist(), z["values"], strict=True))

    def __call__(self, rows: np.ndarray) -> np.ndarray:
        missing = [int(r) for r in rows if int(r) not in self.cache]
        if missing:
            q = int(self.question_of[missing[0]])
            assert all(self.question_of[r] == q for r in missing)
            windows = [(self.f.windows[r], int(self.f.window_starts[r])) for r in missing]
            for r, row in zip(missing, alignment_features(self.f.questions[q], windows, self.tokens), strict=True):
                self.cache[r] = row
        return np.vstack([self.cache[int(r)] for r in rows])


def fit_logistic(x: np.ndarray, y: np.ndarray, names: tuple[str, ...]) -> dict:
    """Standardized L2 logistic regression (scikit-learn, lbfgs) as the JSON the package reads."""
    from sklearn.linear_model import LogisticRegression

    mean = x.mean(axis=0)
    scale = x.std(axis=0)
    scale[scale == 0] = 1.0
    model = LogisticRegression(C=REGULARIZATION, max_iter=2000).fit((x - mean) / scale, y)
    return {
        "features": list(names),
        "mean": mean.round(6).tolist(),
        "scale": scale.round(6).tolist(),
        "weights": model.coef_[0].round(6).tolist(),
        "intercept": round(float(model.intercept_[0]), 6),
    }


def fit_listwise(x: np.ndarray, y: np.ndarray, question: np.ndarray, names: tuple[str, ...]) -> dict:
    """Conditional logit over each question's candidates (McFadden 1974): maximize the log of the
    softmax mass on the sentences that hold an answer, with an L2 penalty; scipy's L-BFGS.

    It learns which sentence of a question beats the others, not how answerable questions are in
    general (that is the confidence model's job), which picks the answer better than a per-sentence fit."""
    from scipy.optimize import minimize

    mean = x.mean(axis=0)
    scale = x.std(axis=0)
    scale[scale == 0] = 1.0
    z = (x - mean) / scale
    _, group = np.unique(question, return_inverse=True)
    groups = int(group.max()) + 1
    target = y.astype(np.float64)

    def loss(w: np.ndarray) -> tuple[float, np.ndarray]:
        s = z @ w
        top = np.full(groups, -np.inf)
        np.maximum.at(top, group, s)
        e = np.exp(s - top[group])
        total = np.bincount(group, e, groups)
        right = np.bincount(group, e * target, groups)
        value = -(np.log(right) - np.log(total)).sum() + 0.5 * w @ w / REGULARIZATION
        gradient = -(z.T @ (e * target / right[group] - e / total[group])) + w / REGULARIZATION
        return float(value), gradient

    w = minimize(loss, np.zeros(z.shape[1]), jac=True, method="L-BFGS-B").x
    return {
        "features": list(names),
        "mean": mean.round(6).tolist(),
        "scale": scale.round(6).tolist(),
        "weights": w.round(6).tolist(),
        "intercept": 0.0,
    }


def masked(model: dict, keep: list[int]) -> Logistic:
    """A fitted model over a column subset, as a Logistic that reads the full feature rows."""
    full = len(model["features_all"])
    mean, scale, weights = np.zeros(full), np.ones(full), np.zeros(full)
    mean[keep], scale[keep], weights[keep] = model["mean"], model["scale"], model["weights"]
    return Logistic(tuple(model["features_all"]), mean, scale, weights, model["intercept"])


@dataclass
class Decisions:
    best_correct: np.ndarray  # (Q,) bool
    confidence: np.ndarray  # (Q,)
    conf_x: np.ndarray  # (Q, len(CONFIDENCE_FEATURES))


def asked_absent(searcher, questions: list[dict]) -> np.ndarray:  # noqa: ANN001
    """Per question: its focus or one of its names occurs in no paragraph (answering/answer.py caps those)."""
    from clusterqa.answering.answer_features import question_terms

    frequencies = searcher.catalog.document_frequencies
    return np.array([question_terms(q["question"], frequencies).asked_absent() is not None for q in questions])


def choose(logits: np.ndarray, first: int, second: Logistic | None, aligner: Aligner) -> tuple[int, np.ndarray | None]:
    """The answer as answer.pick_answer picks it (models alone, no list rule), and its alignment."""
    if second is None:
        return int(np.argmax(logits)), None
    best, aligned = rerank(logits, second, lambda order: aligner(first + order))
    return best, aligned[best]


def decide(
    f: Features, scorer: Logistic, rerank: Logistic | None, confidence: Logistic | None, aligner: Aligner, cap: float = ABSENT_CAP
) -> Decisions:
    correct, xs = [], []
    for q in range(len(f.ids)):
        a, b = f.offsets[q], f.offsets[q + 1]
        if a == b:
            correct.append(False)
            xs.append(np.zeros(len(CONFIDENCE_FEATURES)))
            continue
        logits = scorer.logit(f.sentence[a:b])
        best, alignment = choose(logits, a, rerank, aligner)
        correct.append(bool(f.labels[a + best]) and not f.unanswerable[q])
        xs.append(confidence_features(f.sentence[a:b], logits, best, tuple(f.evidence[q].tolist()), alignment))
    x = np.vstack(xs)
    conf = sigmoid(confidence.logit(x)) if confidence is not None else np.zeros(len(xs))
    empty = f.offsets[1:] == f.offsets[:-1]
    conf = np.where(empty, 0.0, conf)
    if f.absent is not None:
        conf = np.where(f.absent, np.minimum(conf, cap), conf)
    return Decisions(np.array(correct), conf, x)


def fit_rerank(f: Features, part: np.ndarray, scorer: Logistic, aligner: Aligner) -> Logistic:
    """The second stage: a conditional logit over the first stage's top RERANKED of the part's answerable
    questions whose answer is among them, on their first-stage logit and token alignment."""
    xs, labels, question = [], [], []
    for q in np.flatnonzero(part & ~f.unanswerable):
        a, b = f.offsets[q], f.offsets[q + 1]
        if a == b:
            continue
        logits = scorer.logit(f.sentence[a:b])
        order = reranked(logits)
        if not f.labels[a + order].any():
            continue
        xs.append(np.column_stack([logits[order], aligner(a + order)]))
        labels.append(f.labels[a + order])
        question.append(np.full(len(order), q))
    r = fit_listwise(np.vstack(xs), np.concatenate(labels), np.concatenate(question), RERANK_FEATURES)
    return Logistic(RERANK_FEATURES, np.array(r["mean"]), np.array(r["scale"]), np.array(r["weights"]), 0.0)


def fit_models(
    f: Features,
    part: np.ndarray,
    sentence_keep: list[int],
    confidence_keep: list[int],
    aligner: Aligner,
    second_stage: bool = True,
) -> tuple[Logistic, Logistic | None, Logistic]:
    """Fit the scorer on the part's answerable candidates, the second stage on their best few, then the
    confidence model on the part's questions."""
    rows = np.zeros(len(f.labels), dtype=bool)
    question = np.zeros(len(f.labels), dtype=np.int64)
    for q in np.flatnonzero(part & ~f.unanswerable):
        if f.labels[f.offsets[q] : f.offsets[q + 1]].any():  # questions whose answer is among the candidates
            rows[f.offsets[q] : f.offsets[q + 1]] = True
            question[f.offsets[q] : f.offsets[q + 1]] = q
    names = tuple(SENTENCE_FEATURES[i] for i in sentence_keep)
    s = fit_listwise(f.sentence[rows][:, sentence_keep], f.labels[rows], question[rows], names)
    s["features_all"] = SENTENCE_FEATURES
    scorer = masked(s, sentence_keep)
    rerank = fit_rerank(f, part, scorer, aligner) if second_stage else None
    d = decide(f, scorer, rerank, None, aligner)
    c = fit_logistic(
        d.conf_x[part][:, confidence_keep], d.best_correct[part], tuple(CONFIDENCE_FEATURES[i] for i in confidence_keep)
    )
    c["features_all"] = CONFIDENCE_FEATURES
    return scorer, rerank, masked(c, confidence_keep)


def pick_threshold(confidence: np.ndarray, unanswerable: np.ndarray, limit: float = MAX_ANSWERABLE_FLAGGED) -> float:
    """The highest threshold that flags at most `limit` of the answerable questions."""
    answerable = np.sort(confidence[~unanswerable])
    k = int(np.floor(limit * len(answerable)))
    return float(answerable[k]) if k < len(answerable) else 1.0


def figures(f: Features, part: np.ndarray, d: Decisions, threshold: float) -> dict:
    """Answer accuracy, abstention, ROC AUC and the reliability curve on one part."""
    ans = part & ~f.unanswerable
    una = part & f.unanswerable
    flagged = d.confidence < threshold
    retrieved = ans & f.retrieved
    true_flags = int((flagged & una).sum())
    return {
        "questions": int(part.sum()),
        "answerable": int(ans.sum()),
        "unanswerable": int(una.sum()),
        "answer_in_top5": round(float(retrieved.sum() / max(ans.sum(), 1)), 4),
        "accuracy_when_retrieved": round(float(d.best_correct[retrieved].mean()), 4),
        "accuracy_all_answerable": round(float(d.best_correct[ans].mean()), 4),
        "unanswerable_flagged": round(float(flagged[una].mean()), 4),
        "answerable_flagged": round(float(flagged[ans].mean()), 4),
        "abstention_precision": round(true_flags / max(int((flagged & part).sum()), 1), 4),
        "abstention_recall": round(true_flags / max(int(una.sum()), 1), 4),
        "auc_answerable_vs_unanswerable": round(roc_auc(d.confidence[ans], d.confidence[una]), 4),
        "auc_correct_vs_not": round(roc_auc(d.confidence[part & d.best_correct], d.confidence[part & ~d.best_correct]), 4),
        "reliability": reliability_curve(d.confidence[part], d.best_correct[part]),
    }


def print_figures(title: str, fig: dict) -> None:
    print(f"\n== {title}: {fig['questions']} questions ({fig['answerable']} answerable, {fig['unanswerable']} unanswerable)")
    for key in (
        "answer_in_top5",
        "accuracy_when_retrieved",
        "accuracy_all_answerable",
        "unanswerable_flagged",
        "answerable_flagged",
        "abstention_precision",
        "abstention_recall",
        "auc_answerable_vs_unanswerable",
        "auc_correct_vs_not",
    ):
        print(f"  {key:32} {fig[key]:.4f}")
    print("  reliability (confidence bin: questions, mean predicted, observed share answered right)")
    for b in fig["reliability"]:
        print(
            f"    {b['low']:.1f}-{b['high']:.1f}: {b['count']:5d}  predicted {b['predicted']:.3f}  observed {b['observed']:.3f}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DATA, help="SQuAD 2.0 folder: docs/ and questions.jsonl")
    parser.add_argument("--work", type=Path, default=WORK, help="index folder (built or updated here)")
    parser.add_argument("--output", type=Path, default=OUTPUT, help="where the fitted model is written")
    parser.add_argument("--features", type=Path, help="reuse (or save) the extracted features in this .npz")
    parser.add_argument("--no-ablation", action="store_true")
    args = parser.parse_args()
    started = time.perf_counter()
    questions = load_questions(args.data)
    articles = assign_articles(questions)
    check_articles = split_articles(articles)
    fit_articles = set(articles) - check_articles
    swapped = swapped_questions(questions, articles, fit_articles, foreign_words(args.data))
    print(f"{len(swapped)} on-topic unanswerable questions made by swapping the focus word (fitting part)", file=sys.stderr)
    searcher = open_searcher(args.data, args.work)
    if args.features and args.features.is_file():
        f = load_features(args.features)
    else:
        f = extract(searcher, questions + swapped, articles + [q["article"] for q in swapped])
        if args.features:
            save_features(f, args.features)
    f.absent = asked_absent(searcher, questions + swapped)
    encoder = searcher.model
    tokens = searcher.token_vectors(encoder)
    if tokens is None:
        raise SystemExit(f"the index's encoder ({encoder}) gives no token outputs: the second stage needs them")
    aligner = Aligner(f, tokens)
    if args.features:
        aligner.load(args.features.with_suffix(".alignment.npz"))
    check = np.array([a in check_articles for a in f.articles]) & ~f.synthetic
    fit = ~check & np.array([a not in check_articles for a in f.articles])
    print(
        f"split by article (seed {SEED}): fitting {fit.sum()} questions of {len(set(np.array(f.articles)[fit]))} articles, "
        f"checking {check.sum()} of {len(check_articles)} articles",
        file=sys.stderr,
    )

    all_s, all_c = list(range(len(SENTENCE_FEATURES))), list(range(len(CONFIDENCE_FEATURES)))
    scorer, rerank, confidence = fit_models(f, fit, all_s, all_c, aligner)
    d = decide(f, scorer, rerank, confidence, aligner)
    threshold = pick_threshold(d.confidence[fit], f.unanswerable[fit])
    # For encoders without token outputs: the confidence over the first stage alone, fitted as such
    # (a model leaning on the alignment, with it set to its mean, separates less).
    plain_c = [i for i, n in enumerate(CONFIDENCE_FEATURES) if n not in CONFIDENCE_GROUPS["alignment"]]
    _, _, plain = fit_models(f, fit, all_s, plain_c, aligner, second_stage=False)
    plain_threshold = pick_threshold(decide(f, scorer, None, plain, aligner).confidence[fit], f.unanswerable[fit])
    if args.features:
        aligner.save(args.features.with_suffix(".alignment.npz"))
    write_model(args.output, scorer, rerank, encoder, (confidence, threshold), (plain, plain_threshold), f, fit, check_articles)
    # The figures come from the written file, applied by the package's own code.
    shipped = answer_model.__wrapped__(args.output)
    d = decide(f, shipped.sentence, shipped.rerank, shipped.confidence, aligner)
    print_figures("fitting part", figures(f, fit, d, shipped.threshold))
    check_figures = figures(f, check, d, shipped.threshold)
    print_figures("CHECKING part", check_figures)
    plain_d = decide(f, shipped.sentence, None, shipped.first_stage_confidence, aligner)
    plain_figures = figures(f, check, plain_d, shipped.first_stage_threshold)
    print_figures("CHECKING part, first stage alone (encoders without token outputs)", plain_figures)
    if not args.no_ablation:
        ablation(f, fit, check, check_figures, aligner)
    searcher.close()
    print(f"\nwrote {args.output} (threshold {threshold:.4f}) in {time.perf_counter() - started:.0f} s", file=sys.stderr)


def ablation(f: Features, fit: np.ndarray, check: np.ndarray, full: dict, aligner: Aligner) -> None:
    """Each feature group dropped from both models in turn: what the checking part loses ("alignment":
    no second stage, and its features dropped from the confidence)."""
    print("\n== ablation on the checking part (group dropped from both models; threshold refitted on the fitting part)")
    print(f"  {'without':14} {'acc@top5':>9} {'unans flagged':>14} {'ans flagged':>12} {'AUC':>7}")
    row = "  {:14} {:9.4f} {:14.4f} {:12.4f} {:7.4f}"
    keys = ("accuracy_when_retrieved", "unanswerable_flagged", "answerable_flagged", "auc_answerable_vs_unanswerable")
    print(row.format("(nothing)", *(full[k] for k in keys)))
    groups = sorted(set(SENTENCE_GROUPS) | set(CONFIDENCE_GROUPS))
    for group in groups:
        s_keep = [i for i, n in enumerate(SENTENCE_FEATURES) if n not in SENTENCE_GROUPS.get(group, ())]
        c_drop = set(CONFIDENCE_GROUPS.get(group, ()))
        c_keep = [i for i, n in enumerate(CONFIDENCE_FEATURES) if n not in c_drop]
        scorer, rerank, confidence = fit_models(f, fit, s_keep, c_keep, aligner, second_stage=group != "alignment")
        d = decide(f, scorer, rerank, confidence, aligner)
        threshold = pick_threshold(d.confidence[fit], f.unanswerable[fit])
        fig = figures(f, check, d, threshold)
        print(row.format(group, *(fig[k] for k in keys)))


def write_model(
    path: Path,
    scorer: Logistic,
    rerank: Logistic,
    encoder: str,
    full: tuple[Logistic, float],
    plain: tuple[Logistic, float],
    f: Features,
    fit: np.ndarray,
    check: set[str],
) -> None:
    data = {
        "note": (
            "Fitted by benchmarks/fit_answers.py (sentence: conditional logit over each question's candidates, "
            "scipy L-BFGS; confidence: scikit-learn LogisticRegression; both L2 with C="
            f"{REGULARIZATION}) on the fitting part of ../shared/bench/squad2 (SQuAD 2.0 paragraphs as files): "
            f"{int(fit.sum())} questions ({int((fit & f.unanswerable).sum())} unanswerable, {int((fit & f.synthetic).sum())} of "
            "them made by swapping the question's focus word for one no paragraph uses, see swapped_questions) of "
            f"{len(set(np.array(f.articles)[fit]))} articles; the other {len(check)} articles (seed {SEED}) are the "
            "checking part. The sentence scorer is fitted on the candidate sentences of answerable questions "
            "whose answer is among them (label: the sentence is in the gold paragraph and contains "
            f"a gold answer); the second stage (rerank) on the scorer's best {RERANKED} of the same questions, "
            f"with the token outputs of {encoder}; first_stage_confidence (and its threshold) is the confidence "
            "model fitted without the second stage, for encoders without token outputs; the confidence model on "
            "every question (label: the chosen sentence contains a gold answer). The threshold flags at most "
            f"{MAX_ANSWERABLE_FLAGGED:.0%} of the fitting part's answerable questions. A question whose focus or a "
            f"name occurs in no passage gets at most {ABSENT_CAP} (a rule, not fitted). Refit after any change to "
            "sentence splitting or embedding: python benchmarks/fit_answers.py"
        ),
        "passages": PASSAGES,
        "threshold": round(full[1], 6),
        "highlight": HIGHLIGHT,
        "absent_cap": ABSENT_CAP,
        "sentence": logistic_json(scorer),
        "rerank": logistic_json(rerank),
        "rerank_encoder": encoder,
        "confidence": logistic_json(full[0]),
        "first_stage_confidence": logistic_json(plain[0]),
        "first_stage_threshold": round(plain[1], 6),
    }
    write_json(path, data)


def logistic_json(m: Logistic) -> dict:
    """A fitted model as the package's data files hold it (Logistic.from_json reads it)."""
    return {
        "features": list(m.features),
        "mean": m.mean.round(6).tolist(),
        "scale": m.scale.round(6).tolist(),
        "weights": m.weights.round(6).tolist(),
        "intercept": round(m.intercept, 6),
    }


def write_json(path: Path, data: dict) -> None:
    """Replaced whole (a reader never sees half a file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=1) + "\n", "utf-8")
    tmp.replace(path)


def save_features(f: Features, path: Path) -> None:
    np.savez_compressed(
        path,
        ids=np.array(f.ids),
        articles=np.array(f.articles),
        unanswerable=f.unanswerable,
        synthetic=f.synthetic,
        retrieved=f.retrieved,
        offsets=f.offsets,
        sentence=f.sentence,
        labels=f.labels,
        evidence=f.evidence,
        questions=np.array(f.questions),
        windows=np.array(f.windows),
        window_starts=f.window_starts,
        names=np.array(SENTENCE_FEATURES),
    )


def load_features(path: Path) -> Features:
    z = np.load(path, allow_pickle=False)
    if tuple(z["names"].tolist()) != SENTENCE_FEATURES:
        raise SystemExit(f"{path} holds other features than the code computes; delete it to recompute")
    return Features(
        ids=z["ids"].tolist(),
        articles=z["articles"].tolist(),
        unanswerable=z["unanswerable"],
        synthetic=z["synthetic"],
        retrieved=z["retrieved"],
        offsets=z["offsets"],
        sentence=z["sentence"],
        labels=z["labels"],
        evidence=z["evidence"],
        questions=z["questions"].tolist(),
        windows=z["windows"].tolist(),
        window_starts=z["window_starts"],
    )


if __name__ == "__main__":
    main()
