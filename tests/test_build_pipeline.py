"""The build pipeline with the real model: one forward pass per passage, one exported encoder per
machine shared by every index, skipped files announced once, big updates in the background."""

from __future__ import annotations

import json
import os
import re
import shutil
import statistics
import time
from pathlib import Path

from conftest import SEEDS, clone_workspace, live_generation, run_cli


def cli(ws: dict[str, Path], *args: str, env: dict[str, str] | None = None):  # noqa: ANN201
    return run_cli(*args, "--seeds", str(ws["seeds"]), "--index", str(ws["index"]), env=env)


def test_a_sentence_pooled_from_its_passage_pass_means_what_the_sentence_alone_means(encoder_dir: Path) -> None:
    """Where the sentence is the whole passage, pooling its tokens must reproduce its own embedding."""
    from clusterqa.embedding.encoder import OnnxEncoder
    from clusterqa.reading.chunking import sentence_spans

    encoder = OnnxEncoder(encoder_dir)
    sentences = []
    for path in sorted(SEEDS.glob("*.txt")):
        text = path.read_text("utf-8")
        sentences += [text[s.start : s.end] for s in sentence_spans(text)]
    assert len(sentences) > 100
    _, pooled = encoder.encode_passages(sentences, [[(0, len(s))] for s in sentences])
    alone = encoder.encode(sentences)
    cosines = [float(p[0] @ a) for p, a in zip(pooled, alone, strict=True)]
    print(f"\nsentence = passage: cosine min {min(cosines):.4f} median {statistics.median(cosines):.4f} (n={len(cosines)})")
    assert min(cosines) >= 0.9

    # Inside a passage the tokens have seen their neighbours; the vector still means the sentence.
    text = (SEEDS / "000_7aa0c03ee5abb184.txt").read_text("utf-8")
    spans = [(s.start, s.end) for s in sentence_spans(text)][2:8]
    passage = text[spans[0][0] : spans[-1][1]]
    local = [(a - spans[0][0], b - spans[0][0]) for a, b in spans]
    _, pooled = encoder.encode_passages([passage], [local])
    alone = encoder.encode([passage[a:b] for a, b in local])
    inside = (pooled[0] * alone).sum(axis=1)
    print(f"sentence inside a passage: cosine min {inside.min():.4f} median {statistics.median(inside.tolist()):.4f}")
    assert statistics.median(inside.tolist()) >= 0.7


def test_every_index_shares_the_one_exported_encoder(built_seeds_index: dict[str, Path], tmp_path: Path) -> None:
    from clusterqa.config import DEFAULT_MODEL
    from clusterqa.embedding.encoder_store import encoder_dir

    other = {"seeds": tmp_path / "notes", "index": tmp_path / "notes-index"}
    other["seeds"].mkdir()
    (other["seeds"] / "a.txt").write_text("The lighthouse keeper logged 412 ships in the spring of 1911.\n", "utf-8")
    result = cli(other, "index")
    assert result.returncode == 0, result.stderr
    assert "exporting" not in result.stderr
    assert not (other["index"] / "encoders").exists()
    info = json.loads((encoder_dir(DEFAULT_MODEL) / "encoder.json").read_text("utf-8"))
    for index in (other["index"], built_seeds_index["index"]):
        manifest = json.loads((live_generation(index) / "manifest.json").read_text("utf-8"))
        assert manifest["encoder"]["id"] == info["id"]


def test_an_index_refuses_another_export_of_its_model_and_index_rebuilds(
    built_seeds_index: dict[str, Path], encoder_dir: Path, tmp_path: Path
) -> None:
    # A private encoders folder (hard links of the session's export), so the change stays here.
    home = tmp_path / "encoders"
    shutil.copytree(encoder_dir.parent, home, copy_function=os.link, ignore=shutil.ignore_patterns(".*"))
    env = {"CLUSTERQA_ENCODERS": str(home)}
    ws = clone_workspace(built_seeds_index, tmp_path / "ws")
    assert cli(ws, "ask", "Which clusters won?", "--json", env=env).returncode in (0, 3)

    record = home / encoder_dir.name / "encoder.json"
    info = json.loads(record.read_text("utf-8"))
    record.unlink()  # a hard link: write a new file, not through the link
    record.write_text(json.dumps({**info, "id": "0" * 32}), "utf-8")
    result = cli(ws, "ask", "Which clusters won?", env=env)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert "exported again" in result.stderr and "clusterqa index" in result.stderr, result.stderr

    rebuilt = cli(ws, "index", env=env)
    assert rebuilt.returncode == 0, rebuilt.stderr
    assert "exported again" in rebuilt.stderr  # says why everything is embedded again
    assert cli(ws, "ask", "Which clusters won?", "--json", env=env).returncode in (0, 3)


