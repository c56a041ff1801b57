"""Bad questions, bad files, bad folders and a damaged index: each gets a one-line message and the
documented exit code, never a traceback, and the previous index keeps answering."""

from __future__ import annotations

import json
import os
import re
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import ask_json, catalog_rows, clone_workspace, index_problems, live_generation, run_cli

QUESTION = "How many product models does the Yueqing electrical cluster offer?"
ANSWER = "25,000 models"


@pytest.fixture
def ws(built_seeds_index: dict[str, Path], tmp_path: Path) -> dict[str, Path]:
    return clone_workspace(built_seeds_index, tmp_path / "ws")


def cli(ws: dict[str, Path], *args: str, seeds: Path | None = None, prefix: tuple[str, ...] = ()) -> subprocess.CompletedProcess:
    if prefix:
        command = [*prefix, sys.executable, "-m", "clusterqa", *args]
        return subprocess.run(
            [*command, "--seeds", str(seeds or ws["seeds"]), "--index", str(ws["index"])],
            capture_output=True,
            text=True,
            env={**os.environ, "HF_HUB_OFFLINE": "1", "COLUMNS": "200"},
            timeout=300,
        )
    return run_cli(*args, "--seeds", str(seeds or ws["seeds"]), "--index", str(ws["index"]))


def one_line_error(result: subprocess.CompletedProcess, code: int, *fragments: str) -> str:
    """Assert exit `code` and a single stderr line holding every fragment; return that line."""
    assert result.returncode == code, (result.returncode, result.stderr)
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    return lines[0]


def assert_still_answers(ws: dict[str, Path], *extra: str) -> None:
    code, data, stderr = ask_json(ws, QUESTION, *extra)
    assert code == 0, stderr
    assert "Traceback" not in stderr
    assert ANSWER in data["passages"][0]["text"]


def snapshot(index: Path) -> dict[str, int]:
    """CURRENT and every file of the live generation, by modification time."""
    live = live_generation(index)
    files = {p.name: p.stat().st_mtime_ns for p in live.iterdir()}
    return {"CURRENT:" + live.name: (index / "CURRENT").stat().st_mtime_ns, **files}


@pytest.mark.parametrize("question", ["", "   \t  "], ids=["empty", "whitespace"])
def test_empty_question_is_a_usage_error(ws: dict[str, Path], question: str) -> None:
    one_line_error(cli(ws, "ask", question), 2, "the question is empty")
    assert_still_answers(ws)


def test_a_100000_character_question_is_refused_in_one_line(ws: dict[str, Path]) -> None:
    question = ("cluster " * 12500)[:100_000]
    assert len(question) == 100_000
    line = one_line_error(cli(ws, "ask", question, "--json"), 2, "characters long", "limit")
    assert len(line) < 300, "the message must not repeat the question"
    assert_still_answers(ws)


