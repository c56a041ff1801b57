"""Cold `ask` and `--help` of this code against another checkout's, interleaved in one run.

Each side runs as `python -m clusterqa` with its own src/ on PYTHONPATH (same Python, same
libraries), on its own index of a copy of seeds/ built beforehand; the two alternate run by run
so that a busy machine slows both alike. Prints the medians and their ratio.

    python benchmarks/cold_compare.py --baseline ../baseline/src --pairs 12
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
QUESTION = "How many product models does the Yueqing electrical cluster offer?"


def run(src: Path, args: list[str], env: dict[str, str]) -> float:
    started = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "clusterqa", *args], env={**env, "PYTHONPATH": str(src)}, capture_output=True, text=True
    )
    wall = time.perf_counter() - started
    if proc.returncode not in (0, 3):
        raise SystemExit(f"{src}: clusterqa {' '.join(args)} exited {proc.returncode}:\n{proc.stderr}")
    return wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--baseline", type=Path, required=True, help="src/ folder of the code to compare with")
    parser.add_argument("--pairs", type=int, default=12)
    args = parser.parse_args()
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    sides = {"this": ROOT / "src", "baseline": args.baseline.resolve()}
    with tempfile.TemporaryDirectory(prefix="clusterqa-cold-compare-") as tmp:
        work = Path(tmp)
        commands = {}
        for name, src in sides.items():
            seeds = work / name / "seeds"
            shutil.copytree(ROOT / "seeds", seeds)
            index = work / name / "index"
            # Builds the index (and, for older code, its encoder) before anything is timed.
            run(src, ["index", "--seeds", str(seeds), "--index", str(index)], env)
            commands[name] = {
                "ask": ["ask", QUESTION, "--seeds", str(seeds), "--index", str(index)],
                "--help": ["--help"],
            }
        times: dict[tuple[str, str], list[float]] = {}
        for what in ("ask", "--help"):
            for name, src in sides.items():
                run(src, commands[name][what], env)  # warm the page cache
            for _ in range(args.pairs):
                for name, src in sides.items():
                    times.setdefault((what, name), []).append(run(src, commands[name][what], env))
    print(f"{'command':8} {'this s':>8} {'baseline s':>10} {'ratio':>6}   (median of {args.pairs} interleaved pairs)")
    for what in ("ask", "--help"):
        this, base = statistics.median(times[(what, "this")]), statistics.median(times[(what, "baseline")])
        print(f"{what:8} {this:8.3f} {base:10.3f} {this / base:6.2f}")


if __name__ == "__main__":
    main()
