"""Issue 10 item 6: the messages a new user met, each corrected: what they see, the exit code, and
that nothing indexed is lost."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import clone_workspace, run_cli, seed_index_folder

QUESTION = "How many product models does the Yueqing electrical cluster offer?"


@pytest.fixture
def ws(built_seeds_index: dict[str, Path], tmp_path: Path) -> dict[str, Path]:
    return clone_workspace(built_seeds_index, tmp_path / "ws")


def loc(ws: dict[str, Path]) -> list[str]:
    return ["--seeds", str(ws["seeds"]), "--index", str(ws["index"])]


def live(ws: dict[str, Path]) -> str:
    return (ws["index"] / "CURRENT").read_text("utf-8")


def one_line(result, code: int) -> str:  # noqa: ANN001
    assert result.returncode == code, (result.returncode, result.stderr)
    assert "Traceback" not in result.stderr
    (line,) = result.stderr.strip().splitlines()
    return line


def still_answers(ws: dict[str, Path]) -> None:
    result = run_cli("ask", QUESTION, "--json", *loc(ws))
    assert result.returncode == 0, result.stderr
    assert "25,000 models" in json.loads(result.stdout)["answer"]["text"]


def test_status_without_documents_or_index_does_not_say_up_to_date(tmp_path: Path, encoder_dir: Path) -> None:
    seeds, index = tmp_path / "seeds", seed_index_folder(tmp_path / "index", encoder_dir)
    seeds.mkdir()
    result = run_cli("status", "--seeds", str(seeds), "--index", str(index))
    assert result.returncode == 0, result.stderr
    assert "up to date" not in result.stdout
    assert result.stdout.splitlines()[-1] == (
        f"no documents (.txt, .md, .pdf, .html, .docx, ...) in {seeds} to index; add documents or pass --seeds DIR"
    )
    (seeds / "a.txt").write_text("The Vexil Cluster makes 12 kites.\n", "utf-8")
    result = run_cli("status", "--seeds", str(seeds), "--index", str(index))
    assert "up to date" not in result.stdout
    assert result.stdout.splitlines()[-1] == f"no index in {index} yet; `clusterqa index` (or the first `ask`) builds it"
    assert "0 unchanged, 1 added" in result.stdout


def test_an_index_path_that_is_a_file_is_named_and_left_alone(ws: dict[str, Path], tmp_path: Path) -> None:
    file = tmp_path / "index.txt"
    file.write_text("my notes", "utf-8")
    for command in (("ask", QUESTION), ("index", "--rebuild"), ("status",)):
        line = one_line(run_cli(*command, "--seeds", str(ws["seeds"]), "--index", str(file)), 2)
        assert f"the index path {file} is a file, not a folder" in line, line
        assert "File exists" not in line
    assert file.read_text("utf-8") == "my notes"


def test_a_model_that_cannot_be_loaded_is_named_in_full(ws: dict[str, Path]) -> None:
    before = live(ws)
    result = run_cli("index", "--model", "no-such-org/no-such-model", *loc(ws))
    assert result.returncode == 1 and "Traceback" not in result.stderr
    *_, notice, line = result.stderr.strip().splitlines()
    assert "exporting model 'no-such-org/no-such-model' to ONNX, once per machine" in notice
    assert "cannot load model 'no-such-org/no-such-model' offline" in line
    assert line.endswith("with --model")
    assert "https://)" not in line and line.count("'") % 2 == 0, line  # no message cut off inside a quoted URL
    assert live(ws) == before
    still_answers(ws)


def test_lexical_scores_are_between_0_and_1(built_seeds_index: dict[str, Path]) -> None:
    result = run_cli("ask", QUESTION, "--json", "--mode", "lexical", "-k", "10", *loc(built_seeds_index))
    scores = [p["score"] for p in json.loads(result.stdout)["passages"]]
    assert scores[0] == 1.0
    assert all(0.0 <= s <= 1.0 for s in scores), scores
    assert scores == sorted(scores, reverse=True)


def test_rebuild_does_not_report_unchanged_files_as_added(ws: dict[str, Path]) -> None:
    result = run_cli("index", "--rebuild", *loc(ws))
    assert result.returncode == 0, result.stderr
    assert "added" not in result.stderr
    assert result.stderr.startswith("rebuilt the index: 5 documents, ")
    assert "0 embedded, the rest from the cache" in result.stderr
    still_answers(ws)


@pytest.mark.parametrize("options", [("--dry-run", "--rebuild"), ("--watch", "--dry-run")])
def test_dry_run_with_rebuild_or_watch_is_refused(ws: dict[str, Path], options: tuple[str, str]) -> None:
    before = live(ws)
    line = one_line(run_cli("index", *options, *loc(ws)), 2)
    other = "--rebuild" if "--rebuild" in options else "--watch"
    assert f"cannot be combined with {other}" in line
    assert live(ws) == before


@pytest.mark.parametrize("question", ["?", "?!...", " — ", "¿¡"])
def test_a_question_of_punctuation_only_is_not_searched(built_seeds_index: dict[str, Path], question: str) -> None:
    line = one_line(run_cli("ask", question, *loc(built_seeds_index)), 2)
    assert "has no words to search for" in line
