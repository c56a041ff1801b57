"""How much would a cross-encoder trained on our own fitting data add to the confidence? (An experiment.)

    pip install -e ".[fit]"
    python benchmarks/cross_encoder.py --features bench-index/squad2.npz   # ~11 min per fold on 2 cores

Issue 9 asks that 60% of SQuAD 2.0's unanswerable questions be flagged while at most 10% of the
answerable ones are. The logistic confidence (fit_answers.py) flags about 22% there, and no
cross-encoder or reader installs offline (../shared/MODELS.md). This script measures the nearest
thing we could build ourselves: the encoder all-MiniLM-L6-v2, fine-tuned whole (22.7M weights) as a
cross-encoder on (question, chosen sentence with the one before it) -> "the chosen sentence answers".

Four folds by article over the fitting part of squad2 (the checking part is never touched). For
each fold, the scorers and the logistic confidence are fitted on the other three (fit_answers.py's
own functions), the cross-encoder is trained on the same three (2 epochs, AdamW, one-cycle schedule),
and the held-out fold's questions (the swapped synthetic ones left out) are scored by:
the logistic confidence, the cross-encoder alone, and the mean of the two as z-scores (an untuned mix).
Printed per fold and pooled: ROC AUC answerable vs unanswerable, and the share of unanswerable
questions flagged at the threshold that flags 10% of the fold's answerable ones.

Its weights are not kept: a fine-tuned model is 90 MB of weights, which the project does not ship.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "benchmarks"))

import fit_answers as fa  # noqa: E402
from clusterqa.embedding.export import resolve_model  # noqa: E402
from clusterqa.evaluation.metrics import roc_auc  # noqa: E402

FOLDS = 4
EPOCHS = 2
BATCH = 16
LEARNING_RATE = 4e-5
MAX_TOKENS = 160
FLAGGED_ANSWERABLE = 0.10


def chosen_windows(f: fa.Features, scorer, rerank, aligner) -> list[str]:  # noqa: ANN001
    """Per question, the window (sentence before + sentence) of the answer the models pick; "" when none."""
    out = []
    for q in range(len(f.ids)):
        a, b = f.offsets[q], f.offsets[q + 1]
        if a == b:
            out.append("")
            continue
        best, _ = fa.choose(scorer.logit(f.sentence[a:b]), a, rerank, aligner)
        out.append(f.windows[a + best])
    return out


def train_cross_encoder(path: str, questions: list[str], windows: list[str], labels: np.ndarray, seed: int):  # noqa: ANN201
    """The encoder at `path` with a linear head on its mean-pooled output, fine-tuned with binary cross-entropy."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import torch
    from transformers import AutoModel, AutoTokenizer

    torch.manual_seed(seed)
    tokenizer = AutoTokenizer.from_pretrained(path)
    model = AutoModel.from_pretrained(path)
    head = torch.nn.Linear(model.config.hidden_size, 1)

    def logits(qs: list[str], ws: list[str]):  # noqa: ANN202
        batch = tokenizer(
            qs,
            ws,
            truncation=True,
            max_length=MAX_TOKENS,
            padding=True,
            return_tensors="pt",
        )
        mask = batch["attention_mask"].unsqueeze(-1).float()
        pooled = (model(**batch).last_hidden_state * mask).sum(1) / mask.sum(1)
        return head(pooled).squeeze(-1)

    params = [*model.parameters(), *head.parameters()]
    optimizer = torch.optim.AdamW(params, lr=LEARNING_RATE, weight_decay=0.01)
    rows = np.arange(len(questions))
    steps = EPOCHS * (len(rows) // BATCH)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=LEARNING_RATE, total_steps=steps, pct_start=0.1)
    target = torch.tensor(labels.astype(np.float32))
    rng = np.random.default_rng(seed)
    model.train()
    for _ in range(EPOCHS):
        order = rng.permutation(rows)
        for start in range(0, len(order) - BATCH + 1, BATCH):
            batch = order[start : start + BATCH]
            texts = [questions[i] for i in batch], [windows[i] for i in batch]
            loss = torch.nn.functional.binary_cross_entropy_with_logits(logits(*texts), target[batch])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            schedule.step()
    model.eval()

    def score(qs: list[str], ws: list[str]) -> np.ndarray:
        with torch.no_grad():
            return np.concatenate([logits(qs[i : i + 64], ws[i : i + 64]).numpy() for i in range(0, len(qs), 64)])

    return score


def separation(score: np.ndarray, unanswerable: np.ndarray) -> tuple[float, float]:
    """ROC AUC answerable vs unanswerable, and the unanswerable share flagged where 10% of answerable are."""
    threshold = np.quantile(score[~unanswerable], FLAGGED_ANSWERABLE)
    return roc_auc(score[~unanswerable], score[unanswerable]), float((score[unanswerable] < threshold).mean())


def zscore(x: np.ndarray) -> np.ndarray:
    return (x - x.mean()) / (x.std() or 1.0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--features", type=Path, help="fit_answers.py's feature cache (.npz), reused or written")
    parser.add_argument("--folds", type=int, nargs="*", default=list(range(FOLDS)), help="which held-out folds to run")
    args = parser.parse_args()
    questions = fa.load_questions(fa.DATA)
    articles = fa.assign_articles(questions)
    check_articles = fa.split_articles(articles)
    swapped = fa.swapped_questions(questions, articles, set(articles) - check_articles, fa.foreign_words(fa.DATA))
    searcher = fa.open_searcher(fa.DATA, fa.WORK)
    if args.features and args.features.is_file():
        f = fa.load_features(args.features)
    else:
        f = fa.extract(searcher, questions + swapped, articles + [q["article"] for q in swapped])
        if args.features:
            fa.save_features(f, args.features)
    f.absent = fa.asked_absent(searcher, questions + swapped)
    aligner = fa.Aligner(f, searcher.token_vectors(searcher.model))
    if args.features:
        aligner.load(args.features.with_suffix(".alignment.npz"))
    names = np.array(f.articles)
    fitting = ~np.isin(names, sorted(check_articles))
    fold_of = {a: i % FOLDS for i, a in enumerate(sorted(set(names[fitting])))}
    fold = np.array([fold_of.get(a, -1) for a in names])
    all_s, all_c = list(range(len(fa.SENTENCE_FEATURES))), list(range(len(fa.CONFIDENCE_FEATURES)))
    pooled: dict[str, list[np.ndarray]] = {"logistic": [], "cross-encoder": [], "mean of both": []}
    unanswerable: list[np.ndarray] = []
    print(f"{'held-out fold':14} {'questions':>9} {'score':14} {'AUC':>7} {'unans flagged @10% ans':>24}")
    for k in args.folds:
        started = time.perf_counter()
        train = fitting & (fold != k)
        test = fitting & (fold == k) & ~f.synthetic & (f.offsets[1:] > f.offsets[:-1])
        scorer, rerank, confidence = fa.fit_models(f, train, all_s, all_c, aligner)
        d = fa.decide(f, scorer, rerank, confidence, aligner)
        windows = chosen_windows(f, scorer, rerank, aligner)
        rows = np.flatnonzero(train & (f.offsets[1:] > f.offsets[:-1]))
        texts = [f.questions[i] for i in rows], [windows[i] for i in rows]
        score = train_cross_encoder(resolve_model(searcher.model), *texts, d.best_correct[rows], seed=k)
        held = np.flatnonzero(test)
        cross = score([f.questions[i] for i in held], [windows[i] for i in held])
        logistic = np.log(d.confidence[held] + 1e-9) - np.log1p(-d.confidence[held] + 1e-9)
        scores = {"logistic": logistic, "cross-encoder": cross, "mean of both": (zscore(logistic) + zscore(cross)) / 2}
        una = f.unanswerable[held]
        unanswerable.append(una)
        for name, s in scores.items():
            pooled[name].append(s)
            auc, flagged = separation(s, una)
            print(f"{k:<14} {len(held):9d} {name:14} {auc:7.4f} {flagged:24.4f}")
        print(f"  (fold {k}: {time.perf_counter() - started:.0f} s)", file=sys.stderr)
    if len(args.folds) > 1:
        una = np.concatenate(unanswerable)
        for name, parts in pooled.items():
            auc, flagged = separation(np.concatenate([zscore(p) for p in parts]), una)
            print(f"{'pooled':14} {len(una):9d} {name:14} {auc:7.4f} {flagged:24.4f}")
    searcher.close()


if __name__ == "__main__":
    main()