def test_unreadable_files_are_skipped_each_with_a_warning(ws: dict[str, Path]) -> None:
    seeds = ws["seeds"]
    rows = catalog_rows(live_generation(ws["index"]))
    (seeds / "binary.txt").write_bytes(b"\x7fELF\x02\x01\x01\x00" + bytes(range(256)) * 8)
    (seeds / "latin1.txt").write_bytes("Café crème in Zhèjiāng, coût 5 €\n".encode("latin-1", "replace") * 20)
    (seeds / "empty.md").write_bytes(b"")
    with open(seeds / "huge.txt", "w", encoding="utf-8") as handle:  # 50 MB of real text, over the 10 MB limit
        line = "The cluster exported many valves and pumps to the port that year.\n"
        handle.write(line * (50 * 1024 * 1024 // len(line) + 1))
    assert (seeds / "huge.txt").stat().st_size > 50 * 1024 * 1024

    result = cli(ws, "index")
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    warnings = {line for line in result.stderr.splitlines() if line.startswith("clusterqa: skipped ")}
    reasons = {"binary.txt": "binary", "empty.md": "empty", "huge.txt": "limit"}
    for name, reason in reasons.items():
        mine = [w for w in warnings if w.startswith(f"clusterqa: skipped {name}: ")]
        assert len(mine) == 1, result.stderr
        assert reason in mine[0]
    assert len(warnings) == len(reasons)
    # A Latin-1 file is not skipped any more (issue 8): it is read in the detected encoding, with one warning.
    assert result.stderr.count("clusterqa: read latin1.txt as cp1252") == 1, result.stderr
    assert "indexed 6 documents" in result.stderr
    live = live_generation(ws["index"])
    kept = [row for row in catalog_rows(live) if row[0] != "latin1.txt"]
    assert kept == rows, "the skipped files must not change the passages"
    manifest = json.loads((live / "manifest.json").read_text("utf-8"))
    assert sorted(s["source"] for s in manifest["skipped"]) == sorted(reasons)
    assert index_problems(ws["index"]) == []

    status = cli(ws, "status")
    for name in reasons:
        assert f"skipped  {name}: " in status.stdout, status.stdout
    code, data, stderr = ask_json(ws, QUESTION)
    assert code == 0 and "updating it first" not in stderr, stderr  # skipped files do not make it stale
    assert ANSWER in data["passages"][0]["text"]

    # A skipped file, once fixed, is indexed by the next run; the others are still skipped.
    (seeds / "empty.md").write_text("The Vexillo Kite Cluster flew 5,150 kites in Weifang last summer.\n", "utf-8")
    status = cli(ws, "status")
    assert re.search(r"^\s*added\s+empty\.md$", status.stdout, re.MULTILINE), status.stdout
    result = cli(ws, "index")
    assert result.returncode == 0, result.stderr
    assert "indexed 7 documents" in result.stderr and "(1 embedded, 1 added)" in result.stderr, result.stderr
    assert "skipped empty.md" not in result.stderr
    code, data, stderr = ask_json(ws, "How many kites did the Vexillo Kite Cluster fly?")
    assert code == 0, stderr
    assert data["passages"][0]["source"] == "empty.md"
    (seeds / "huge.txt").unlink()  # pytest keeps the last runs' temporary folders


@pytest.mark.parametrize("kind", ["missing", "empty"])
def test_a_missing_or_empty_seeds_folder_leaves_the_index_untouched(ws: dict[str, Path], kind: str) -> None:
    # The index's own documents folder goes away (or is emptied); another folder would be refused (test_where.py).
    seeds = ws["seeds"]
    stash = ws["root"] / "stash"
    seeds.rename(stash)
    if kind == "empty":
        seeds.mkdir()
    before = snapshot(ws["index"])
    expected = "does not exist" if kind == "missing" else "no readable documents"
    one_line_error(cli(ws, "index"), 1, str(seeds), expected)
    assert snapshot(ws["index"]) == before
    assert index_problems(ws["index"]) == []
    # Asked without its documents, the index still answers (it cannot be refreshed, and says so).
    result = cli(ws, "ask", QUESTION, "--json")
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    assert "could not update the index" in result.stderr
    assert ANSWER in json.loads(result.stdout)["passages"][0]["text"]
    assert snapshot(ws["index"]) == before
    # A folder that does not exist is named as such even for an index of another folder.
    one_line_error(cli(ws, "index", seeds=ws["root"] / "typo"), 1, "does not exist")
    if kind == "empty":
        seeds.rmdir()
    stash.rename(seeds)
    assert_still_answers(ws)


def damage(path: Path, how: str) -> None:
    data = path.read_bytes()
    if how == "truncated":
        path.write_bytes(data[: len(data) // 2])
    else:
        path.write_bytes((b"garbage!" * (len(data) // 8 + 1))[: len(data)])


@pytest.mark.parametrize(
    ("name", "how"),
    [("dense.faiss", "truncated"), ("dense.faiss", "garbage"), ("passages.sqlite", "garbage")],
)
def test_a_damaged_index_file_is_named_and_index_rebuilds_it(ws: dict[str, Path], name: str, how: str) -> None:
    live = live_generation(ws["index"])
    damage(live / name, how)

    one_line_error(cli(ws, "ask", QUESTION), 1, str(live / name), "clusterqa index")
    one_line_error(cli(ws, "ask", QUESTION, "--no-refresh", "--json"), 1, str(live / name))

    result = cli(ws, "index")
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    assert f"{live / name}" in result.stderr and "building a new index from scratch" in result.stderr
    assert "(0 embedded" in result.stderr, "the cache must spare re-embedding the unchanged text"
    assert live_generation(ws["index"]) != live
    assert index_problems(ws["index"]) == []
    assert_still_answers(ws)


@pytest.mark.parametrize("pointer", ["garbage", "missing-generation"])
def test_a_bad_current_pointer_is_named_and_index_rebuilds(ws: dict[str, Path], pointer: str) -> None:
    live = live_generation(ws["index"])
    if pointer == "garbage":
        (ws["index"] / "CURRENT").write_bytes(b"\x00\xffnot a generation\n")
        named = str(ws["index"] / "CURRENT")
    else:
        (ws["index"] / "CURRENT").write_text("g0-0\n", "utf-8")
        named = str(ws["index"] / "generations" / "g0-0")

    one_line_error(cli(ws, "ask", QUESTION, "--no-refresh"), 1, named, "clusterqa index")
    result = cli(ws, "index")
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    assert "building a new index from scratch" in result.stderr
    assert "(0 embedded" in result.stderr
    assert live_generation(ws["index"]) != live
    assert index_problems(ws["index"]) == []
    assert_still_answers(ws)


def test_a_manifest_from_a_newer_version_is_refused_until_rebuild(ws: dict[str, Path]) -> None:
    live = live_generation(ws["index"])
    manifest = json.loads((live / "manifest.json").read_text("utf-8"))
    manifest["format_version"] = 99
    (live / "manifest.json").write_text(json.dumps(manifest), "utf-8")

    one_line_error(cli(ws, "ask", QUESTION), 1, "index format 99 is newer")
    one_line_error(cli(ws, "index"), 1, "newer", "--rebuild")
    assert live_generation(ws["index"]) == live

    result = cli(ws, "index", "--rebuild")
    assert result.returncode == 0, result.stderr
    assert "rebuilt the index: 5 documents" in result.stderr
    assert index_problems(ws["index"]) == []
    assert_still_answers(ws)


def _write_blocked(probe_dir: Path, prefix: tuple[str, ...]) -> bool:
    """True when a process started with `prefix` cannot create a file in `probe_dir`."""
    code = "import sys\ntry:\n    open(sys.argv[1], 'w')\nexcept OSError:\n    sys.exit(7)\n"
    result = subprocess.run([*prefix, sys.executable, "-c", code, str(probe_dir / "probe")], capture_output=True)
    return result.returncode == 7


def test_a_read_only_index_still_answers_and_index_explains(built_seeds_index: dict[str, Path], tmp_path: Path) -> None:
    ws = clone_workspace(built_seeds_index, tmp_path / "ws")
    prefix: tuple[str, ...] = ()
    if os.geteuid() == 0:
        # root ignores permission bits; dropping the capabilities that let it do so restores them.
        setpriv = shutil.which("setpriv")
        if setpriv is None:
            pytest.skip("running as root without setpriv: chmod cannot make the index read-only")
        prefix = (setpriv, "--bounding-set=-dac_override,-dac_read_search,-fowner,-linux_immutable", "--")
    before = snapshot(ws["index"])
    subprocess.run(["chmod", "-R", "a-w", str(ws["index"])], check=True)
    try:
        if not _write_blocked(ws["index"], prefix):
            pytest.skip("this user can write to a chmod a-w folder even with capabilities dropped")

        result = cli(ws, "ask", QUESTION, "--json", prefix=prefix)
        assert result.returncode == 0, result.stderr
        assert ANSWER in json.loads(result.stdout)["passages"][0]["text"]
        assert not [line for line in result.stderr.splitlines() if "error" in line or "could not" in line], result.stderr

        result = cli(ws, "status", prefix=prefix)
        assert result.returncode == 0, result.stderr
        assert "index is up to date" in result.stdout

        one_line_error(cli(ws, "index", prefix=prefix), 1, str(ws["index"]), "permission")

        # With a document changed, ask cannot refresh the index; it says so and answers from it.
        path = sorted(ws["seeds"].glob("*.txt"))[1]
        path.write_text(path.read_text("utf-8") + "\nA new closing line.\n", "utf-8")
        result = cli(ws, "ask", QUESTION, "--json", prefix=prefix)
        assert result.returncode == 0, result.stderr
        assert "Traceback" not in result.stderr
        assert "could not update the index" in result.stderr
        assert ANSWER in json.loads(result.stdout)["passages"][0]["text"]
        assert snapshot(ws["index"]) == before
    finally:
        for directory, _, files in os.walk(ws["index"]):
            os.chmod(directory, os.stat(directory).st_mode | stat.S_IWUSR)
            for name in files:
                path = Path(directory, name)
                path.chmod(path.stat().st_mode | stat.S_IWUSR)
