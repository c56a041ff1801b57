"""`clusterqa mcp` start-up as an MCP client meets it: spawn, initialize, first `ask` answered.

Each run is a new server process on an index built beforehand (median of --runs after one warm-up),
driven by the SDK's own stdio client; also the same question's later calls on the warm server.

    python benchmarks/mcp_start.py --seeds seeds --index /tmp/mcp-bench-index
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import anyio
from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client

QUESTION = "How many product models does the Yueqing electrical cluster offer?"


async def one_run(params: StdioServerParameters, later_calls: int) -> dict[str, float]:
    started = time.perf_counter()
    with open(os.devnull, "w") as quiet:
        async with stdio_client(params, errlog=quiet) as (read, write), ClientSession(read, write) as client:
            await client.initialize()
            initialized = time.perf_counter()
            result = await client.call_tool("ask", {"question": QUESTION})
            answered = time.perf_counter()
            assert not result.is_error, result.content[0].text
            later = []
            for _ in range(later_calls):
                t = time.perf_counter()
                await client.call_tool("ask", {"question": QUESTION})
                later.append(time.perf_counter() - t)
    return {
        "initialize_s": initialized - started,
        "first_answer_s": answered - started,
        "warm_ask_s": statistics.median(later) if later else float("nan"),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=Path, default=Path("seeds"))
    parser.add_argument("--index", type=Path, required=True)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    built = subprocess.run(
        [sys.executable, "-m", "clusterqa", "index", "--seeds", str(args.seeds), "--index", str(args.index)],
        capture_output=True,
        text=True,
    )
    if built.returncode != 0:
        sys.exit(built.stderr)
    keep = ("XDG_CACHE_HOME", "PYTHONPATH", "CLUSTERQA_CACHE")
    params = StdioServerParameters(
        command=sys.executable,
        args=["-m", "clusterqa", "mcp", "--seeds", str(args.seeds), "--index", str(args.index)],
        env={"HF_HUB_OFFLINE": "1", **{k: os.environ[k] for k in keep if k in os.environ}},
    )
    runs = [anyio.run(one_run, params, 5) for _ in range(args.runs + 1)][1:]
    for key in ("initialize_s", "first_answer_s", "warm_ask_s"):
        values = [r[key] for r in runs]
        print(f"{key:15} median {statistics.median(values):.3f}  min {min(values):.3f}  max {max(values):.3f}")


if __name__ == "__main__":
    main()
