"""Incremental indexing with the real CLI: only what changed is embedded, and nothing stale survives.

Each test works on a private copy of the session's seeds index (`clone_workspace`), changes the
seeds the way a user would (edit, delete, rename, touch), and checks the `clusterqa index`
summary, `status`, the live generation's catalog (passages and FTS5) and what `ask` cites.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import ask_json, catalog_rows, clone_workspace, fts_sources, index_problems, live_generation, run_cli

OLD_PHRASE = "Yueqing Electrical Industrial Cluster accounts for 65 percent"
NEW_PARAGRAPH = (
    "The Lishui Quartzite Umbrella Cluster accounts for 71 percent of the national umbrella market; it has over "
    "4,200 types of umbrellas and over 19,000 designs. Lishui, a mountain city in southwestern Zhejiang, is often "
    "referred to as the capital of folding umbrellas."
)
NEW_QUESTION = "Which cluster accounts for 71 percent of the national umbrella market?"
SUMMARY = re.compile(r"^indexed (\d+) documents, (\d+) passages \((\d+) embedded(?:, ([^)]*))?\)", re.MULTILINE)


@pytest.fixture
def ws(built_seeds_index: dict[str, Path], tmp_path: Path) -> dict[str, Path]:
    return clone_workspace(built_seeds_index, tmp_path / "ws")


def cli(ws: dict[str, Path], *args: str) -> subprocess.CompletedProcess:
    return run_cli(*args, "--seeds", str(ws["seeds"]), "--index", str(ws["index"]))


def index(ws: dict[str, Path]) -> tuple[int, int, int, str]:
    """Run `clusterqa index`; (documents, passages, embedded, changes) from its one-line summary."""
    result = cli(ws, "index")
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    found = SUMMARY.search(result.stderr)
    assert found, result.stderr
    return int(found[1]), int(found[2]), int(found[3]), found[4] or ""


def source_with(seeds: Path, phrase: str) -> Path:
    matches = [p for p in sorted(seeds.rglob("*.txt")) if phrase in p.read_text("utf-8")]
    assert len(matches) == 1, f"{phrase!r} should occur in exactly one seed, found {matches}"
    return matches[0]


def chunk_hashes(ws: dict[str, Path], path: Path) -> list[str]:
    """The passage hashes of one file as the indexer would cut them (same settings, same tokenizer)."""
    from clusterqa.config import resolve_settings
    from clusterqa.embedding.encoder import TokenCounter
    from clusterqa.reading.chunking import chunk
    from clusterqa.reading.documents import parse_document

    settings = resolve_settings(ws["seeds"], ws["index"])
    from clusterqa.config import DEFAULT_MODEL
    from clusterqa.embedding.encoder_store import encoder_dir

    encoder = encoder_dir(DEFAULT_MODEL)
    document = parse_document(path.relative_to(ws["seeds"]).as_posix(), path.read_bytes())
    return [c.text_hash for c in chunk(document, TokenCounter(encoder / "tokenizer.json"), settings.chunking)]


def edit_paragraph(path: Path, phrase: str, replacement: str) -> None:
    text = path.read_text("utf-8")
    paragraphs = text.split("\n\n")
    hits = [i for i, p in enumerate(paragraphs) if phrase in p]
    assert len(hits) == 1
    paragraphs[hits[0]] = replacement
    path.write_text("\n\n".join(paragraphs), "utf-8")


def test_editing_one_paragraph_embeds_exactly_the_changed_passages(ws: dict[str, Path]) -> None:
    old_gen = live_generation(ws["index"])
    old_rows = catalog_rows(old_gen)
    path = source_with(ws["seeds"], OLD_PHRASE)
    source = path.name
    edit_paragraph(path, OLD_PHRASE, NEW_PARAGRAPH)
    new_hashes = chunk_hashes(ws, path)
    expected = set(new_hashes) - {h for _, _, h in old_rows}
    assert 1 <= len(expected) < len(new_hashes), "the edit should change some, not all, of the document's passages"

    status = cli(ws, "status")
    assert status.returncode == 0, status.stderr
    assert re.search(rf"^\s*changed\s+{re.escape(source)}$", status.stdout, re.MULTILINE), status.stdout
    assert f"passages to embed: {len(expected)}" in status.stdout
    assert live_generation(ws["index"]) == old_gen, "status must not change the index"

    documents, passages, embedded, changes = index(ws)
    assert embedded == len(expected)
    assert changes == "1 changed"
    new_gen = live_generation(ws["index"])
    assert new_gen != old_gen
    new_rows = catalog_rows(new_gen)
    assert passages == len(new_rows) == len(old_rows) - len([r for r in old_rows if r[0] == source]) + len(new_hashes)
    assert documents == len({r[0] for r in new_rows})
    # Exactly the new passages are new; every other document's passages are carried over as they were.
    assert {h for _, _, h in new_rows} - {h for _, _, h in old_rows} == expected
    assert [r for r in new_rows if r[0] != source] == [r for r in old_rows if r[0] != source]
    assert [h for s, _, h in new_rows if s == source] == new_hashes
    assert index_problems(ws["index"]) == []

    # The old text is gone from the catalog and its full-text index; the new text is there.
    assert not [r for r in new_rows if OLD_PHRASE in r[1]]
    assert fts_sources(new_gen, '"Yueqing Electrical Industrial Cluster accounts"') == []
    assert fts_sources(new_gen, '"Lishui Quartzite Umbrella Cluster"') == [source]

    code, data, stderr = ask_json(ws, NEW_QUESTION)
    assert code == 0, stderr
    assert "updating it first" not in stderr
    assert "Lishui Quartzite Umbrella Cluster" in data["passages"][0]["text"]
    assert data["passages"][0]["source"] == source
    code, data, stderr = ask_json(ws, "How many models does the Yueqing electrical industrial cluster offer?", "-k", "10")
    assert code in (0, 3), stderr
    assert not [p for p in data["passages"] if OLD_PHRASE in p["text"] or "25,000 models" in p["text"]]


def test_ask_refreshes_a_stale_index_and_no_refresh_answers_from_the_old_one(ws: dict[str, Path]) -> None:
    path = source_with(ws["seeds"], OLD_PHRASE)
    edit_paragraph(path, OLD_PHRASE, NEW_PARAGRAPH)
    old_gen = live_generation(ws["index"])

    code, data, stderr = ask_json(ws, "How many models does the Yueqing electrical industrial cluster offer?", "--no-refresh")
    assert code == 0, stderr
    assert "updating it first" not in stderr
    assert OLD_PHRASE in data["passages"][0]["text"]
    assert live_generation(ws["index"]) == old_gen

    code, data, stderr = ask_json(ws, NEW_QUESTION)
    assert code == 0, stderr
    refresh_lines = [line for line in stderr.splitlines() if "updating it first" in line]
    assert len(refresh_lines) == 1, stderr
    assert "Traceback" not in stderr
    assert "Lishui Quartzite Umbrella Cluster" in data["passages"][0]["text"]
    assert live_generation(ws["index"]) != old_gen
    assert index_problems(ws["index"]) == []
    # The refresh left nothing for `index` to do.
    result = cli(ws, "index")
    assert result.returncode == 0 and "index is up to date" in result.stderr, result.stderr


def test_deleting_a_document_removes_all_its_passages(ws: dict[str, Path]) -> None:
    path = source_with(ws["seeds"], "Jinhua will cultivate more than two nation-leading")
    source = path.name
    old_gen = live_generation(ws["index"])
    old_rows = catalog_rows(old_gen)
    manifest = json.loads((old_gen / "manifest.json").read_text("utf-8"))
    own = manifest["documents"][source]["passages"]
    assert own == len([r for r in old_rows if r[0] == source]) > 0
    sentence = "Jinhua will cultivate more than two nation-leading and 10 province-leading intelligent manufacturing"
    path.unlink()

    status = cli(ws, "status")
    assert re.search(rf"^\s*deleted\s+{re.escape(source)}$", status.stdout, re.MULTILINE), status.stdout
    assert "passages to embed: 0" in status.stdout

    documents, passages, embedded, changes = index(ws)
    assert (passages, embedded, changes) == (len(old_rows) - own, 0, "1 deleted")
    assert documents == len(manifest["documents"]) - 1
    new_gen = live_generation(ws["index"])
    rows = catalog_rows(new_gen)
    assert len(rows) == len(old_rows) - own
    assert source not in {r[0] for r in rows}
    assert not [r for r in rows if "nation-leading" in r[1] or "key subdivided industries" in r[1]]
    assert fts_sources(new_gen, '"key subdivided industries"') == []
    assert set(fts_sources(old_gen, '"key subdivided industries"')) == {source}
    assert index_problems(ws["index"]) == []

    for mode in ("dense", "lexical", "hybrid"):
        code, data, stderr = ask_json(ws, sentence, "--mode", mode, "-k", "10")
        assert code in (0, 3), stderr
        assert data["passages"], mode
        assert source not in {p["source"] for p in data["passages"]}, mode
        assert not [p for p in data["passages"] if "nation-leading" in p["text"]], mode


def test_renaming_a_document_embeds_nothing_and_cites_the_new_name(ws: dict[str, Path]) -> None:
    path = source_with(ws["seeds"], "Jinhua will cultivate more than two nation-leading")
    old_source = path.name
    (ws["seeds"] / "moved").mkdir()
    path.rename(ws["seeds"] / "moved" / "jinhua-plan.txt")
    new_source = "moved/jinhua-plan.txt"
    old_rows = catalog_rows(live_generation(ws["index"]))

    status = cli(ws, "status")
    assert f"renamed  {old_source} -> {new_source}" in status.stdout, status.stdout
    assert "passages to embed: 0" in status.stdout

    documents, passages, embedded, changes = index(ws)
    assert (passages, embedded, changes) == (len(old_rows), 0, "1 renamed")
    rows = catalog_rows(live_generation(ws["index"]))
    assert old_source not in {r[0] for r in rows}
    assert [(t, h) for s, t, h in rows if s == new_source] == [(t, h) for s, t, h in old_rows if s == old_source]

    code, data, stderr = ask_json(ws, "How many intelligent manufacturing clusters will Jinhua cultivate?")
    assert code == 0, stderr
    assert data["passages"][0]["source"] == new_source
    assert old_source not in {p["source"] for p in data["passages"]}


def test_touching_a_file_embeds_nothing(ws: dict[str, Path]) -> None:
    path = sorted(ws["seeds"].glob("*.txt"))[0]
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 5_000_000_000))
    old_rows = catalog_rows(live_generation(ws["index"]))

    status = cli(ws, "status")
    assert "passages to embed: 0" in status.stdout and "index is up to date" in status.stdout, status.stdout

    documents, passages, embedded, changes = index(ws)
    assert (passages, embedded, changes) == (len(old_rows), 0, "")
    assert catalog_rows(live_generation(ws["index"])) == old_rows
    # The new mtime is recorded: nothing is stale any more.
    result = cli(ws, "index")
    assert "index is up to date" in result.stderr, result.stderr
    code, _, stderr = ask_json(ws, NEW_QUESTION)
    assert code in (0, 3) and "updating it first" not in stderr, stderr


def test_noop_index_publishes_nothing_and_loads_no_model_runtime(ws: dict[str, Path]) -> None:
    generations = ws["index"] / "generations"
    before = sorted(p.name for p in generations.iterdir())
    live = live_generation(ws["index"])
    stamps = {p.name: p.stat().st_mtime_ns for p in live.iterdir()}
    pointer = (ws["index"] / "CURRENT").stat().st_mtime_ns

    result = subprocess.run(
        [
            sys.executable,
            "-X",
            "importtime",
            "-m",
            "clusterqa",
            "index",
            "--seeds",
            str(ws["seeds"]),
            "--index",
            str(ws["index"]),
        ],
        capture_output=True,
        text=True,
        env={**os.environ, "HF_HUB_OFFLINE": "1"},
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "index is up to date" in result.stderr
    imported = {line.rsplit("|", 1)[-1].strip() for line in result.stderr.splitlines() if line.startswith("import time:")}
    assert "clusterqa.index.indexer" in imported, "the importtime report is missing"
    heavy = {m for m in imported if m.split(".")[0] in ("torch", "onnxruntime", "sentence_transformers", "transformers")}
    assert heavy == set()

    assert sorted(p.name for p in generations.iterdir()) == before
    assert live_generation(ws["index"]) == live
    assert (ws["index"] / "CURRENT").stat().st_mtime_ns == pointer
    assert {p.name: p.stat().st_mtime_ns for p in live.iterdir()} == stamps


def test_status_lists_every_change_and_index_embeds_what_it_announced(ws: dict[str, Path]) -> None:
    seeds = ws["seeds"]
    old_rows = catalog_rows(live_generation(ws["index"]))
    changed = source_with(seeds, OLD_PHRASE)
    edit_paragraph(changed, OLD_PHRASE, NEW_PARAGRAPH)
    deleted = source_with(seeds, "Jinhua will cultivate more than two nation-leading")
    deleted.unlink()
    added = seeds / "notes" / "added.md"
    added.parent.mkdir()
    added.write_text(
        "# Quarterly note\n\nThe Tiantai Harbour Rope Cluster exported 8,800 tonnes of mooring rope in the spring quarter, "
        "mostly to ports along the Yangtze.\n",
        "utf-8",
    )
    expected = (set(chunk_hashes(ws, changed)) | set(chunk_hashes(ws, added))) - {h for _, _, h in old_rows}

    for args in (("status",), ("index", "--dry-run")):
        result = cli(ws, *args)
        assert result.returncode == 0, result.stderr
        out = result.stdout
        assert re.search(r"^\s*added\s+notes/added\.md$", out, re.MULTILINE), out
        assert re.search(rf"^\s*changed\s+{re.escape(changed.name)}$", out, re.MULTILINE), out
        assert re.search(rf"^\s*deleted\s+{re.escape(deleted.name)}$", out, re.MULTILINE), out
        assert f"1 added, 1 changed, 1 deleted, 0 renamed; passages to embed: {len(expected)}" in out, out

    documents, passages, embedded, changes = index(ws)
    assert embedded == len(expected)
    assert changes == "1 added, 1 changed, 1 deleted"
    rows = catalog_rows(live_generation(ws["index"]))
    assert {r[0] for r in rows} == {p.relative_to(seeds).as_posix() for p in seeds.rglob("*") if p.is_file()}
    assert index_problems(ws["index"]) == []


def test_another_model_needs_a_full_rebuild_and_ask_refuses(ws: dict[str, Path]) -> None:
    from clusterqa.embedding.encoder_store import encoders_home

    encoders = sorted(p.name for p in encoders_home().iterdir())
    live = live_generation(ws["index"])

    result = cli(ws, "status", "--model", "other-model")
    assert result.returncode == 0, result.stderr
    assert "full rebuild needed" in result.stdout
    assert "other-model" in result.stdout

    result = cli(ws, "ask", "Which clusters won?", "--model", "other-model")
    assert result.returncode == 1
    assert "other-model" in result.stderr and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr

    # Nothing was exported or rebuilt.
    assert sorted(p.name for p in encoders_home().iterdir()) == encoders
    assert live_generation(ws["index"]) == live
