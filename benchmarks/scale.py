"""Scale benchmark (issue 11): indexes of 100k and 1M passages and the numbers a user meets.

    python benchmarks/scale.py --sizes 100000,1000000 --work /tmp/scale

For each size it writes a documents folder and a published index generation with the package's own
writers (catalog, dense index as `clusterqa index` chooses it, manifest), then prints: build time,
size on disk, warm query p50/p95 through the real Searcher (dense, lexical, hybrid; question
embedding included), cold `clusterqa ask` median (new process, next to the seed index's cold ask in
the same run), peak RSS of `ask`, and recall@10 of the dense index against exact search.

How the corpus is made (the real encoder is not run on a million passages):
- Real documents: 3,000 SciFact abstracts and the 636 SQuAD paragraphs of ../shared/bench (or
  --bench), each embedded once with the real MiniLM encoder (cached in WORK/sample.npy; ~15 min).
- Passage i: a window of 3-7 consecutive sentences of a real document D_i, rotated, 10% of its words
  dropped and a random number appended, so the text (and its word statistics) is real but no two
  passages are equal.
- Vector i: D_i's real embedding mixed with one of D_i's 10 nearest real neighbours (weight U(0, 0.5)),
  plus Gaussian noise of norm 0.5 x the distance from D_i to its nearest neighbour, renormalized: the
  vectors cluster where the real texts do (topics, bridges between neighbouring texts), none coincide.
- Files: 50 passages a file, one passage a line, blank lines between, so the catalog's offsets, lines,
  hashes, sizes and mtimes match and `clusterqa ask` finds the index current and runs for real.
- Answer sentences: none are written (the answer candidates' vectors take ~1.5 KB a sentence, ~8 GB
  at 1M): `ask` retrieves and cites passages; it shows no answer sentence.
- Queries: 500 real SQuAD questions (embedded) and 500 perturbed document vectors (noise norm 0.3).
`ask` runs as a new process, median of --runs, twice: cold (the generation's files dropped from the
page cache with posix_fadvise DONTNEED before each run) and with the files cached (as after any recent
use), for the large index and the seed index alike. Its peak RSS is ru_maxrss of that process.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
PER_FILE = 50
SEED_QUESTION = "How many product models does the Yueqing electrical cluster offer?"
_SENTENCE = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9])")


def real_documents(bench: Path) -> tuple[list[str], list[list[str]], list[str]]:
    """The real documents (text to embed, sentences) and 1,000 SQuAD questions, in a fixed order."""
    rng = random.Random(0)
    scifact = [json.loads(line) for line in (bench / "scifact" / "corpus.jsonl").open(encoding="utf-8")]
    rng.shuffle(scifact)
    texts, sentences = [], []
    for d in scifact[:3000]:
        texts.append((d["title"] + "\n" + d["text"])[:1500])
        sentences.append([d["title"].rstrip(".") + "."] + [s for s in _SENTENCE.split(d["text"]) if s.strip()])
    for path in sorted((bench / "squad2" / "docs").glob("*.txt")):
        text = path.read_text("utf-8")
        texts.append(text[:1500])
        sentences.append([s for s in _SENTENCE.split(" ".join(text.split())) if s.strip()])
    questions = [json.loads(line)["question"] for line in (bench / "squad2" / "questions.jsonl").open(encoding="utf-8")]
    rng.shuffle(questions)
    return texts, sentences, questions[:1000]


def embedded_sample(work: Path, bench: Path) -> tuple[np.ndarray, list[list[str]], np.ndarray, list[str]]:
    """Real embeddings of the real documents and questions (cached: the encoder runs ~30 passages/s)."""
    texts, sentences, questions = real_documents(bench)
    cached = work / "sample.npy", work / "questions.npy"
    if not all(p.exists() for p in cached):
        from clusterqa.embedding.encoder import OnnxEncoder
        from clusterqa.embedding.encoder_store import ensure_encoder

        print(f"embedding {len(texts)} real documents and {len(questions)} questions (once)", file=sys.stderr)
        encoder = OnnxEncoder(ensure_encoder("all-MiniLM-L6-v2", lambda m: print(m, file=sys.stderr))[0])
        np.save(cached[1], encoder.encode(questions))
        np.save(cached[0], encoder.encode(texts))
    return np.load(cached[0]), sentences, np.load(cached[1]), questions


def synthesize(sample: np.ndarray, origin: np.ndarray, seed: int = 0) -> np.ndarray:
    """One vector per passage around its document's real vector (see the module docstring)."""
    rng = np.random.default_rng(seed)
    similarity = sample @ sample.T
    np.fill_diagonal(similarity, -2)
    neighbours = np.argsort(-similarity, axis=1)[:, :10]
    nearest = np.sqrt(np.maximum(2 - 2 * similarity[np.arange(len(sample)), neighbours[:, 0]], 1e-6))
    out = np.empty((len(origin), sample.shape[1]), dtype=np.float32)
    dim = sample.shape[1]
    for lo in range(0, len(origin), 100_000):
        i = origin[lo : lo + 100_000]
        j = neighbours[i, rng.integers(0, 10, len(i))]
        weight = rng.uniform(0, 0.5, len(i))[:, None].astype(np.float32)
        v = (1 - weight) * sample[i] + weight * sample[j]
        v += rng.standard_normal((len(i), dim)).astype(np.float32) * (0.5 * nearest[i] / np.sqrt(dim))[:, None]
        out[lo : lo + len(i)] = v / np.linalg.norm(v, axis=1, keepdims=True)
    return out


