"""BM25 alone on BEIR SciFact through clusterqa's catalog: chunking, the FTS5 tables and the query
expression, with no model run (the tokenizer only counts word pieces), so it takes seconds.

Compares the lexical search of two source trees in one run (e.g. today's main and this branch):

    python benchmarks/scifact_bm25.py --src src --src ../main/src

Each tree runs in its own process with PYTHONPATH set to it; the documents are chunked with the
default model's tokenizer from the user cache (`clusterqa index` exports it once). A document's
score is its best passage's, as in `clusterqa eval --beir`.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

CHILD = r"""
import hashlib, json, sys, time
from pathlib import Path
from clusterqa.evaluation.beir import document_text, load_beir
from clusterqa.index.catalog import Catalog, write_catalog
from clusterqa.reading.chunking import chunk
from clusterqa.config import DEFAULT_MODEL, ChunkingSettings
from clusterqa.reading.documents import parse_document
from clusterqa.embedding.encoder import TokenCounter
from clusterqa.embedding.encoder_store import encoder_dir
from clusterqa.index.lexical import fts_expression
from clusterqa.evaluation.metrics import trec_measures
from clusterqa.models import DocumentInfo

folder, out = Path(sys.argv[1]), Path(sys.argv[2])
data = load_beir(folder)
count = TokenCounter(encoder_dir(DEFAULT_MODEL) / "tokenizer.json")
start = time.perf_counter()
entries, owner = [], []
for doc_id, (title, text) in data.corpus.items():
    raw = document_text(title, text).encode("utf-8")
    document = parse_document(doc_id + ".txt", raw)
    chunks = chunk(document, count, ChunkingSettings())
    entries.append((DocumentInfo(doc_id, document.title, None, hashlib.sha256(raw).hexdigest()), chunks))
    owner.extend([doc_id] * len(chunks))
write_catalog(out, entries)
built = time.perf_counter() - start
catalog = Catalog(out)
rankings, expressions = {}, {}
start = time.perf_counter()
for qid, question in data.queries.items():
    expression = fts_expression(question)
    expressions[qid] = expression
    ranked = []
    for pid, _ in catalog.match(expression, 1000) if expression else []:
        if owner[pid] not in ranked:
            ranked.append(owner[pid])
    rankings[qid] = ranked[:100]
searched = time.perf_counter() - start
scores = trec_measures(data.qrels, rankings, ["nDCG@10", "R@100"])
print(json.dumps({
    "ndcg@10": scores["nDCG@10"].mean, "recall@100": scores["R@100"].mean, "passages": len(owner),
    "queries": len(data.queries), "build_s": built, "search_s": searched, "expressions": expressions,
}))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", nargs="?", type=Path, default=ROOT.parent / "shared" / "bench" / "scifact")
    parser.add_argument("--src", type=Path, action="append", help="a source tree to measure (repeatable; default ./src)")
    args = parser.parse_args()
    results = {}
    for src in args.src or [ROOT / "src"]:
        with tempfile.TemporaryDirectory() as work:
            env = {**os.environ, "PYTHONPATH": str(src.resolve())}
            done = subprocess.run(
                [sys.executable, "-c", CHILD, str(args.folder), str(Path(work) / "catalog.sqlite")],
                env=env,
                capture_output=True,
                text=True,
                check=False,
            )
        if done.returncode:
            sys.exit(f"{src}: {done.stderr.strip().splitlines()[-1] if done.stderr.strip() else done.returncode}")
        results[str(src)] = json.loads(done.stdout)
    first = next(iter(results.values()))
    print(f"BM25 on {args.folder.name} ({first['queries']} queries, {first['passages']} passages)")
    for src, r in results.items():
        print(
            f"  {src}: nDCG@10 {r['ndcg@10']:.4f}  R@100 {r['recall@100']:.4f}  "
            f"(catalog {r['build_s']:.1f} s, queries {r['search_s']:.1f} s)"
        )
    if len(results) > 1:
        same = all(r["expressions"] == first["expressions"] for r in results.values())
        print(f"  FTS5 expressions identical for every query: {same}")


if __name__ == "__main__":
    t0 = time.perf_counter()
    main()
    print(f"  ({time.perf_counter() - t0:.0f} s)")
