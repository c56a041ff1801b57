"""English questions about Chinese documents (multilingual-e5-small): how often the right passage is found.

benchmarks/zh_squad_docs/ holds 80 squad2 paragraphs translated into Chinese here (16 of each checking
article of benchmarks/fit_answers.py's split, the file names kept); the questions are squad2's own English
answerable ones about those paragraphs. Their answers are English strings that the Chinese text cannot
contain, so only retrieval is measured: the rank of the first passage from the question's paragraph, in
each retrieval mode, through the real `Searcher.retrieve`. Nothing was fitted on these: report only.

    python benchmarks/english_about_chinese.py [--keep DIR]   # DIR: build the e5 index once and reuse it
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
from pathlib import Path, PurePosixPath

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
DOCS = ROOT / "benchmarks" / "zh_squad_docs"
SQUAD = ROOT.parent / "shared" / "bench" / "squad2"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keep", type=Path, help="build the e5 index into this folder once, then reuse it")
    parser.add_argument("--squad", type=Path, default=SQUAD)
    args = parser.parse_args()

    from clusterqa.config import resolve_settings
    from clusterqa.models import Retrieval
    from clusterqa.service import open_index

    names = {p.name for p in DOCS.glob("*.txt")}
    rows = (json.loads(x) for x in (args.squad / "questions.jsonl").read_text("utf-8").splitlines() if x.strip())
    questions = [q for q in rows if q.get("sources") and q["sources"][0] in names]
    with tempfile.TemporaryDirectory() as temporary:
        settings = resolve_settings(seeds=DOCS, index=(args.keep or Path(temporary)) / "zh-e5", model="multilingual-e5-small")
        searcher = open_index(settings, refresh=True, warn=lambda m: print(m, file=sys.stderr))
        print(f"{len(questions)} English questions about {len(names)} Chinese paragraphs")
        for mode in ("hybrid", "dense", "lexical"):
            ranks = []
            for q in questions:
                hits, _ = searcher.retrieve(q["question"], 10, Retrieval(mode=mode), fold_duplicates=False)
                ranks.append(
                    next((r for r, h in enumerate(hits, 1) if PurePosixPath(h.passage.source).name in q["sources"]), None)
                )
            hit1 = statistics.mean(r == 1 for r in ranks)
            hit3 = statistics.mean(r is not None and r <= 3 for r in ranks)
            mrr = statistics.mean(1 / r if r else 0.0 for r in ranks)
            print(f"{mode:8} hit@1 {hit1:.3f}  hit@3 {hit3:.3f}  MRR@10 {mrr:.3f}")
        searcher.close()


if __name__ == "__main__":
    main()