def query_vectors(sample: np.ndarray, questions: np.ndarray, n: int = 1000) -> np.ndarray:
    rng = np.random.default_rng(1)
    half = n // 2
    perturbed = sample[rng.integers(0, len(sample), n - half)]
    perturbed = perturbed + rng.standard_normal(perturbed.shape).astype(np.float32) * (0.3 / np.sqrt(sample.shape[1]))
    perturbed /= np.linalg.norm(perturbed, axis=1, keepdims=True)
    return np.vstack([questions[:half], perturbed]).astype(np.float32)


def passage_text(rng: random.Random, sentences: list[str]) -> str:
    k = min(len(sentences), rng.randint(3, 7))
    start = rng.randrange(len(sentences) - k + 1)
    window = sentences[start : start + k]
    r = rng.randrange(k)
    words = " ".join(window[r:] + window[:r]).split()
    words = [w for w in words if rng.random() > 0.1] or words
    return " ".join([*words, str(rng.randrange(1000, 100000))])


def write_corpus(size: int, work: Path, sample: np.ndarray, sentences: list[list[str]]) -> tuple[Path, Path, dict]:
    """The documents folder and a published generation of `size` passages; returns (seeds, index, timings)."""
    from clusterqa.config import model_key, resolve_settings
    from clusterqa.embedding.encoder_store import ensure_encoder
    from clusterqa.index.ann import write_dense_index
    from clusterqa.index.catalog import write_catalog
    from clusterqa.index.store import CATALOG, DENSE, FORMAT, FORMAT_VERSION, MANIFEST, Store, write_json
    from clusterqa.models import Chunk, DocumentInfo
    from clusterqa.reading.chunking import text_hash

    seeds, index = work / f"docs-{size}", work / f"index-{size}"
    shutil.rmtree(seeds, ignore_errors=True)
    shutil.rmtree(index, ignore_errors=True)
    settings = resolve_settings(seeds.parent, index, None)
    rng = random.Random(size)
    origin = np.random.default_rng(size).integers(0, len(sample), size)
    manifest_docs: dict[str, dict] = {}

    def documents():  # -> Iterator[tuple[DocumentInfo, list[Chunk]]], written to disk as they are made
        pid = 0
        for f in range((size + PER_FILE - 1) // PER_FILE):
            source = f"d{f // 1000:03d}/f{f:06d}.txt"
            texts = [passage_text(rng, sentences[origin[i]]) for i in range(pid, min(size, pid + PER_FILE))]
            body = "\n\n".join(texts) + "\n"
            path = seeds / source
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(body, "utf-8")
            chunks, offset = [], 0
            for n, t in enumerate(texts):
                chunks.append(Chunk(source, n, t, offset, offset + len(t), 2 * n + 1, 2 * n + 1, text_hash(t)))
                offset += len(t) + 2
            info = DocumentInfo(source, path.stem, None, text_hash(body))
            st = path.stat()
            manifest_docs[source] = {
                "sha256": info.sha256,
                "size": st.st_size,
                "mtime_ns": st.st_mtime_ns,
                "title": info.title,
                "date": None,
                "passages": len(chunks),
            }
            pid += len(chunks)
            yield info, chunks

    seeds.mkdir(parents=True)
    started = time.perf_counter()
    store = Store(index)
    target = store.new_generation_dir()
    write_catalog(target / CATALOG, documents(), ())
    catalog_s = time.perf_counter() - started
    vectors = synthesize(sample, origin)
    t = time.perf_counter()
    record = write_dense_index(target / DENSE, vectors, "auto", None)
    dense_s = time.perf_counter() - t
    _, info = ensure_encoder(settings.model, lambda m: None)
    key = model_key(settings.model)
    write_json(
        target / MANIFEST,
        {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "seeds": str(seeds),
            "model": {"name": settings.model, "key": key, "dim": int(info["dim"]), "max_seq_length": int(info["max_seq_length"])},
            "encoder": {"key": key, "id": info["id"]},
            "metric": "inner_product",
            "chunking": settings.chunking.as_dict(),
            "sentence_vectors": True,
            "passages": size,
            "documents": manifest_docs,
            "skipped": [],
            "dense": record,
        },
    )
    store.publish(target)
    np.save(work / f"vectors-{size}.npy", vectors)
    return seeds, index, {"build_s": time.perf_counter() - started, "catalog_s": catalog_s, "dense_s": dense_s, "dense": record}


def evict(folder: Path) -> None:
    """Drop a folder's files from the page cache, so the next process reads them from disk."""
    for path in folder.rglob("*"):
        if path.is_file():
            fd = os.open(path, os.O_RDONLY)
            try:
                os.fsync(fd)
                os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
            finally:
                os.close(fd)


# Runs `ask` from a small process of its own: a child forked straight from this one (GBs of vectors)
# would count this process's pages in its ru_maxrss until it execs.
_LAUNCH = """
import os, subprocess, sys, time
started = time.perf_counter()
proc = subprocess.Popen(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
_, status, usage = os.wait4(proc.pid, 0)
wall = time.perf_counter() - started
print(wall, usage.ru_maxrss / 1024, os.waitstatus_to_exitcode(status), proc.stderr.read().decode()[-300:].replace(chr(10), " "))
"""


def cold_ask(seeds: Path, index: Path, question: str, runs: int, drop_cache: bool) -> tuple[float, float]:
    """Median wall seconds and peak RSS (MB, ru_maxrss) of `clusterqa ask`, each run a new process; with
    `drop_cache`, the index's generation files are dropped from the page cache before each run."""
    from clusterqa.index.store import Store

    generation = Store(index).current().directory
    walls, peaks = [], []
    for _ in range(runs):
        if drop_cache:
            evict(generation)
        cmd = [sys.executable, "-m", "clusterqa", "ask", question, "--seeds", str(seeds), "--index", str(index)]
        out = subprocess.run([sys.executable, "-c", _LAUNCH, *cmd], capture_output=True, text=True, check=True).stdout
        wall, peak, code, stderr = out.split(" ", 3)
        if int(code) not in (0, 3):
            raise SystemExit(f"ask exited {code} on {index}: {stderr}")
        walls.append(float(wall))
        peaks.append(float(peak))
    return statistics.median(walls), max(peaks)


def warm_queries(seeds: Path, index: Path, questions: list[str]) -> dict[str, tuple[float, float]]:
    """p50 and p95 milliseconds of Searcher.retrieve (question embedding included), one process, per mode."""
    from clusterqa.config import resolve_settings
    from clusterqa.models import Retrieval
    from clusterqa.service import open_index

    searcher = open_index(resolve_settings(seeds, index, None), refresh=False, warn=lambda m: None)
    try:
        out = {}
        for mode in ("dense", "lexical", "hybrid"):
            for q in questions[:5]:
                searcher.retrieve(q, 3, Retrieval(mode=mode))
            times = []
            for q in questions:
                started = time.perf_counter()
                searcher.retrieve(q, 3, Retrieval(mode=mode))
                times.append((time.perf_counter() - started) * 1000)
            out[mode] = (float(np.percentile(times, 50)), float(np.percentile(times, 95)))
        started = time.perf_counter()
        for q in questions:
            searcher.embed([q])
        out["embed"] = ((time.perf_counter() - started) * 1000 / len(questions), 0.0)
        return out
    finally:
        searcher.close()


def recall_at_10(index: Path, vectors: np.ndarray, queries: np.ndarray) -> float:
    """Recall@10 of the generation's dense index against exact inner-product search."""
    import faiss

    from clusterqa.index.dense import DenseIndex
    from clusterqa.index.store import Store

    generation = Store(index).current()
    dense = DenseIndex(generation.dense, len(vectors), vectors.shape[1], generation.manifest.get("dense"))
    exact = faiss.IndexFlatIP(vectors.shape[1])
    exact.add(vectors)
    truth = exact.search(queries, 10)[1]
    found = sum(len({i for i, _ in dense.search(q, 10)} & set(t.tolist())) for q, t in zip(queries, truth, strict=True))
    return found / (10 * len(queries))


def seed_index(work: Path) -> tuple[Path, Path]:
    seeds, index = work / "seed-docs", work / "seed-index"
    if not (index / "CURRENT").exists():
        shutil.rmtree(seeds, ignore_errors=True)
        shutil.copytree(ROOT / "seeds", seeds)
        cmd = [sys.executable, "-m", "clusterqa", "index", "--seeds", str(seeds), "--index", str(index)]
        subprocess.run(cmd, check=True, capture_output=True)
    return seeds, index


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="100000,1000000", help="passage counts, comma-separated")
    parser.add_argument("--work", type=Path, default=Path("/tmp/clusterqa-scale"), help="scratch folder (GBs at 1M)")
    parser.add_argument("--bench", type=Path, default=ROOT.parent / "shared" / "bench", help="folder with scifact/ and squad2/")
    parser.add_argument("--runs", type=int, default=5, help="cold asks per index")
    parser.add_argument("--questions", type=int, default=100, help="warm queries per mode")
    parser.add_argument("--keep", action="store_true", help="keep the documents and indexes (deleted by default)")
    parser.add_argument("--reuse", action="store_true", help="measure the indexes a --keep run left, without writing them")
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    sample, sentences, question_vectors, questions = embedded_sample(args.work, args.bench)
    queries = query_vectors(sample, question_vectors)
    seeds0, index0 = seed_index(args.work)
    rows = []
    for size in (int(s) for s in args.sizes.split(",")):
        print(f"building {size:,} passages in {args.work}", file=sys.stderr, flush=True)
        seeds, index = args.work / f"docs-{size}", args.work / f"index-{size}"
        built_file = args.work / f"built-{size}.json"
        if args.reuse and built_file.exists():
            built = json.loads(built_file.read_text())  # measured when it was written
        else:
            seeds, index, built = write_corpus(size, args.work, sample, sentences)
            built_file.write_text(json.dumps(built))
        vectors = np.load(args.work / f"vectors-{size}.npy")
        recall = recall_at_10(index, vectors, queries)
        del vectors
        warm = warm_queries(seeds, index, questions[: args.questions])
        seed_ask = cold_ask(seeds0, index0, SEED_QUESTION, args.runs, drop_cache=True)
        ask = cold_ask(seeds, index, questions[0], args.runs, drop_cache=True)
        seed_cached = cold_ask(seeds0, index0, SEED_QUESTION, args.runs, drop_cache=False)
        cached = cold_ask(seeds, index, questions[0], args.runs, drop_cache=False)
        disk = sum(p.stat().st_size for p in (index / "generations").rglob("*") if p.is_file()) / 1e9
        row = {
            "passages": size,
            **built,
            "disk_gb": disk,
            "recall_at_10": recall,
            "warm_ms": warm,
            "cold_ask_s": ask[0],
            "ask_rss_mb": ask[1],
            "seed_cold_ask_s": seed_ask[0],
            "cached_ask_s": cached[0],
            "seed_cached_ask_s": seed_cached[0],
            "seed_ask_rss_mb": seed_ask[1],
        }
        rows.append(row)
        print(json.dumps(row), file=sys.stderr, flush=True)
        if not args.keep:
            shutil.rmtree(seeds, ignore_errors=True)
            shutil.rmtree(index, ignore_errors=True)
            (args.work / f"vectors-{size}.npy").unlink(missing_ok=True)
            built_file.unlink(missing_ok=True)
    print(table(rows))
    (args.work / "scale.json").write_text(json.dumps(rows, indent=1))