def test_skipped_files_are_announced_once_then_summarized(built_seeds_index: dict[str, Path], tmp_path: Path) -> None:
    ws = clone_workspace(built_seeds_index, tmp_path / "ws")
    (ws["seeds"] / "broken.txt").write_bytes(b"\x00\x01binary")
    first = cli(ws, "index")
    assert first.returncode == 0, first.stderr
    assert "clusterqa: skipped broken.txt: looks binary (contains NUL bytes)" in first.stderr.splitlines()
    assert "clusterqa: 1 file skipped (clusterqa status lists them)" in first.stderr.splitlines()

    (ws["seeds"] / "extra.txt").write_text("The ferry to Zhoushan leaves at 7:40 every weekday morning.\n", "utf-8")
    second = cli(ws, "index")
    assert second.returncode == 0, second.stderr
    assert "skipped broken.txt" not in second.stderr, second.stderr
    assert second.stderr.count("1 file skipped (clusterqa status lists them)") == 1

    status = cli(ws, "status")
    assert "skipped  broken.txt: looks binary" in status.stdout
    assert "clusterqa: skipped" not in status.stderr


def test_a_big_change_is_indexed_in_the_background_while_ask_answers_at_once(
    built_seeds_index: dict[str, Path], tmp_path: Path
) -> None:
    ws = clone_workspace(built_seeds_index, tmp_path / "ws")
    old = live_generation(ws["index"])
    # About 100 KB of new text: more than a question waits for.
    lines = [
        f"Harbour ledger {i}: the tugboat Qzfalcon{i} towed {i * 7} barges of granite past the breakwater." for i in range(1200)
    ]
    (ws["seeds"] / "ledger.txt").write_text("Harbour ledger\n\n" + "\n\n".join(lines) + "\n", "utf-8")

    result = cli(ws, "ask", "How many barges did the tugboat Qzfalcon17 tow?", "--json")
    assert result.returncode in (0, 3), result.stderr
    assert re.search(r"updating it in the background \(pid \d+", result.stderr), result.stderr
    data = json.loads(result.stdout)
    assert all(p["source"] != "ledger.txt" for p in data["passages"])  # answered from the index as it was

    # The background `clusterqa index` publishes a new generation (bounded wait, not a timing assertion).
    for _ in range(600):
        if live_generation(ws["index"]) != old and not _locked(ws["index"]):
            break
        time.sleep(0.5)
    assert live_generation(ws["index"]) != old, (ws["index"] / "update.log").read_text("utf-8", errors="replace")
    after = cli(ws, "ask", "How many barges did the tugboat Qzfalcon17 tow?", "--json")
    assert "background" not in after.stderr
    assert json.loads(after.stdout)["passages"][0]["source"] == "ledger.txt"


def _locked(index: Path) -> bool:
    from clusterqa.lock import is_locked

    return is_locked(index)


def test_a_small_change_is_indexed_before_answering(built_seeds_index: dict[str, Path], tmp_path: Path) -> None:
    ws = clone_workspace(built_seeds_index, tmp_path / "ws")
    body = " ".join(f"Quay {i} of the Qzheron basin handles {i * 3} containers a day." for i in range(300))  # ~20 KB
    (ws["seeds"] / "quays.txt").write_text("Quays\n\n" + body + "\n", "utf-8")
    result = cli(ws, "ask", "How many containers a day does Quay 5 of the Qzheron basin handle?", "--json")
    assert "updating it first" in result.stderr, result.stderr
    assert json.loads(result.stdout)["passages"][0]["source"] == "quays.txt"


def test_a_build_in_a_terminal_shows_reading_then_embedding_and_a_pipe_gets_no_bar(workspace: dict[str, Path]) -> None:
    """Under a terminal a full build shows one bar while it cuts passages (in MB of text) and one while it
    embeds (in passages); redirected, only the summary line."""
    import pty
    import select
    import sys

    env = {**os.environ, "HF_HUB_OFFLINE": "1", "NO_COLOR": "1", "COLUMNS": "160", "TERM": "xterm"}
    args = [sys.executable, "-m", "clusterqa", "index", "--seeds", str(workspace["seeds"]), "--index", str(workspace["index"])]
    pid, fd = pty.fork()
    if pid == 0:
        os.execve(sys.executable, args, env)
    seen = b""
    while True:
        ready, _, _ = select.select([fd], [], [], 1.0)
        if not ready:
            if os.waitpid(pid, os.WNOHANG)[0]:
                pid = 0
                break
            continue
        try:
            data = os.read(fd, 65536)
        except OSError:  # the child closed the terminal
            data = b""
        if not data:
            break
        seen += data
    code = os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) if pid else 0
    os.close(fd)
    shown = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", seen.decode("utf-8", "replace"))
    assert code == 0, shown
    assert re.search(r"reading .*\d+% [\d.]+/[\d.]+ MB", shown), shown  # the bar is drawn with its first figure
    assert re.search(r"embedding .*\d+% [\d,]+/[\d,]+ passages", shown), shown
    assert "indexed " in shown

    piped = cli({"seeds": workspace["seeds"], "index": workspace["root"] / "piped-index"}, "index")
    assert piped.returncode == 0
    assert "reading" not in piped.stderr and "embedding" not in piped.stderr
    assert "indexed 5 documents" in piped.stdout + piped.stderr
