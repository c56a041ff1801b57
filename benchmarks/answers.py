"""Answer accuracy, abstention, confidence ROC AUC and reliability through the real `ask` path.

    python benchmarks/answers.py                 # from the repository root

Two question sets: the development questions about seeds/ (tests/seed_questions.jsonl) and the
CHECKING part of ../shared/bench/squad2 (the articles benchmarks/fit_answers.py never fitted on).
Indexes are built (or updated) under bench-index/. The figures are those `clusterqa eval` prints.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "benchmarks"))

from clusterqa.config import Settings  # noqa: E402
from clusterqa.evaluation.evaluate import evaluate_questions, load_questions  # noqa: E402
from clusterqa.index.indexer import build  # noqa: E402
from clusterqa.service import open_index  # noqa: E402
from fit_answers import DATA, assign_articles, split_articles  # noqa: E402
from fit_answers import load_questions as load_squad  # noqa: E402


def warn(message: str) -> None:
    print(message, file=sys.stderr)


def run(name: str, seeds: Path, index: Path, questions: Path) -> dict:
    settings = Settings(seeds=seeds, index=index)
    build(settings, warn=warn)
    searcher = open_index(settings, refresh=False, warn=warn)
    started = time.perf_counter()
    report = evaluate_questions(searcher, load_questions(questions))
    seconds = time.perf_counter() - started
    searcher.close()
    s = report.summary
    print(f"\n== {name}: {s.questions} questions ({s.answerable} answerable, {s.unanswerable} unanswerable), {seconds:.0f} s")
    rows = [
        ("hit@1", s.hit_at_1),
        ("answer accuracy (confident and right)", s.answer_accuracy),
        ("answer accuracy, answer in top 5", s.answer_accuracy_retrieved),
        ("unanswerable flagged (abstention recall)", s.abstention_recall),
        ("answerable flagged", s.answerable_flagged),
        ("abstention precision", s.abstention_precision),
        ("confidence ROC AUC", s.confidence_auc),
    ]
    for label, value in rows:
        print(f"  {label:42} {'n/a' if value is None else f'{value:.4f}'}")
    print("  reliability (confidence bin: questions, mean predicted, observed share answered right)")
    for b in s.reliability:
        print(
            f"    {b['low']:.1f}-{b['high']:.1f}: {b['count']:5d}  predicted {b['predicted']:.3f}  observed {b['observed']:.3f}"
        )
    for o in report.outcomes:
        wrong = o.result.confident if o.question.unanswerable else not o.best_correct
        if wrong and name.startswith("development"):
            print(f"  miss {o.question.id}: {'; '.join(o.problems) or 'best sentence lacks the answer'}")
    return s.as_dict()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, default=ROOT / "bench-index")
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--skip-squad", action="store_true")
    args = parser.parse_args()
    run("development questions (seeds)", ROOT / "seeds", args.work / "seeds", ROOT / "tests" / "seed_questions.jsonl")
    if args.skip_squad:
        return
    questions = load_squad(args.data)
    articles = assign_articles(questions)
    check = split_articles(articles)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "check.jsonl"
        path.write_text("".join(json.dumps(q) + "\n" for q, a in zip(questions, articles, strict=True) if a in check), "utf-8")
        run(f"squad2 CHECKING part ({len(check)} articles)", args.data / "docs", args.work / "squad2", path)


if __name__ == "__main__":
    main()