def table(rows: list[dict]) -> str:
    lines = [
        "| passages | dense index | build s (catalog / dense) | disk GB | recall@10 | warm p50/p95 ms dense | lexical | hybrid "
        "| cold ask s, files not cached (seed index) | new-process ask s, files cached (seed index) | ask RSS MB |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        d, w = r["dense"], r["warm_ms"]
        kind = d["kind"] + (f" nlist {d['nlist']} nprobe {d['nprobe']}" if d["kind"] == "ivf" else "")
        cells = [
            f"{r['passages']:,}",
            kind,
            f"{r['build_s']:.0f} ({r['catalog_s']:.0f} / {r['dense_s']:.0f})",
            f"{r['disk_gb']:.2f}",
            f"{r['recall_at_10']:.3f}",
            *(f"{w[m][0]:.1f} / {w[m][1]:.1f}" for m in ("dense", "lexical", "hybrid")),
            f"{r['cold_ask_s']:.2f} ({r['seed_cold_ask_s']:.2f})",
            f"{r['cached_ask_s']:.2f} ({r['seed_cached_ask_s']:.2f})",
            f"{r['ask_rss_mb']:.0f}",
        ]
        lines.append("| " + " | ".join(cells) + " |")
    lines.append(f"question embedding alone: {rows[0]['warm_ms']['embed'][0]:.1f} ms a question" if rows else "")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
