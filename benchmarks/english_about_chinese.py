"""English questions about Chinese documents (multilingual-e5-small): the fusion weight fitted and checked.

benchmarks/zh_squad_docs/ holds 80 squad2 paragraphs translated into Chinese here (16 of each checking
article of benchmarks/fit_answers.py's split, the file names kept); the questions are squad2's own English
answerable ones about those paragraphs. Their answers are English strings that the Chinese text cannot
contain, so only retrieval is measured: the rank of the first passage from the question's paragraph.

Such a question searches the CJK table with the Chinese words its words translate to too
(answering/glossary.py `chinese_words`), and its dense and lexical lists are fused with INTO_CJK_ALPHA
(answering/cross_lingual.py). This script chooses that weight on a grid by MRR over the questions of
three of the five articles (1973_oil_crisis, Prime_number, Yuan_dynasty: every other one, sorted) and
prints the other two's figures (Geology, Steam_engine), never used to choose, for: the code before
(plain hybrid, alpha 0.5, no translations), the fusion weights fitted for Chinese questions
(ACROSS_SCRIPTS_*, no translations), and the translations with the chosen and the shipped weight.
Then the real `Searcher.retrieve` on all 380 questions, per retrieval mode.

    python benchmarks/english_about_chinese.py [--keep DIR]   # DIR: build the e5 index once and reuse it
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path, PurePosixPath

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "benchmarks"))

from cross_script import rank_figures  # noqa: E402

DOCS = ROOT / "benchmarks" / "zh_squad_docs"
SQUAD = ROOT.parent / "shared" / "bench" / "squad2"
ALPHAS = (0.5, 0.6, 0.7, 0.8, 0.9)


def article(name: str) -> str:
    return name.rsplit("_p", 1)[0]


def components(searcher, questions: list[dict]) -> list[dict]:  # noqa: ANN001
    """Per question: its paragraph, the dense list (passage and best-sentence cosines mixed as
    Searcher.retrieve mixes them across scripts) and the lexical lists without and with translations."""
    from clusterqa.answering.cross_lingual import ACROSS_SCRIPTS_SENTENCE_WEIGHT, cjk_query, lexical_expression
    from clusterqa.answering.fusion import summed_bm25
    from clusterqa.answering.search import CANDIDATES, SENTENCE_WEIGHT

    out = []
    for q in questions:
        query = searcher.embed([q["question"]])[0]
        dense = searcher.dense.search(query, CANDIDATES)
        words = searcher.catalog.match(lexical_expression(q["question"]), CANDIDATES)
        lexical = {}
        for translate in (False, True):
            pairs = cjk_query(q["question"], translate)
            lexical[translate] = summed_bm25(words, searcher.catalog.match_cjk(pairs, CANDIDATES))[:CANDIDATES]
        out.append(
            {
                "source": q["sources"][0],
                "dense": {
                    w: searcher._with_sentences(dense, query, w) for w in (SENTENCE_WEIGHT, ACROSS_SCRIPTS_SENTENCE_WEIGHT)
                },
                "lexical": lexical,
            }
        )
    return out


def figures(searcher, data: list[dict], alpha: float, weight: float, translate: bool, floor: float | None) -> dict:  # noqa: ANN001
    from clusterqa.answering.fusion import convex_fusion

    ranks = []
    for d in data:
        fused = convex_fusion(d["dense"][weight], d["lexical"][translate], alpha, floor)
        ranked = sorted(fused, key=lambda i: (-fused[i], i))[:10]
        passages = searcher.catalog.passages(ranked)
        ranks.append(next((r for r, i in enumerate(ranked, 1) if PurePosixPath(passages[i].source).name == d["source"]), None))
    return rank_figures(ranks)


def line(label: str, f: dict) -> str:
    return f"  {label:52} hit@1 {f['hit@1']:.3f}  hit@3 {f['hit@3']:.3f}  MRR@10 {f['mrr']:.3f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keep", type=Path, help="build the e5 index into this folder once, then reuse it")
    parser.add_argument("--squad", type=Path, default=SQUAD)
    args = parser.parse_args()

    from clusterqa.answering.cross_lingual import (
        ACROSS_SCRIPTS_ALPHA,
        ACROSS_SCRIPTS_SENTENCE_WEIGHT,
        INTO_CJK_ALPHA,
        LEXICAL_FLOOR,
    )
    from clusterqa.answering.search import SENTENCE_WEIGHT
    from clusterqa.config import resolve_settings
    from clusterqa.models import Retrieval
    from clusterqa.service import open_index

    names = {p.name for p in DOCS.glob("*.txt")}
    rows = (json.loads(x) for x in (args.squad / "questions.jsonl").read_text("utf-8").splitlines() if x.strip())
    questions = [q for q in rows if q.get("sources") and q["sources"][0] in names]
    articles = sorted({article(n) for n in names})
    fitting = set(articles[::2])
    with tempfile.TemporaryDirectory() as temporary:
        settings = resolve_settings(seeds=DOCS, index=(args.keep or Path(temporary)) / "zh-e5", model="multilingual-e5-small")
        searcher = open_index(settings, refresh=True, warn=lambda m: print(m, file=sys.stderr))
        print(f"{len(questions)} English questions about {len(names)} Chinese paragraphs; fitting articles {sorted(fitting)}")
        parts = {
            "fitting": components(searcher, [q for q in questions if article(q["sources"][0]) in fitting]),
            "checking": components(searcher, [q for q in questions if article(q["sources"][0]) not in fitting]),
        }
        w = ACROSS_SCRIPTS_SENTENCE_WEIGHT
        grid = {a: figures(searcher, parts["fitting"], a, w, True, LEXICAL_FLOOR)["mrr"] for a in ALPHAS}
        print("\n== fitting articles, with translations: MRR@10 per dense weight alpha")
        print("  " + "  ".join(f"{a}: {m:.3f}" for a, m in grid.items()))
        chosen = max(grid, key=lambda a: (grid[a], a))
        print(f"chosen alpha {chosen}; shipped INTO_CJK_ALPHA {INTO_CJK_ALPHA}")
        for name, data in parts.items():
            print(f"\n== {name} articles ({len(data)} questions)" + (": never used to choose" if name == "checking" else ""))
            print(line("before: hybrid alpha 0.5, no translations", figures(searcher, data, 0.5, SENTENCE_WEIGHT, False, None)))
            across = figures(searcher, data, ACROSS_SCRIPTS_ALPHA, w, False, LEXICAL_FLOOR)
            print(line(f"Chinese questions' weights (alpha {ACROSS_SCRIPTS_ALPHA}), no translations", across))
            print(line(f"translations, chosen alpha {chosen}", figures(searcher, data, chosen, w, True, LEXICAL_FLOOR)))
            print(
                line(
                    f"translations, shipped alpha {INTO_CJK_ALPHA}",
                    figures(searcher, data, INTO_CJK_ALPHA, w, True, LEXICAL_FLOOR),
                )
            )
        print("\n== the real Searcher.retrieve, all questions")
        for mode in ("hybrid", "dense", "lexical"):
            ranks = []
            for q in questions:
                hits, _ = searcher.retrieve(q["question"], 10, Retrieval(mode=mode), fold_duplicates=False)
                ranks.append(
                    next((r for r, h in enumerate(hits, 1) if PurePosixPath(h.passage.source).name in q["sources"]), None)
                )
            print(line(mode, rank_figures(ranks)))
        searcher.close()


if __name__ == "__main__":
    main()
