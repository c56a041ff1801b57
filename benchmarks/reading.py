"""Answers from hard-wrapped Markdown against the same text as one-line paragraphs (issue 8, item 6).

Takes the first ARTICLES articles of ../shared/bench/squad2 (one paragraph a file) and writes them twice:
as they are (.txt: title, blank line, the paragraph on one line) and as Markdown the way people write it
(YAML front matter with the title, a `#` heading, the paragraph hard-wrapped at 72 columns). Builds an
index of each with `clusterqa index` and runs `clusterqa eval` on the answerable questions of those
articles; prints hit@1, hit@3 and answer accuracy of both. Run it with PYTHONPATH pointing at another
checkout's src/ to measure that code on the same folders.

    PYTHONPATH=src python benchmarks/reading.py --articles 4 --work /tmp/reading-bench
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "shared" / "bench" / "squad2"


def write_folders(bench: Path, articles: int, work: Path) -> dict[str, Path]:
    docs = sorted((bench / "docs").glob("*.txt"))
    names = sorted({p.name.rsplit("_p", 1)[0] for p in docs})[:articles]
    chosen = [p for p in docs if p.name.rsplit("_p", 1)[0] in names]
    plain, wrapped = work / "plain", work / "wrapped"
    for folder in (plain, wrapped):
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
    for path in chosen:
        text = path.read_text("utf-8")
        title, _, body = text.partition("\n\n")
        shutil.copyfile(path, plain / path.name)
        paragraphs = [textwrap.fill(p, 72, break_on_hyphens=False, break_long_words=False) for p in body.strip().split("\n")]
        front = f"---\ntitle: {json.dumps(title.strip(), ensure_ascii=False)}\n---\n\n# {title.strip()}\n\n"
        (wrapped / f"{path.stem}.md").write_text(front + "\n\n".join(paragraphs) + "\n", "utf-8")
    sources = {p.name for p in chosen}
    questions = []
    for line in (bench / "questions.jsonl").read_text("utf-8").splitlines():
        q = json.loads(line)
        if not q.get("unanswerable") and set(q["sources"]) & sources:
            questions.append(q)
    (work / "plain.jsonl").write_text("".join(json.dumps(q) + "\n" for q in questions), "utf-8")
    renamed = [{**q, "sources": [s.removesuffix(".txt") + ".md" for s in q["sources"]]} for q in questions]
    (work / "wrapped.jsonl").write_text("".join(json.dumps(q) + "\n" for q in renamed), "utf-8")
    return {"plain": plain, "wrapped": wrapped}


def run(*args: str) -> subprocess.CompletedProcess:
    result = subprocess.run([sys.executable, "-m", "clusterqa", *args], capture_output=True, text=True)
    if result.returncode not in (0, 3):
        sys.exit(f"clusterqa {' '.join(args[:1])} failed:\n{result.stderr}")
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--articles", type=int, default=4)
    parser.add_argument("--work", type=Path, default=Path("/tmp/clusterqa-reading-bench"))
    parser.add_argument("--bench", type=Path, default=BENCH)
    parser.add_argument("--encoder", type=Path, help="an exported encoder folder to copy instead of exporting the model")
    args = parser.parse_args()
    folders = write_folders(args.bench, args.articles, args.work)
    print(f"{'folder':<10} {'docs':>5} {'questions':>9} {'hit@1':>6} {'hit@3':>6} {'answer':>7}")
    for name, seeds in folders.items():
        index = args.work / f"index-{name}"
        shutil.rmtree(index, ignore_errors=True)
        if args.encoder:
            from clusterqa.config import DEFAULT_MODEL
            from clusterqa.index.store import model_key

            shutil.copytree(args.encoder, index / "encoders" / model_key(DEFAULT_MODEL))
        run("index", "--seeds", str(seeds), "--index", str(index))
        questions = args.work / f"{name}.jsonl"
        report = json.loads(run("eval", str(questions), "--json", "--seeds", str(seeds), "--index", str(index)).stdout)
        summary = report["summary"]
        count = sum(1 for _ in questions.open())
        docs = sum(1 for _ in seeds.iterdir())
        print(
            f"{name:<10} {docs:>5} {count:>9} {summary['hit@1']:>6.3f} {summary['hit@3']:>6.3f} "
            f"{summary['answer_accuracy']:>7.3f}"
        )


if __name__ == "__main__":
    main()
