"""Issue 10 item 5: `.clusterqaignore` and `.gitignore` (gitignore syntax) decide what is a document;
`--no-ignore` indexes everything."""

from __future__ import annotations

import json
from pathlib import Path

from clusterqa.reading.ignore import IgnoreRules
from conftest import run_cli, seed_index_folder

FILES = [
    "notes.md",
    "draft-plan.md",
    "build/out.md",
    "vendor/lib/readme.txt",
    "sub/keep.txt",
    "sub/tmp/scratch.txt",
    "sub/wanted.log.txt",
]


def make_folder(root: Path) -> Path:
    seeds = root / "docs"
    for number, name in enumerate(FILES):
        path = seeds / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"Document {number} of the ignore test, called {Path(name).stem}.\n", "utf-8")
    (seeds / ".gitignore").write_text("# build outputs\nbuild/\n*.log.txt\n", "utf-8")
    (seeds / ".clusterqaignore").write_text("vendor/\ndraft-*\n!sub/wanted.log.txt\n", "utf-8")
    (seeds / "sub" / ".gitignore").write_text("tmp/\n", "utf-8")
    return seeds


def indexed(seeds: Path, index: Path, *extra: str) -> list[str]:
    result = run_cli("index", "--seeds", str(seeds), "--index", str(index), *extra)
    assert result.returncode == 0, result.stderr
    assert "skipped" not in result.stderr  # an ignored file is not a document, not a skipped one
    listing = run_cli("docs", "--json", "--seeds", str(seeds), "--index", str(index), *extra)
    return [d["source"] for d in json.loads(listing.stdout)["documents"]]


def test_ignore_files_decide_what_is_indexed(tmp_path: Path, encoder_dir: Path) -> None:
    seeds = make_folder(tmp_path)
    index = seed_index_folder(tmp_path / "index", encoder_dir)
    assert indexed(seeds, index) == ["notes.md", "sub/keep.txt", "sub/wanted.log.txt"]
    status = run_cli("status", "--seeds", str(seeds), "--index", str(index))
    assert "index is up to date" in status.stdout and "vendor" not in status.stdout
    # --no-ignore indexes everything; back to the rules, the ignored files leave the index again.
    assert sorted(indexed(seeds, index, "--no-ignore")) == sorted(FILES)
    assert indexed(seeds, index) == ["notes.md", "sub/keep.txt", "sub/wanted.log.txt"]
    # A new rule counts as a change: the next question brings the index up to date first.
    (seeds / ".clusterqaignore").write_text("vendor/\ndraft-*\n!sub/wanted.log.txt\nnotes.md\n", "utf-8")
    result = run_cli("ask", "Document of the ignore test", "--json", "--seeds", str(seeds), "--index", str(index))
    assert result.returncode in (0, 3), result.stderr
    assert "notes.md" not in {p["source"] for p in json.loads(result.stdout)["passages"]}


def test_rules_follow_gitignore_semantics(tmp_path: Path) -> None:
    """Deeper files win, `!` takes a path back, a folder rule (`tmp/`) holds only for folders."""
    seeds = make_folder(tmp_path)
    (seeds / "tmp").write_text("a file named tmp, not a folder", "utf-8")
    rules = IgnoreRules(seeds)
    assert rules("build", True) and rules("vendor", True) and rules("draft-plan.md", False)
    assert rules("sub/tmp", True) and not rules("tmp", False) and not rules("tmp", True)
    assert rules("other.log.txt", False) and not rules("sub/wanted.log.txt", False)
    assert not rules("notes.md", False) and not rules("sub", True)
    assert not IgnoreRules(tmp_path / "nothing-here")("a.md", False)
