"""Comparing retrievers on a BEIR folder: its corpus indexed as files, its queries scored per document.

BEIR folders (Thakur et al., "BEIR: A Heterogeneous Benchmark for Zero-shot Evaluation of
Information Retrieval Models", NeurIPS 2021) are scored per document: a document's score
is its best passage's. The measures come from `metrics`.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from ..answering.fusion import RRF_K
from ..answering.search import CANDIDATES, Searcher
from ..config import Settings, resolve_settings
from ..index.indexer import Progress, Warn, build
from ..models import Hit, Retrieval
from .evaluate import EvalDataError, json_objects
from .metrics import Measured, rounded, trec_measures

CONVEX_ALPHAS = (0.3, 0.4, 0.5, 0.6, 0.7)
BEIR_DEPTH = 100  # documents per query scored by the BEIR run (Recall@100)


@dataclass(frozen=True)
class BeirData:
    name: str
    corpus: dict[str, tuple[str, str]] = field(repr=False)  # _id -> (title, text)
    queries: dict[str, str] = field(repr=False)  # _id -> text, only those with qrels
    qrels: dict[str, dict[str, int]] = field(repr=False)  # query id -> {corpus id: score}


def load_beir(folder: Path, split: str = "test", warn: Warn = lambda _: None) -> BeirData:
    """corpus.jsonl, queries.jsonl and qrels/<split>.tsv of a BEIR-layout folder."""
    if not folder.is_dir():
        raise EvalDataError(f"BEIR folder {folder} does not exist; pass a folder with corpus.jsonl, queries.jsonl, qrels/")
    corpus: dict[str, tuple[str, str]] = {}
    for where, row in _jsonl(folder / "corpus.jsonl"):
        doc_id, title, text = _beir_field(row, "_id", where), row.get("title") or "", row.get("text") or ""
        if not isinstance(title, str) or not isinstance(text, str):
            raise EvalDataError(f"{where}: title and text must be strings")
        if doc_id in corpus:
            raise EvalDataError(f"{where}: document id {doc_id!r} appears twice")
        corpus[doc_id] = (title, text)
    all_queries = {}
    for where, row in _jsonl(folder / "queries.jsonl"):
        text = row.get("text")
        if not isinstance(text, str):
            raise EvalDataError(f"{where}: text must be a string")
        all_queries[_beir_field(row, "_id", where)] = text
    qrels_file = folder / "qrels" / f"{split}.tsv"
    if not qrels_file.is_file():
        found = sorted(p.stem for p in (folder / "qrels").glob("*.tsv")) if (folder / "qrels").is_dir() else []
        raise EvalDataError(f"{qrels_file} does not exist" + (f"; splits here: {', '.join(found)}" if found else ""))
    qrels: dict[str, dict[str, int]] = {}
    with qrels_file.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            parts = line.rstrip("\n").split("\t")
            if number == 1 and parts[0].strip().lower() == "query-id" or not line.strip():
                continue
            if len(parts) != 3:
                raise EvalDataError(f"{qrels_file}:{number}: expected query-id, corpus-id, score separated by tabs")
            try:
                score = int(parts[2])
            except ValueError:
                raise EvalDataError(f"{qrels_file}:{number}: score {parts[2]!r} is not an integer") from None
            qrels.setdefault(parts[0], {})[parts[1]] = score
    unknown_queries = [q for q in qrels if q not in all_queries]
    if unknown_queries:
        warn(f"{len(unknown_queries)} judged queries are missing from queries.jsonl; they are left out")
    unknown_docs = sum(1 for docs in qrels.values() for d in docs if d not in corpus)
    if unknown_docs:
        warn(f"{unknown_docs} judgments name documents missing from corpus.jsonl")
    qrels = {q: docs for q, docs in qrels.items() if q in all_queries}
    if not qrels:
        raise EvalDataError(f"no judged queries in {qrels_file}")
    return BeirData(folder.name, corpus, {q: all_queries[q] for q in qrels}, qrels)


def _jsonl(path: Path) -> Iterable[tuple[str, dict]]:
    try:
        handle = path.open(encoding="utf-8")
    except FileNotFoundError:
        raise EvalDataError(f"{path} does not exist; a BEIR folder has corpus.jsonl, queries.jsonl and qrels/") from None
    with handle:
        yield from json_objects(path, handle, "a JSON object")


def _beir_field(row: dict, key: str, where: str) -> str:
    value = row.get(key)
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str) or not value:
        raise EvalDataError(f"{where}: {key!r} must be a non-empty string")
    return value


_UNSAFE = re.compile(r"[^A-Za-z0-9_-]+")


def document_filenames(ids: Iterable[str]) -> dict[str, str]:
    """A safe, unique .txt file name per document id.

    Ids made of letters, digits, '_' and '-' keep their name; any other id (and any id whose
    name would collide, case-insensitively) gets a hash of the id appended.
    """
    names: dict[str, str] = {}
    taken: set[str] = set()
    for doc_id in ids:
        stem = _UNSAFE.sub("_", doc_id).strip("_-")[:80] or "doc"
        if stem != doc_id or stem.lower() in taken:
            stem = f"{stem}-{hashlib.sha256(doc_id.encode()).hexdigest()[:12]}"
        taken.add(stem.lower())
        names[doc_id] = stem + ".txt"
    return names


def document_text(title: str, text: str) -> str:
    """What a BEIR document's file holds: the title on the first line, a blank line, the text."""
    title = " ".join(title.split())
    text = text.strip()
    return f"{title}\n\n{text}\n" if title else f"{text}\n"


