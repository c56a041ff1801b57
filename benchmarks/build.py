"""Full-build throughput of `clusterqa index` against the model's bare forward-pass time (the floor).

Folders built (in a temporary work folder):
  scifact    one .txt per abstract of ../shared/bench/scifact/corpus.jsonl (the first --scifact-docs)
  markdown   about --markdown-mb MB of wrapped Markdown: SciFact abstracts from the end of the corpus,
             grouped ten to a file under YAML front matter and headings, hard-wrapped at 72 columns
  bigfile    (with --big-file-mb N) one N MB plain-text file, wrapped at 72 columns

For each: passages/s, MB of text per minute and peak RSS of a full `clusterqa index` (a fresh
index folder, the encoder already exported in the user cache; median of --runs), and the floor:
the ONNX model's forward passes alone over the same passages (tokenized beforehand, same batch
size and length order, same threads). With --baseline SRC (the src/ folder of another checkout,
e.g. today's main), the same folders are built by that code in the same run.

    python benchmarks/build.py --baseline ../baseline/src
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SCIFACT = ROOT.parent / "shared" / "bench" / "scifact" / "corpus.jsonl"


def abstracts() -> list[dict]:
    return [json.loads(line) for line in SCIFACT.read_text("utf-8").splitlines() if line.strip()]


def write_scifact(folder: Path, docs: list[dict]) -> None:
    folder.mkdir(parents=True)
    for d in docs:
        (folder / f"{d['_id']}.txt").write_text(f"{d['title']}\n\n{d['text']}\n", "utf-8")


def wrap(text: str) -> str:
    return "\n".join(textwrap.wrap(text, 72))


def write_markdown(folder: Path, docs: list[dict], megabytes: float) -> None:
    folder.mkdir(parents=True)
    budget = int(megabytes * 1024 * 1024)
    written = 0
    for n in range(0, len(docs), 10):
        group = docs[n : n + 10]
        parts = [f"---\ntitle: Abstracts {n} to {n + len(group) - 1}\ntags: [bench]\n---\n", f"# Abstracts {n}\n"]
        for d in group:
            parts.append(f"## {d['title']}\n\n{wrap(d['text'])}\n")
        parts.append("```text\nid  words\n" + "\n".join(f"{d['_id']}  {len(d['text'].split())}" for d in group) + "\n```\n")
        parts.append("\n".join(f"- {d['title'][:60]}" for d in group) + "\n")
        text = "\n".join(parts)
        (folder / f"abstracts-{n:05d}.md").write_text(text, "utf-8")
        written += len(text.encode())
        if written >= budget:
            return


def write_big_file(folder: Path, docs: list[dict], megabytes: float) -> None:
    """One file of `megabytes` MB: abstracts, each repeated with a numbered variation, wrapped."""
    folder.mkdir(parents=True)
    budget = int(megabytes * 1024 * 1024)
    written = 0
    with open(folder / "big.txt", "w", encoding="utf-8") as out:
        round_ = 0
        while written < budget:
            for d in docs:
                block = f"{d['title']} (round {round_})\n\n{wrap(d['text'])}\n\n"
                out.write(block)
                written += len(block.encode())
                if written >= budget:
                    break
            round_ += 1


def text_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def run_index(src: Path, seeds: Path, index: Path, env: dict[str, str], encoders: Path | None = None) -> tuple[float, float]:
    """Wall seconds and peak RSS (MB) of one full `clusterqa index` with the code in `src`.

    `encoders`: an index/encoders folder to put in place first (older code exports per index folder).
    """
    shutil.rmtree(index, ignore_errors=True)
    if encoders is not None:
        shutil.copytree(encoders, index / "encoders")
    cmd = [sys.executable, "-m", "clusterqa", "index", "--seeds", str(seeds), "--index", str(index)]
    started = time.perf_counter()
    proc = subprocess.Popen(cmd, env={**env, "PYTHONPATH": str(src)}, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    assert proc.stderr is not None
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - started
    err = proc.stderr.read().decode(errors="replace")
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"clusterqa index failed ({src}):\n{err}")
    return wall, usage.ru_maxrss / 1024


FLOOR = r"""
import json, sqlite3, sys, time
from pathlib import Path
sys.path.insert(0, sys.argv[1])
from clusterqa.config import DEFAULT_MODEL
from clusterqa.embedding.encoder import EMBEDDING_OUTPUT, OnnxEncoder
from clusterqa.embedding.encoder_store import encoder_dir
from clusterqa.index.vectors import BATCH
index = Path(sys.argv[2])
name = (index / "CURRENT").read_text().strip()
db = sqlite3.connect(index / "generations" / name / "passages.sqlite")
texts = [t for (t,) in db.execute("SELECT text FROM passages ORDER BY id")]
encoder = OnnxEncoder(encoder_dir(DEFAULT_MODEL))
encodings = encoder.tokenizer.encode_batch(texts)
batches = list(encoder._batches(encodings, BATCH))
started = time.perf_counter()
for _, feeds in batches:
    encoder.session.run([EMBEDDING_OUTPUT], feeds)
