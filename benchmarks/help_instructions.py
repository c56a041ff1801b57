"""Instructions executed by `clusterqa --help` and `clusterqa ask --help`, this code against another checkout's.

Counted by valgrind's callgrind (`--dump-instr=no`): unlike wall time, the count hardly moves when other
processes share the machine, so a change of 1% shows. Each side runs as `python -m clusterqa` with its own src/
on PYTHONPATH (same Python, same libraries), with compiled bytecode cached as a user's install has it (in a
private folder: nothing is written into either checkout), a fixed hash seed and an 80-column screen.

    python benchmarks/help_instructions.py --baseline ../baseline/src
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
COMMANDS = (["--help"], ["ask", "--help"])


def instructions(src: Path, args: list[str], env: dict[str, str], work: Path) -> int:
    """Instructions of one `python -m clusterqa ARGS` process, from callgrind's totals line."""
    out = work / "callgrind.out"
    proc = subprocess.run(
        [
            "valgrind",
            "--tool=callgrind",
            "--dump-instr=no",
            f"--callgrind-out-file={out}",
            sys.executable,
            "-m",
            "clusterqa",
            *args,
        ],
        env={**env, "PYTHONPATH": str(src)},
        capture_output=True,
        text=True,
    )
    if proc.returncode != 0:
        raise SystemExit(f"{src}: clusterqa {' '.join(args)} exited {proc.returncode}:\n{proc.stderr[-2000:]}")
    totals = re.search(r"^(?:totals|summary): (\d+)", out.read_text(), re.M)
    out.unlink()
    if not totals:
        raise SystemExit(f"no totals line in callgrind's output for {src}")
    return int(totals.group(1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--baseline", type=Path, required=True, help="src/ folder of the code to compare with")
    parser.add_argument("--runs", type=int, default=1, help="runs per command and side (the median is shown)")
    args = parser.parse_args()
    if not shutil.which("valgrind"):
        raise SystemExit("valgrind is not installed: apt-get install valgrind")
    sides = {"this": ROOT / "src", "baseline": args.baseline.resolve()}
    with tempfile.TemporaryDirectory(prefix="clusterqa-help-instructions-") as tmp:
        work = Path(tmp)
        env = {**os.environ, "PYTHONPYCACHEPREFIX": str(work / "pycache"), "PYTHONHASHSEED": "0", "COLUMNS": "80"}
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        counts: dict[tuple[str, str], int] = {}
        for command in COMMANDS:
            what = " ".join(command)
            for name, src in sides.items():
                # The first run compiles and caches the bytecode (of the libraries too); it is not counted.
                subprocess.run(
                    [sys.executable, "-m", "clusterqa", *command], env={**env, "PYTHONPATH": str(src)}, capture_output=True
                )
                runs = [instructions(src, command, env, work) for _ in range(args.runs)]
                counts[(what, name)] = int(statistics.median(runs))
    print(f"{'clusterqa':12} {'this M':>8} {'baseline M':>11} {'ratio':>6}   (instructions, callgrind)")
    for command in COMMANDS:
        what = " ".join(command)
        this, base = counts[(what, "this")], counts[(what, "baseline")]
        print(f"{what:12} {this / 1e6:8.1f} {base / 1e6:11.1f} {this / base:6.3f}")


if __name__ == "__main__":
    main()
