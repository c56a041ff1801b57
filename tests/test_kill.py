"""SIGKILL `clusterqa index` at seeded random moments: the last good index always survives whole.

One synthetic corpus and one index serve every trial. Each trial rewrites a different random
subset of documents (so the run must embed), starts `python -m clusterqa index`, and kills it
after a random fraction of the fastest uninterrupted run seen so far (every fourth trial:
a random moment within 0.15 s after it starts writing the new generation). After each kill:

* CURRENT names a complete generation whose manifest, catalog and FAISS index agree;
* that generation holds either all or none of the trial's rewritten documents;
* `ask --json --no-refresh` exits 0 or 3 (never 1) and cites only passages of that generation;
* a following `index` exits 0 and leaves a consistent index holding exactly the new texts,
  with no unfinished build left behind.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import (
    catalog_rows,
    index_problems,
    live_generation,
    marker,
    run_cli,
    seed_index_folder,
    synthetic_path,
    synthetic_text,
    write_synthetic_corpus,
)

DOCUMENTS = 40
SENTENCES = 3
TRIALS = 20
SEED = 20240611


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory, encoder_dir: Path) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("kill")
    seeds = root / "seeds"
    write_synthetic_corpus(seeds, DOCUMENTS, version=0, sentences=SENTENCES)
    index = seed_index_folder(root / "index", encoder_dir)
    result = run_cli("index", "--seeds", str(seeds), "--index", str(index))
    assert result.returncode == 0, result.stderr
    return {"seeds": seeds, "index": index, "root": root}


def start_index(ws: dict[str, Path], log: Path) -> subprocess.Popen:
    with open(log, "wb") as handle:
        return subprocess.Popen(
            [sys.executable, "-m", "clusterqa", "index", "--seeds", str(ws["seeds"]), "--index", str(ws["index"])],
            stdout=subprocess.DEVNULL,
            stderr=handle,
            env={**os.environ, "HF_HUB_OFFLINE": "1"},
        )


def rewrite(ws: dict[str, Path], versions: dict[int, int], numbers: list[int], version: int) -> None:
    for number in numbers:
        synthetic_path(ws["seeds"], number).write_text(synthetic_text(number, version, SENTENCES), "utf-8")
        versions[number] = version


def texts_by_source(generation: Path) -> dict[str, str]:
    out: dict[str, str] = {}
    for source, text, _ in catalog_rows(generation):
        out[source] = out.get(source, "") + "\n" + text
    return out


def check_after_kill(
    ws: dict[str, Path], old: dict[int, int], new: dict[int, int], changed: list[int], live: list[str]
) -> list[str]:
    """Problems with the index a killed build left behind (empty when there are none).

    Appends to `live` whether the old or the new texts are live.
    """
    problems = index_problems(ws["index"])
    if problems:
        return problems
    generation = live_generation(ws["index"])
    texts = texts_by_source(generation)
    states = set()
    for number in changed:
        text = texts.get(synthetic_path(ws["seeds"], number).name, "")
        is_new, is_old = marker(number, new[number]) in text, marker(number, old[number]) in text
        states.add(("new" if is_new else "") + ("old" if is_old else ""))
    if len(states) != 1 or states - {"new", "old"}:
        problems.append(f"{generation.name} mixes old and new documents: {sorted(states)}")
    else:
        live.extend(states)

    number = changed[0]
    question = f"How many units did report {marker(number, new[number])} count?"
    result = run_cli("ask", question, "--json", "--no-refresh", "--seeds", str(ws["seeds"]), "--index", str(ws["index"]))
    if result.returncode not in (0, 3) or "Traceback" in result.stderr:
        return [*problems, f"ask exited {result.returncode}: {result.stderr.strip()[-300:]}"]
    rows = {(source, text) for source, text, _ in catalog_rows(generation)}
    passages = json.loads(result.stdout)["passages"]
    if not passages:
        problems.append("ask returned no passages")
    for p in passages:
        if (p["source"], p["text"]) not in rows:
            problems.append(f"ask cited a passage of {p['source']} that is not in {generation.name}")
    return problems


def check_completed(ws: dict[str, Path], versions: dict[int, int]) -> list[str]:
    """Problems with the index after an uninterrupted `index`: it must hold exactly the files on disk."""
    problems = index_problems(ws["index"])
    if problems:
        return problems
    generation = live_generation(ws["index"])
    manifest = json.loads((generation / "manifest.json").read_text("utf-8"))
    texts = texts_by_source(generation)
    for number, version in versions.items():
        path = synthetic_path(ws["seeds"], number)
        entry = manifest["documents"].get(path.name)
        if entry is None or entry["sha256"] != hashlib.sha256(path.read_bytes()).hexdigest():
            problems.append(f"{path.name}: the manifest does not describe the file on disk")
        if marker(number, version) not in texts.get(path.name, ""):
            problems.append(f"{path.name}: version {version} is not in the catalog")
    unfinished = [p.name for p in (ws["index"] / "generations").iterdir() if p.name.startswith(".tmp-")]
    if unfinished:
        problems.append(f"unfinished builds left behind: {unfinished}")
    kept = len(list((ws["index"] / "generations").iterdir()))
    if kept > 3:  # the live one and at most two old ones (store.KEEP_OLD_GENERATIONS)
        problems.append(f"{kept} generations kept")
    return problems


def unfinished_builds(ws: dict[str, Path]) -> set[str]:
    return {name for name in os.listdir(ws["index"] / "generations") if name.startswith(".tmp-")}


def wait_for_new_build(ws: dict[str, Path], process: subprocess.Popen, before: set[str]) -> None:
    """Return once `process` has started writing a generation (a new .tmp- folder), or has exited."""
    while process.poll() is None and not unfinished_builds(ws) - before:
        time.sleep(0.002)


def test_sigkill_during_index_never_leaves_an_inconsistent_index(
    corpus: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    ws = corpus
    rng = random.Random(SEED)
    versions = dict.fromkeys(range(DOCUMENTS), 0)

    # An uninterrupted run of the same size as the trials' tells how long the kill window is.
    rewrite(ws, versions, rng.sample(range(DOCUMENTS), 6), 1)
    started = time.monotonic()
    result = run_cli("index", "--seeds", str(ws["seeds"]), "--index", str(ws["index"]))
    fastest = time.monotonic() - started  # the kill window: the fastest uninterrupted run seen so far
    assert result.returncode == 0, result.stderr
    assert check_completed(ws, versions) == []

    inconsistent: list[str] = []
    killed = 0
    live: list[str] = []  # after each trial: were the old or the new texts live?
    trials_started = time.monotonic()
    for trial in range(TRIALS):
        old = dict(versions)
        changed = rng.sample(range(DOCUMENTS), rng.randint(3, 8))
        rewrite(ws, versions, changed, trial + 2)
        targeted = trial % 4 == 3  # every fourth trial aims at writing and publishing the generation
        delay = rng.uniform(0.0, 0.15) if targeted else rng.uniform(0.05, 1.0) * fastest
        builds_before = unfinished_builds(ws)
        started = time.monotonic()
        process = start_index(ws, ws["root"] / f"trial{trial}.log")
        if targeted:
            wait_for_new_build(ws, process, builds_before)
        try:
            process.wait(timeout=delay)
            if not targeted:
                fastest = min(fastest, time.monotonic() - started)
        except subprocess.TimeoutExpired:
            process.send_signal(signal.SIGKILL)
            process.wait()
            killed += 1
        else:
            log = (ws["root"] / f"trial{trial}.log").read_text("utf-8", "replace")
            if process.returncode != 0:
                inconsistent.append(f"trial {trial}: uninterrupted index exited {process.returncode}: {log[-300:]}")
                continue

        problems = check_after_kill(ws, old, versions, changed, live)
        result = run_cli("index", "--seeds", str(ws["seeds"]), "--index", str(ws["index"]))
        if result.returncode != 0 or "Traceback" in result.stderr:
            problems.append(f"the following index exited {result.returncode}: {result.stderr.strip()[-300:]}")
        else:
            problems += check_completed(ws, versions)
        if problems:
            inconsistent.append(f"trial {trial} (killed after {delay:.2f} s): " + "; ".join(problems))

    summary = (
        f"{TRIALS} trials ({killed} killed mid-run; old index live after {live.count('old')}, new after "
        f"{live.count('new')}), {len(inconsistent)} inconsistent "
        f"(the fastest uninterrupted run took {fastest:.1f} s, the trials {time.monotonic() - trials_started:.0f} s)"
    )
    with capsys.disabled():
        print(f"\nkill test: {summary}")
    assert killed >= TRIALS // 4, f"the trials should mostly kill a running build: {summary}"
    assert inconsistent == [], summary + "\n" + "\n".join(inconsistent)
