"""BEIR SciFact through `clusterqa eval --beir`, next to the reference numbers.

    python benchmarks/scifact.py [SCIFACT_DIR] [--work DIR] [--index DIR] [--json FILE]

SCIFACT_DIR defaults to ../shared/bench/scifact beside the repository. The documents and
their index go to bench-index/scifact (git-ignored); the first run embeds ~5,200 abstracts
(minutes on 2 cores), later runs reuse the index. The encoder is copied from --index
(default ./index) when it has been exported there.

Differences between runs are checked with a paired randomization test over per-query
nDCG@10 (`clusterqa.evaluation.metrics.paired_randomization_p`).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]

# /work/shared/bench/README.md: measured on this machine kind, documents as title + " " + text.
REFERENCE = (
    ("BM25 (bm25s, Lucene k1=1.5 b=0.75, stopwords + Snowball)", 0.686, 0.819, 0.649, 0.913),
    ("dense all-MiniLM-L6-v2, FAISS flat IP", 0.645, 0.783, 0.605, 0.925),
    ("RRF of both top-100 lists, k=60", 0.716, 0.848, 0.682, 0.948),
)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", nargs="?", type=Path, default=ROOT.parent / "shared" / "bench" / "scifact")
    parser.add_argument("--work", type=Path, default=ROOT / "bench-index" / "scifact")
    parser.add_argument("--index", type=Path, default=ROOT / "index", help="main index folder (for its encoder)")
    parser.add_argument("--json", type=Path, help="also write the report as JSON to this file")
    args = parser.parse_args(argv)

    from rich.console import Console
    from rich.table import Table

    from clusterqa.cli.render_eval import BEIR_HEADERS, print_beir_report
    from clusterqa.config import resolve_settings
    from clusterqa.evaluation import beir
    from clusterqa.evaluation.metrics import paired_randomization_p
    from clusterqa.service import open_index

    def warn(message: str) -> None:
        sys.stderr.write(f"scifact: {message}\n")

    last = [0.0]

    def progress(stage: str, done: int, total: int) -> None:
        if time.monotonic() - last[0] > 15 or done == total:
            last[0] = time.monotonic()
            sys.stderr.write(f"scifact: {stage} {done}/{total}\n")

    started = time.perf_counter()
    data = beir.load_beir(args.folder, warn=warn)
    settings, mapping = beir.prepare_beir_index(
        data, args.work.absolute(), resolve_settings(None, args.index, None), warn=warn, progress=progress
    )
    indexed = time.perf_counter() - started
    searcher = open_index(settings, refresh=False, warn=warn)
    try:
        report = beir.evaluate_beir(searcher, data, mapping, progress=progress)
    finally:
        searcher.close()

    print_beir_report(report)
    console = Console(highlight=False)
    reference = Table(title="reference (shared/bench/README.md)")
    reference.add_column("run", style="bold")
    for measure in beir.BEIR_MEASURES:
        reference.add_column(BEIR_HEADERS[measure], justify="right")
    for name, *values in REFERENCE:
        reference.add_row(name, *(f"{v:.3f}" for v in values))
    console.print(reference)

    runs = {r.name: r.measures["nDCG@10"].per_query for r in report.runs}
    queries = sorted(runs["bm25"])
    tests = Table(title="paired randomization test, per-query nDCG@10")
    tests.add_column("run", style="bold")
    tests.add_column("− bm25", justify="right")
    tests.add_column("p", justify="right")
    tests.add_column("− hybrid (default)", justify="right")
    tests.add_column("p", justify="right")
    for name, per_query in runs.items():
        if name in ("bm25",):
            continue
        cells = []
        for other in ("bm25", "hybrid"):
            a, b = [per_query[q] for q in queries], [runs[other][q] for q in queries]
            same = name == other
            cells += ["" if same else f"{np.mean(a) - np.mean(b):+.3f}", "" if same else f"{paired_randomization_p(a, b):.3f}"]
        tests.add_row(name, *cells)
    console.print(tests)
    console.print(f"[dim]indexing {indexed:.0f} s (0 when reused), evaluation {report.seconds:.0f} s[/]")
    if args.json:
        args.json.write_text(json.dumps(beir.beir_report_json(report), indent=1, ensure_ascii=False), "utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