MAPPING_FILE = "ids.json"


def write_corpus(data: BeirData, work: Path) -> dict[str, str]:
    """Write one file per document under work/docs (only those whose text changed); return file -> id.

    Files of documents no longer in the corpus are removed, so the index follows the corpus.
    """
    docs = work / "docs"
    docs.mkdir(parents=True, exist_ok=True)
    names = document_filenames(data.corpus)
    mapping: dict[str, str] = {}
    for doc_id, (title, text) in data.corpus.items():
        if not (title.strip() or text.strip()):
            continue  # an empty file would only be skipped by the indexer
        content = document_text(title, text).encode("utf-8")
        path = docs / names[doc_id]
        try:
            unchanged = path.read_bytes() == content
        except FileNotFoundError:
            unchanged = False
        if not unchanged:
            path.write_bytes(content)
        mapping[names[doc_id]] = doc_id
    for path in docs.glob("*.txt"):
        if path.name not in mapping:
            path.unlink()
    (work / MAPPING_FILE).write_text(json.dumps(mapping, ensure_ascii=False, indent=0), "utf-8")
    return mapping


def default_work_dir(index: Path, beir: Path) -> Path:
    """Where a BEIR folder's documents and index go: next to the main index folder."""
    name = _UNSAFE.sub("_", beir.resolve().name).strip("_") or "beir"
    return index.parent / f".beir-{name}"


def prepare_beir_index(
    data: BeirData,
    work: Path,
    main: Settings,
    warn: Warn = lambda _: None,
    progress: Progress | None = None,
) -> tuple[Settings, dict[str, str]]:
    """Write the corpus under work/docs and bring work/index up to date with the normal indexer.

    The index holds passage vectors only (no answer-sentence vectors: BEIR runs never answer).
    """
    # Retrieval only: the answer sentences' vectors would cost ~7 times the passages' embedding time.
    # Always a local index: a BEIR corpus must not replace a team's shared one (CLUSTERQA_STORE).
    settings = replace(resolve_settings(work / "docs", work / "index", main.model), sentence_vectors=False, store=None)
    mapping = write_corpus(data, work)
    build(settings, progress=progress, warn=warn)
    return settings, mapping


@dataclass(frozen=True)
class RunSpec:
    name: str
    retrieval: Retrieval


