"""The PostgreSQL store against the local one: nDCG@10 on BEIR SciFact, and query latency at 100k passages.

    python benchmarks/pg_store.py [SCIFACT_DIR] [--work DIR] [--url postgresql://...] [--passages 100000]

Without --url a PostgreSQL with pgvector is started from the pgserver package (the `test` extra) in a
temporary folder and stopped at the end.

1. SciFact: the local index of benchmarks/scifact.py (--work, built there first if missing) is indexed
   again into PostgreSQL with the normal indexer; its vectors come from the local embedding cache
   (copied into the database's cache), so both stores hold the same vectors. Each BEIR run (dense,
   bm25, hybrid, ...) is scored on both; the PostgreSQL bm25 runs twice, with the store's BM25 and
   with PostgreSQL's ts_rank_cd over the same words, the choice this measures.
2. Latency: a second database of --passages passages synthesized from the SciFact ones: passage i is
   SciFact passage i mod n with its sentences rotated and one word in ten dropped, and its vector the
   real passage vector plus Gaussian noise (sigma 0.025 per dimension, cosine about 0.9 to its origin),
   renormalized, so the HNSW graph sees clusters as real text makes them. Warm p50/p95 over 100 SciFact
   queries (each asked twice, the second timed): dense (HNSW, top 400), lexical (BM25, top 400), and
   hybrid (Searcher.retrieve, top 10, question vectors computed beforehand), with and without folding
   near-duplicates.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", nargs="?", type=Path, default=ROOT.parent / "shared" / "bench" / "scifact")
    parser.add_argument("--work", type=Path, default=ROOT / "bench-index" / "scifact")
    parser.add_argument("--index", type=Path, default=ROOT / "index", help="main index folder (for its encoder)")
    parser.add_argument("--url", help="PostgreSQL server URL (a database per part is created on it)")
    parser.add_argument("--passages", type=int, default=100_000)
    parser.add_argument("--skip-scifact", action="store_true")
    parser.add_argument("--json", type=Path, help="also write the figures as JSON to this file")
    args = parser.parse_args(argv)

    server = None
    url = args.url
    if url is None:
        import pgserver

        folder = tempfile.mkdtemp(prefix="cqa-pg-")
        server = pgserver.get_server(folder, cleanup_mode="delete")
        url = server.get_uri()
    figures: dict = {}
    try:
        from clusterqa.config import resolve_settings
        from clusterqa.evaluation import beir

        data = beir.load_beir(args.folder, warn=_say)
        local, mapping = beir.prepare_beir_index(
            data, args.work.absolute(), resolve_settings(None, args.index, None), warn=_say, progress=_progress
        )
        if not args.skip_scifact:
            figures["scifact"] = scifact(data, mapping, local, database(url, "cqa_bench_scifact"))
        figures["latency"] = latency(data, local, database(url, "cqa_bench_scale"), args.passages)
    finally:
        if server is not None:
            server.cleanup()
    if args.json:
        args.json.write_text(json.dumps(figures, indent=1), "utf-8")
    return 0


def _say(message: str) -> None:
    sys.stderr.write(f"pg_store: {message}\n")


_last = [0.0]


def _progress(stage: str, done: int, total: int) -> None:
    if time.monotonic() - _last[0] > 15 or done == total:
        _last[0] = time.monotonic()
        _say(f"{stage} {done}/{total}")


def database(server_url: str, name: str) -> str:
    """A fresh, empty database `name` on the server; its URL."""
    from urllib.parse import urlsplit

    import psycopg

    with psycopg.connect(server_url, autocommit=True) as admin:
        admin.execute(f"DROP DATABASE IF EXISTS {name}")
        admin.execute(f"CREATE DATABASE {name}")
    return urlsplit(server_url)._replace(path=f"/{name}").geturl()


def copy_cache(local, url: str) -> int:  # noqa: ANN001 - Settings
    """The local index's cached passage vectors into the database's cache (same encoder key)."""
    import sqlite3

    from clusterqa.embedding.encoder_store import ensure_encoder
    from clusterqa.index.planning import cache_key
    from clusterqa.index.postgres import PostgresStore

    _, info = ensure_encoder(local.model, _say)
    key = cache_key(local.model, info)
    db = sqlite3.connect(local.index / "cache" / "embeddings.sqlite")
    rows = db.execute("SELECT text_hash, vector FROM vectors WHERE model = ?", (key,)).fetchall()
    db.close()
    store = PostgresStore(url)
    with store.writer_lock(0):
        cache = store.embedding_cache(key, int(info["dim"]))
        vectors = np.vstack([np.frombuffer(v, dtype=np.float32) for _, v in rows])
        cache.put([h for h, _ in rows], vectors)
    return len(rows)


def scifact(data, mapping: dict[str, str], local, url: str) -> dict:  # noqa: ANN001
    from clusterqa.evaluation import beir
    from clusterqa.index.indexer import build
    from clusterqa.service import open_index

    pg = replace(local, store=url)
    _say(f"copied {copy_cache(local, url)} cached vectors into PostgreSQL")
    started = time.perf_counter()
    report = build(pg, warn=_say, progress=_progress)
    _say(f"PostgreSQL index: {report.passages} passages, {report.embedded} embedded, {report.seconds:.0f} s")
    figures = {"pg_build_seconds": round(time.perf_counter() - started, 1), "passages": report.passages}
    runs = [r for r in beir.beir_runs() if r.name in ("dense", "bm25", "hybrid")]
    for name, settings in (("local", local), ("postgresql", pg)):
        searcher = open_index(settings, refresh=False, warn=_say)
        try:
            result = beir.evaluate_beir(searcher, data, mapping, runs=runs, progress=_progress)
            figures[name] = {run.name: round(run.mean("nDCG@10"), 4) for run in result.runs}
            if name == "postgresql":
                searcher.catalog.ranking = "ts_rank_cd"
                result = beir.evaluate_beir(searcher, data, mapping, runs=runs[1:], progress=_progress)
                figures["postgresql ts_rank_cd"] = {run.name: round(run.mean("nDCG@10"), 4) for run in result.runs}
        finally:
            searcher.close()
    print("nDCG@10 on BEIR SciFact (300 queries)")
    print(f"{'run':<14}" + "".join(f"{k:>24}" for k in ("local", "postgresql", "postgresql ts_rank_cd")))
    for run in figures["local"]:
        cells = [figures[k].get(run) for k in ("local", "postgresql", "postgresql ts_rank_cd")]
        print(f"{run:<14}" + "".join(f"{'' if c is None else f'{c:.4f}':>24}" for c in cells))
    return figures


def latency(data, local, url: str, passages: int) -> dict:  # noqa: ANN001
    from clusterqa.answering.search import Searcher
    from clusterqa.embedding.encoder import load_in_background
    from clusterqa.embedding.encoder_store import encoder_for
    from clusterqa.index.lexical import fts_expression
    from clusterqa.index.postgres import PostgresStore
    from pg_synth import synthesize  # beside this script

    seconds = synthesize(local, url, passages, _say)
    generation = PostgresStore(url).current()
    searcher = Searcher(generation, load_in_background(encoder_for(generation.manifest)))
    questions = list(data.queries.values())[:100]
    vectors = searcher.embed(questions)
    reader = searcher.catalog
    timings: dict[str, list[float]] = {"dense": [], "lexical": [], "hybrid": [], "hybrid-nofold": []}
    for question, vector in zip(questions, vectors, strict=True):
        searcher.embed = lambda _texts, v=vector: v.reshape(1, -1)
        expression = fts_expression(question) or '"nothing"'
        for kind, call in (
            ("dense", lambda v=vector: reader.search(v, 400)),
            ("lexical", lambda e=expression: reader.match(e, 400)),
            ("hybrid", lambda q=question: searcher.retrieve(q, 10)),
            # Without folding near-duplicates: the synthesized copies of a passage are near-duplicates of each
            # other from other "documents", which makes folding (CPU, not the store) costlier than real text does.
            ("hybrid-nofold", lambda q=question: searcher.retrieve(q, 10, fold_duplicates=False)),
        ):
            call()  # warm
            started = time.perf_counter()
            call()
            timings[kind].append((time.perf_counter() - started) * 1000)
    searcher.close()
    figures = {"passages": passages, **seconds}
    print(f"\nquery latency on {passages:,} passages in PostgreSQL (warm, 100 SciFact queries), ms")
    for kind, values in timings.items():
        p50, p95 = np.percentile(values, 50), np.percentile(values, 95)
        figures[kind] = {"p50_ms": round(float(p50), 1), "p95_ms": round(float(p95), 1)}
        print(f"{kind:<14} p50 {p50:7.1f}   p95 {p95:7.1f}")
    print("load: " + ", ".join(f"{k} {v:.0f} s" for k, v in seconds.items()))
    return figures


if __name__ == "__main__":
    sys.exit(main())
