"""Cold-process timings of clusterqa's commands, as a user meets them.

Every figure is a whole new process (median of --runs after one warm-up run), with its
peak resident memory. Also: a cold `ask` on a generated index of --passages passages, and a
per-phase breakdown of one cold `ask`.

    python benchmarks/cold_start.py            # from the repository root
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
QUESTION = "How many product models does the Yueqing electrical cluster offer?"


def timed(cmd: list[str], env: dict[str, str]) -> tuple[float, float, int]:
    """Wall seconds, peak RSS in MB and exit code of one process."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    return wall, usage.ru_maxrss / 1024, proc.returncode


def measure(label: str, cmd: list[str], env: dict[str, str], runs: int, before=None) -> dict:  # noqa: ANN001
    samples = []
    for i in range(runs + 1):
        if before:
            before()
        wall, rss, code = timed(cmd, env)
        if code not in (0, 3):
            raise SystemExit(f"{label}: exit code {code} from {' '.join(cmd)}")
        if i:  # the first run warms the page cache
            samples.append((wall, rss))
    walls = [w for w, _ in samples]
    return {
        "label": label,
        "median_s": statistics.median(walls),
        "min_s": min(walls),
        "max_s": max(walls),
        "rss_mb": statistics.median(r for _, r in samples),
        "runs": runs,
    }


def clusterqa(*args: str) -> list[str]:
    """The console script users run: beside this Python (a virtual environment), else on PATH."""
    beside = Path(sys.executable).with_name("clusterqa")
    exe = str(beside) if beside.exists() else shutil.which("clusterqa")
    return [exe, *args] if exe else [sys.executable, "-m", "clusterqa", *args]


def prepare_seed_index(work: Path, env: dict[str, str]) -> tuple[Path, Path]:
    seeds, index = work / "seeds", work / "index"
    shutil.copytree(ROOT / "seeds", seeds)
    # The encoder is exported once into the user cache (if it is not there yet) and shared.
    subprocess.run(clusterqa("index", "--seeds", str(seeds), "--index", str(index)), env=env, check=True)
    return seeds, index