print(json.dumps({"seconds": time.perf_counter() - started, "passages": len(texts),
                  "tokens": sum(len(e.ids) for e in encodings)}))
"""


def floor(index: Path, env: dict[str, str]) -> dict:
    out = subprocess.run(
        [sys.executable, "-c", FLOOR, str(ROOT / "src"), str(index)], env=env, check=True, capture_output=True, text=True
    )
    return json.loads(out.stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--scifact-docs", type=int, default=1000)
    parser.add_argument("--markdown-mb", type=float, default=1.0)
    parser.add_argument("--big-file-mb", type=float, default=0.0, help="also build one file of this many MB")
    parser.add_argument("--baseline", type=Path, help="src/ folder of the code to compare with (e.g. today's main)")
    parser.add_argument("--baseline-runs", type=int, default=1)
    parser.add_argument("--only", choices=["scifact", "markdown", "bigfile"], action="append")
    args = parser.parse_args()
    docs = abstracts()
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "CLUSTERQA_MAX_FILE_MB": str(max(10, args.big_file_mb + 5))}
    with tempfile.TemporaryDirectory(prefix="clusterqa-build-bench-") as tmp:
        work = Path(tmp)
        folders = {
            "scifact": lambda f: write_scifact(f, docs[: args.scifact_docs]),
            "markdown": lambda f: write_markdown(f, docs[::-1], args.markdown_mb),
        }
        if args.big_file_mb:
            folders["bigfile"] = lambda f: write_big_file(f, docs, args.big_file_mb)
        # Export the encoder before timing anything (a no-op when the user cache has it).
        probe = work / "probe"
        probe.mkdir()
        (probe / "a.txt").write_text("warm-up\n", "utf-8")
        run_index(ROOT / "src", probe, work / "probe-index", env)
        old_encoders = None
        if args.baseline:
            run_index(args.baseline, probe, work / "probe-baseline", env)
            old_encoders = work / "probe-baseline" / "encoders"
            old_encoders = old_encoders if old_encoders.exists() else None
        rows = []
        for name, make in folders.items():
            if args.only and name not in args.only:
                continue
            seeds = work / name
            make(seeds)
            size = text_bytes(seeds)
            for label, src, runs in (("this", ROOT / "src", args.runs), ("baseline", args.baseline, args.baseline_runs)):
                if src is None or runs < 1:
                    continue
                encoders = old_encoders if label == "baseline" else None
                samples = [run_index(src, seeds, work / f"{name}-{label}-index", env, encoders) for _ in range(runs)]
                wall = statistics.median(s[0] for s in samples)
                rss = max(s[1] for s in samples)
                manifest_passages = _passages(work / f"{name}-{label}-index")
                row = {"folder": name, "code": label, "MB": size / 1048576, "passages": manifest_passages, "seconds": wall}
                row.update({"passages/s": manifest_passages / wall, "MB/min": size / 1048576 / wall * 60, "peak RSS MB": rss})
                if label == "this":
                    f = floor(work / f"{name}-{label}-index", env)
                    row.update({"floor s": f["seconds"], "x floor": wall / f["seconds"], "tokens": f["tokens"]})
                rows.append(row)
                print(json.dumps(row), file=sys.stderr)
    heads = ("MB", "passages", "s", "pass/s", "MB/min", "RSS MB", "floor s", "x floor")
    widths = (5, 8, 7, 7, 7, 7, 8, 8)
    print(f"\n{'folder':9} {'code':9} " + " ".join(f"{h:>{w}}" for h, w in zip(heads, widths, strict=True)))
    for r in rows:
        fl = f"{r['floor s']:8.1f} {r['x floor']:8.2f}" if "floor s" in r else f"{'':8} {'':8}"
        print(
            f"{r['folder']:9} {r['code']:9} {r['MB']:5.2f} {r['passages']:8d} {r['seconds']:7.1f} {r['passages/s']:7.1f} "
            f"{r['MB/min']:7.2f} {r['peak RSS MB']:7.0f} {fl}"
        )
    print(f"\n(median of {args.runs} full builds, baseline {args.baseline_runs}; {os.cpu_count()} cores)")


def _passages(index: Path) -> int:
    name = (index / "CURRENT").read_text().strip()
    return json.loads((index / "generations" / name / "manifest.json").read_text())["passages"]


if __name__ == "__main__":
    main()