def beir_runs(default: Retrieval = Retrieval()) -> tuple[RunSpec, ...]:
    """dense, bm25, the default hybrid, then RRF and each convex weight (the default's twin is not repeated)."""
    variants = [RunSpec(f"rrf k={RRF_K}", Retrieval("hybrid", "rrf"))]
    variants += [RunSpec(f"convex α={a:.1f}", Retrieval("hybrid", "convex", a)) for a in CONVEX_ALPHAS]
    return (
        RunSpec("dense", Retrieval("dense")),
        RunSpec("bm25", Retrieval("lexical")),
        RunSpec("hybrid", default),
        *(v for v in variants if v.retrieval != default),
    )


BEIR_MEASURES = ("nDCG@10", "R@10", "RR@10", "R@100")


@dataclass(frozen=True)
class RunScores:
    name: str
    retrieval: Retrieval
    measures: dict[str, Measured]  # by BEIR_MEASURES name

    def mean(self, measure: str) -> float | None:
        return self.measures[measure].mean


@dataclass(frozen=True)
class BeirReport:
    name: str
    documents: int
    passages: int
    queries: int
    runs: tuple[RunScores, ...]
    seconds: float


def evaluate_beir(
    searcher: Searcher,
    data: BeirData,
    mapping: dict[str, str],
    runs: Sequence[RunSpec] | None = None,
    progress: Progress | None = None,
) -> BeirReport:
    """Each run's document ranking per query, scored with trec_eval's measures.

    Every passage the fusion produces (up to `CANDIDATES` per retriever) is kept, near
    duplicates not folded; passages are grouped by document, a document ranking where
    its best passage does, and the first `BEIR_DEPTH` documents are scored.
    """
    started = time.perf_counter()
    runs = tuple(runs or beir_runs())
    rankings: dict[str, dict[str, list[str]]] = {r.name: {} for r in runs}
    queries = list(data.queries.items())
    total = len(queries) * len(runs)
    for n, (qid, text) in enumerate(queries):
        for m, run in enumerate(runs):
            if progress:
                progress("queries", n * len(runs) + m, total)
            hits, _ = searcher.retrieve(text, 2 * CANDIDATES, run.retrieval, fold_duplicates=False)
            rankings[run.name][qid] = documents_by_best_passage(hits, mapping)[:BEIR_DEPTH]
    if progress:
        progress("queries", total, total)
    scored = tuple(RunScores(r.name, r.retrieval, trec_measures(data.qrels, rankings[r.name], BEIR_MEASURES)) for r in runs)
    return BeirReport(
        name=data.name,
        documents=len(searcher.generation.manifest["documents"]),
        passages=int(searcher.generation.manifest["passages"]),
        queries=len(queries),
        runs=scored,
        seconds=time.perf_counter() - started,
    )


def documents_by_best_passage(hits: Sequence[Hit], mapping: dict[str, str]) -> list[str]:
    """Document ids in the order their first (best) passage appears in the ranking."""
    seen: dict[str, None] = {}
    for hit in hits:
        doc_id = mapping.get(hit.passage.source)
        if doc_id is not None:
            seen.setdefault(doc_id, None)
    return list(seen)


# --- JSON ---------------------------------------------------------------------------------


def beir_report_json(report: BeirReport) -> dict[str, Any]:
    keys = {"nDCG@10": "ndcg@10", "R@10": "recall@10", "RR@10": "mrr@10", "R@100": "recall@100"}
    return {
        "dataset": report.name,
        "documents": report.documents,
        "passages": report.passages,
        "queries": report.queries,
        "seconds": round(report.seconds, 1),
        "runs": [
            {
                "name": r.name,
                "mode": r.retrieval.mode,
                "fusion": r.retrieval.fusion if r.retrieval.mode == "hybrid" else None,
                "alpha": r.retrieval.alpha if r.retrieval.mode == "hybrid" and r.retrieval.fusion == "convex" else None,
                **{keys[m]: rounded(r.mean(m)) for m in BEIR_MEASURES},
                "per_query_ndcg@10": {q: rounded(v) for q, v in r.measures["nDCG@10"].per_query.items()},
            }
            for r in report.runs
        ],
    }