def generate_large_index(work: Path, passages: int) -> tuple[Path, Path]:
    """An index of `passages` generated passages in 1,000 files, with random unit vectors.

    The text, the files, the catalog and the manifest are real (so the staleness check and
    every lookup run as usual); only the vectors are random instead of embedded.
    """
    import numpy as np

    from clusterqa.config import resolve_settings
    from clusterqa.index.catalog import write_catalog
    from clusterqa.index.dense import write_dense
    from clusterqa.index.store import FORMAT, FORMAT_VERSION, MANIFEST, Store, model_key, write_json
    from clusterqa.models import Chunk, DocumentInfo
    from clusterqa.reading.chunking import sentence_spans, text_hash

    rng = random.Random(7)
    words = [w.strip(".,") for w in (ROOT / "seeds").joinpath("000_7aa0c03ee5abb184.txt").read_text().split()]
    words += [f"term{i}" for i in range(20000)]
    seeds, index = work / "large-seeds", work / "large-index"
    seeds.mkdir()
    settings = resolve_settings(seeds, index, None)
    key = model_key(settings.model)
    files = 1000
    per_file = passages // files
    entries, manifest_docs, sentence_rows = [], {}, []
    vector_rng = np.random.default_rng(7)
    pid = 0
    for f in range(files):
        paragraphs = []
        for _ in range(per_file):
            sentences = [" ".join(rng.choice(words) for _ in range(rng.randint(10, 22))).capitalize() + "." for _ in range(3)]
            paragraphs.append(" ".join(sentences))
        text = "\n\n".join(paragraphs) + "\n"
        source = f"doc{f:04d}.txt"
        (seeds / source).write_text(text, "utf-8")
        chunks, offset = [], 0
        for n, para in enumerate(paragraphs):
            chunks.append(Chunk(source, n, para, offset, offset + len(para), 2 * n + 1, 2 * n + 1, text_hash(para)))
            offset += len(para) + 2
        info = DocumentInfo(source, paragraphs[0][:60], None, text_hash(text))
        entries.append((info, chunks))
        for c in chunks:
            spans = sentence_spans(c.text)  # every generated sentence is a full one: all are answer candidates
            for k, cand in enumerate(spans):
                vec = vector_rng.standard_normal((2, 384)).astype(np.float32)
                vec /= np.linalg.norm(vec, axis=1, keepdims=True)
                sentence_rows.append(
                    (
                        pid,
                        cand.start,
                        cand.end,
                        spans[k - 1].start if k else cand.start,
                        vec[0].astype(np.float16).tobytes(),
                        vec[1].astype(np.float16).tobytes(),
                    )
                )
            pid += 1
        st = (seeds / source).stat()
        manifest_docs[source] = {
            "sha256": info.sha256,
            "size": st.st_size,
            "mtime_ns": st.st_mtime_ns,
            "title": info.title,
            "date": None,
            "passages": len(chunks),
        }
    store = Store(index)
    target = store.new_generation_dir()
    write_catalog(target / "passages.sqlite", entries, sentence_rows)
    vectors = vector_rng.standard_normal((pid, 384)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    write_dense(target / "dense.faiss", vectors)
    from clusterqa.embedding.encoder_store import encoder_dir

    encoder_info = json.loads((encoder_dir(settings.model) / "encoder.json").read_text())
    write_json(
        target / MANIFEST,
        {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "seeds": str(seeds),
            "model": {"name": settings.model, "key": key, "dim": 384, "max_seq_length": encoder_info["max_seq_length"]},
            "encoder": {"key": key, "id": encoder_info["id"]},
            "metric": "inner_product",
            "chunking": settings.chunking.as_dict(),
            "sentence_vectors": True,
            "passages": pid,
            "documents": manifest_docs,
            "skipped": [],
        },
    )
    store.publish(target)
    return seeds, index


PHASES = r"""
import sys, time, io
t0 = time.perf_counter()
marks = []
def mark(name):
    marks.append((name, time.perf_counter()))
import clusterqa.cli.app
mark("import cli (typer, click)")
from pathlib import Path
from clusterqa.config import resolve_settings
from clusterqa.index.store import Store
from clusterqa.index.indexer import is_stale
settings = resolve_settings(Path(sys.argv[1]), Path(sys.argv[2]), None)
generation = Store(settings.index).current()
stale = is_stale(generation, settings)
mark("read manifest, staleness check")
from clusterqa.index.catalog import Catalog
catalog = Catalog(generation.catalog)
mark("open catalog (sqlite)")
from clusterqa.index.dense import DenseIndex
dense = DenseIndex(generation.dense, generation.manifest["passages"], generation.manifest["model"]["dim"])
mark("import faiss, map index")
from clusterqa.embedding.encoder import OnnxEncoder
from clusterqa.embedding.encoder_store import encoder_for
encoder = OnnxEncoder(encoder_for(generation.manifest))
mark("import onnxruntime, load encoder")
from clusterqa.models import Retrieval
from clusterqa.answering.search import Searcher
s = Searcher(generation, lambda: encoder)  # opens the catalog and maps the index again: both already warm
q = encoder.encode([sys.argv[3]])[0]
mark("embed question")
hits, q = s.retrieve(sys.argv[3], 5, Retrieval())
mark("retrieve (embed again, dense + FTS5, fuse, fetch)")
from clusterqa.answering.answer import answer_model, pick_answer
model = answer_model()
tokens = s.token_vectors(model.rerank_encoder)
pick = pick_answer(sys.argv[3], q, hits, catalog.sentences, catalog.document_frequencies, model, s.scales[0], tokens)
mark("answer sentence (features, first stage, second stage's model call, confidence)")
from clusterqa.cli import render
from clusterqa.models import AskResult
sys.stdout = io.StringIO()
answer = pick.best if pick.confident else None
result = AskResult(sys.argv[3], pick.hits[:3], answer, pick.confident, pick.confidence, s.documents, pick.reason, pick.best)
render.print_result(result)
sys.stdout = sys.__stdout__
mark("render (rich)")
prev = t0
for name, t in marks:
    print(f"{name}\t{(t - prev) * 1000:.1f}")
    prev = t
"""


def phases(seeds: Path, index: Path, env: dict[str, str], runs: int) -> list[tuple[str, float]]:
    table: dict[str, list[float]] = {}
    for i in range(runs + 1):
        out = subprocess.run(
            [sys.executable, "-c", PHASES, str(seeds), str(index), QUESTION], env=env, capture_output=True, text=True, check=True
        ).stdout
        if i:
            for line in out.strip().splitlines():
                name, ms = line.split("\t")
                table.setdefault(name, []).append(float(ms))
    return [(name, statistics.median(v)) for name, v in table.items()]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--passages", type=int, default=100_000)
    parser.add_argument("--skip-large", action="store_true", help="skip the generated large index")
    parser.add_argument("--generate-into", type=Path, help=argparse.SUPPRESS)  # internal: see below
    args = parser.parse_args()
    if args.generate_into:
        generate_large_index(args.generate_into, args.passages)
        return
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    with tempfile.TemporaryDirectory(prefix="clusterqa-bench-") as tmp:
        work = Path(tmp)
        seeds, index = prepare_seed_index(work, env)
        loc = ["--seeds", str(seeds), "--index", str(index)]

        def wipe_index() -> None:
            for part in ("generations", "cache", "CURRENT"):
                path = index / part
                shutil.rmtree(path, ignore_errors=True) if path.is_dir() else path.unlink(missing_ok=True)

        edits = iter(range(1000))
        edited = seeds / "002_741e1901b211ff40.txt"
        original = edited.read_text("utf-8")

        def edit_one_paragraph() -> None:
            # A different sentence each run, so each run has exactly one new paragraph to embed.
            marker = "With continued support and development"
            edited.write_text(original.replace(marker, f"In test round {next(edits)}, with continued support and development"))

        rows = [
            measure("clusterqa --help", clusterqa("--help"), env, args.runs),
            measure("clusterqa ask (seed index)", clusterqa("ask", QUESTION, *loc), env, args.runs),
            measure("clusterqa index, nothing changed", clusterqa("index", *loc), env, args.runs),
            measure("clusterqa index, one paragraph edited", clusterqa("index", *loc), env, args.runs, before=edit_one_paragraph),
            measure("clusterqa index, full (model exported)", clusterqa("index", *loc), env, args.runs, before=wipe_index),
        ]
        edited.write_text(original)
        # Leave a complete index behind for the breakdown.
        subprocess.run(clusterqa("index", *loc), env=env, check=True, capture_output=True)
        breakdown = phases(seeds, index, env, args.runs)
        if not args.skip_large:
            started = time.perf_counter()
            # Generated in a child process: a parent holding the generated data would make each
            # measured child's peak RSS include it (a fork copies the parent's resident pages).
            subprocess.run(
                [sys.executable, __file__, "--generate-into", str(work), "--passages", str(args.passages)], env=env, check=True
            )
            large_seeds, large_index = work / "large-seeds", work / "large-index"
            print(f"generated a {args.passages:,}-passage index in {time.perf_counter() - started:.0f} s", file=sys.stderr)
            rows.append(
                measure(
                    f"clusterqa ask ({args.passages:,} passages)",
                    clusterqa("ask", QUESTION, "--seeds", str(large_seeds), "--index", str(large_index)),
                    env,
                    args.runs,
                )
            )
            large_breakdown = phases(large_seeds, large_index, env, args.runs)
    print(f"\n{'command':45} {'median s':>9} {'min s':>7} {'max s':>7} {'peak RSS MB':>12}")
    for r in rows:
        print(f"{r['label']:45} {r['median_s']:9.3f} {r['min_s']:7.3f} {r['max_s']:7.3f} {r['rss_mb']:12.0f}")
    print(f"\n(median of {args.runs} cold runs after one warm-up; {os.cpu_count()} cores)")
    print("\ncold ask, per phase (ms, median):")
    for name, ms in breakdown:
        print(f"  {name:52} {ms:7.1f}")
    if not args.skip_large:
        print(f"\ncold ask on {args.passages:,} passages, per phase (ms, median):")
        for name, ms in large_breakdown:
            print(f"  {name:52} {ms:7.1f}")


if __name__ == "__main__":
    main()
