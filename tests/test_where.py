"""Issue 10 item 1: where the documents and the index live, from any folder."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from conftest import clone_workspace, marker, run_cli, seed_index_folder, synthetic_text

QUESTION = "How many product models does the Yueqing electrical cluster offer?"


def cli_in(cwd: Path, *args: str, env: dict[str, str] | None = None, **kwargs) -> subprocess.CompletedProcess:
    """The real CLI run from `cwd`, with no CLUSTERQA_SEEDS / CLUSTERQA_INDEX from the caller's environment."""
    full = {k: v for k, v in os.environ.items() if k not in ("CLUSTERQA_SEEDS", "CLUSTERQA_INDEX", "CLUSTERQA_CACHE")}
    full.update({"HF_HUB_OFFLINE": "1", "COLUMNS": "200", **(env or {})})
    return subprocess.run(
        [sys.executable, "-m", "clusterqa", *args], cwd=cwd, capture_output=True, text=True, env=full, timeout=300, **kwargs
    )


def default_index(seeds: Path, cache: Path) -> Path:
    """The per-folder index the CLI picks, computed with the same XDG_CACHE_HOME the subprocess gets."""
    from clusterqa.config import default_index_for

    saved = os.environ.get("XDG_CACHE_HOME")
    os.environ["XDG_CACHE_HOME"] = str(cache)
    try:
        return default_index_for(seeds)
    finally:
        os.environ["XDG_CACHE_HOME"] = saved or ""


def write_folder(folder: Path, number: int) -> None:
    folder.mkdir(parents=True)
    (folder / "report.txt").write_text(synthetic_text(number), "utf-8")


def test_no_seeds_folder_here_names_the_three_ways_to_give_one(tmp_path: Path) -> None:
    result = cli_in(tmp_path, "ask", "Which clusters won?")
    assert result.returncode == 1
    (line,) = result.stderr.strip().splitlines()
    for way in ("--seeds DIR", "CLUSTERQA_SEEDS", "seeds/ folder", str(tmp_path)):
        assert way in line, line
    assert list(tmp_path.iterdir()) == []  # no index folder was made


def test_two_folders_each_get_their_own_index_in_the_user_cache(tmp_path: Path, encoder_dir: Path) -> None:
    """From a folder without seeds/, `--seeds A` and `--seeds B` build two indexes side by side, each answering
    from its own documents; nothing is written to the current folder."""
    cache, here = tmp_path / "cache", tmp_path / "here"
    here.mkdir()
    folders = {name: tmp_path / "docs" / name for name in ("notes", "other")}
    for number, folder in enumerate(folders.values()):
        write_folder(folder, number)
        seed_index_folder(default_index(folder, cache), encoder_dir)  # the exported model, so no torch here
    env = {"XDG_CACHE_HOME": str(cache)}
    for number, (name, folder) in enumerate(folders.items()):
        result = cli_in(here, "ask", f"Report {marker(number, 0)} counted", "--json", "--seeds", str(folder), env=env)
        assert result.returncode == 0, result.stderr
        assert "no index" in result.stderr and name in result.stderr  # built on first use, in the cache
        assert json.loads(result.stdout)["passages"][0]["source"] == "report.txt"
        assert marker(number, 0) in json.loads(result.stdout)["passages"][0]["text"]
    indexes = sorted(p.name for p in (cache / "clusterqa" / "indexes").iterdir())
    assert [i.rsplit("-", 1)[0] for i in indexes] == ["notes", "other"]
    for folder in folders.values():
        index = default_index(folder, cache)
        manifest = json.loads((index / "generations" / (index / "CURRENT").read_text().strip() / "manifest.json").read_text())
        assert manifest["seeds"] == str(folder)
    assert list(here.iterdir()) == []
    # The same folder by another spelling (a relative path from its parent) is the same index.
    again = cli_in(tmp_path / "docs", "ask", f"Report {marker(0, 0)} counted", "--seeds", "notes", env=env)
    assert again.returncode == 0 and "no index" not in again.stderr, again.stderr


def test_the_folders_seeds_and_index_are_the_defaults_where_seeds_exists(tmp_path: Path, encoder_dir: Path) -> None:
    write_folder(tmp_path / "seeds", 3)
    seed_index_folder(tmp_path / "index", encoder_dir)
    result = cli_in(tmp_path, "ask", f"Report {marker(3, 0)} counted", "--json")
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "index" / "CURRENT").exists()
    assert json.loads(result.stdout)["passages"][0]["source"] == "report.txt"


def test_environment_variables_name_the_folders(tmp_path: Path, built_seeds_index: dict[str, Path]) -> None:
    env = {"CLUSTERQA_SEEDS": str(built_seeds_index["seeds"]), "CLUSTERQA_INDEX": str(built_seeds_index["index"])}
    result = cli_in(tmp_path, "ask", QUESTION, "--json", env=env)
    assert result.returncode == 0, result.stderr
    assert "25,000 models" in json.loads(result.stdout)["answer"]["text"]


def test_an_index_is_refused_for_another_folder_and_nothing_is_lost(built_seeds_index: dict[str, Path], tmp_path: Path) -> None:
    ws = clone_workspace(built_seeds_index, tmp_path / "ws")
    other = tmp_path / "other"
    write_folder(other, 7)
    before = (ws["index"] / "CURRENT").read_text()
    for command in (("ask", QUESTION), ("index",), ("status",)):
        result = run_cli(*command, "--seeds", str(other), "--index", str(ws["index"]))
        assert result.returncode == 1, (command, result.stderr)
        (line,) = result.stderr.strip().splitlines()
        assert str(ws["seeds"]) in line and str(other) in line and "--rebuild" in line, line
    assert (ws["index"] / "CURRENT").read_text() == before
    assert run_cli("ask", QUESTION, "--seeds", str(ws["seeds"]), "--index", str(ws["index"])).returncode == 0
    # The fix the message names: re-point the index at the other folder.
    assert run_cli("index", "--rebuild", "--seeds", str(other), "--index", str(ws["index"])).returncode == 0
    result = run_cli("ask", f"Report {marker(7, 0)} counted", "--json", "--seeds", str(other), "--index", str(ws["index"]))
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["passages"][0]["source"] == "report.txt"
