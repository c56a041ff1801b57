"""Issue 10 items 2 and 3: pipes and scripts (closed pipes, no wrapping, colour, stdin, --file) and
`docs` / `show` with citations that can be pasted."""

from __future__ import annotations

import json
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import run_cli

QUESTION = "How many product models does the Yueqing electrical cluster offer?"
ANSWER_FILE = "000_7aa0c03ee5abb184.txt"
UNANSWERABLE = "What is the capital of France?"


def loc(ws: dict[str, Path]) -> list[str]:
    return ["--seeds", str(ws["seeds"]), "--index", str(ws["index"])]


def ask(ws: dict[str, Path], *args: str, **kwargs) -> subprocess.CompletedProcess:
    return run_cli("ask", *args, *loc(ws), **kwargs)


@pytest.mark.parametrize("reader", ["head -1", "true"])
def test_a_reader_that_leaves_early_is_not_an_error(built_seeds_index: dict[str, Path], reader: str) -> None:
    """`clusterqa ask ... | head -1` through a real shell pipe: exit 0, nothing on stderr."""
    command = " ".join(
        shlex.quote(a) for a in [sys.executable, "-m", "clusterqa", "ask", QUESTION, "-k", "10", *loc(built_seeds_index)]
    )
    result = subprocess.run(
        ["bash", "-c", f'{command} | {reader}; echo "exit=${{PIPESTATUS[0]}}" >&2'],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.stderr.strip().splitlines()[-1] == "exit=0", result.stderr
    assert "Error" not in result.stderr and "Traceback" not in result.stderr
    if reader == "head -1":
        assert result.stdout.startswith("Answer  The Wenzhou Yueqing Electrical Industrial Cluster")


def test_redirected_output_is_not_wrapped_or_padded(built_seeds_index: dict[str, Path]) -> None:
    """Into a file (even with a narrow COLUMNS) each sentence stays on one line, with no trailing spaces."""
    data = json.loads(ask(built_seeds_index, QUESTION, "--json").stdout)
    result = ask(built_seeds_index, QUESTION, env={"COLUMNS": "40"})
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert all(line == line.rstrip() for line in lines), [line for line in lines if line != line.rstrip()]
    answer = " ".join(data["answer"]["text"].split())
    assert lines[0] == f"Answer  {answer}"
    for p in data["passages"]:  # each passage's text, on one line, after a 4-space indent
        assert f"    {' '.join(p['text'].split())}" in lines
    assert "\x1b[" not in result.stdout


@pytest.mark.parametrize(
    ("args", "env", "styled"),
    [
        (["--color", "always"], {}, True),
        (["--color", "never"], {}, False),
        ([], {}, False),  # auto: not a terminal
        (["--color", "always"], {"NO_COLOR": "1"}, True),  # an explicit option beats the environment
    ],
)
def test_color_option(built_seeds_index: dict[str, Path], args: list[str], env: dict[str, str], styled: bool) -> None:
    result = ask(built_seeds_index, QUESTION, *args, env=env)
    assert result.returncode == 0, result.stderr
    assert ("\x1b[" in result.stdout) is styled
    assert all(line == line.rstrip() for line in result.stdout.splitlines())


def test_bad_color_is_a_usage_error(built_seeds_index: dict[str, Path]) -> None:
    result = ask(built_seeds_index, QUESTION, "--color", "sometimes")
    assert result.returncode == 2
    assert "auto, always or never" in result.stderr


def test_version() -> None:
    from clusterqa import __version__

    result = run_cli("--version")
    assert (result.returncode, result.stdout) == (0, f"clusterqa {__version__}\n")


def test_unquoted_words_and_stdin_are_the_same_question(built_seeds_index: dict[str, Path]) -> None:
    quoted = json.loads(ask(built_seeds_index, QUESTION, "--json").stdout)
    words = ask(built_seeds_index, *QUESTION.split(), "--json")
    piped = ask(built_seeds_index, "-", "--json", input=f"  {QUESTION}\n")
    for result in (words, piped):
        assert result.returncode == 0, result.stderr
        data = json.loads(result.stdout)
        assert data["question"] == QUESTION
        assert data["answer"] == quoted["answer"]


def test_a_file_of_questions_gives_one_json_object_a_line(built_seeds_index: dict[str, Path], tmp_path: Path) -> None:
    questions = tmp_path / "questions.txt"
    questions.write_text(f"# dev questions\n{QUESTION}\n\n{UNANSWERABLE}\n", "utf-8")
    result = run_cli("ask", "--file", str(questions), "--json", *loc(built_seeds_index))
    assert result.returncode == 3, result.stderr  # one of them has no confident answer
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r["question"] for r in rows] == [QUESTION, UNANSWERABLE]
    assert [r["confident"] for r in rows] == [True, False]
    assert rows[0]["answer"]["source"] == ANSWER_FILE
    text = run_cli("ask", "-f", str(questions), *loc(built_seeds_index))
    assert text.stdout.startswith(f"? {QUESTION}\nAnswer  ")
    assert f"\n? {UNANSWERABLE}\nNo passage in 5 documents" in text.stdout


def test_a_bad_line_in_the_question_file_is_named_before_anything_loads(
    built_seeds_index: dict[str, Path], tmp_path: Path
) -> None:
    questions = tmp_path / "questions.txt"
    questions.write_text(f"{QUESTION}\n?!?\n", "utf-8")
    result = run_cli("ask", "--file", str(questions), *loc(built_seeds_index))
    assert result.returncode == 2
    assert result.stdout == ""
    assert f"{questions} line 2" in result.stderr and "no words" in result.stderr
    missing = run_cli("ask", "--file", str(tmp_path / "nope.txt"), *loc(built_seeds_index))
    assert missing.returncode == 2 and "cannot read the question file" in missing.stderr


def test_docs_lists_documents_and_skipped_files(built_seeds_index: dict[str, Path]) -> None:
    result = run_cli("docs", "--json", *loc(built_seeds_index))
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    manifest_dir = built_seeds_index["index"] / "generations" / (built_seeds_index["index"] / "CURRENT").read_text().strip()
    manifest = json.loads((manifest_dir / "manifest.json").read_text())
    assert [d["source"] for d in data["documents"]] == sorted(manifest["documents"])
    assert {d["source"]: d["passages"] for d in data["documents"]} == {s: e["passages"] for s, e in manifest["documents"].items()}
    first = data["documents"][0]
    assert (first["title"], first["date"]) == (
        "Zhejiang leads in national contest for advanced manufacturing clusters",
        "2020-07-31",
    )
    assert first["path"] == str(built_seeds_index["seeds"] / ANSWER_FILE)
    assert data["skipped"] == [] and data["up_to_date"] is True
    text = run_cli("docs", *loc(built_seeds_index)).stdout.splitlines()
    assert text[0].startswith(f"{built_seeds_index['seeds'] / ANSWER_FILE}  2020-07-31     3 passages  Zhejiang leads")
    assert text[-1] == f"5 documents, {manifest['passages']} passages"


def test_docs_names_skipped_files_with_the_reason(workspace: dict[str, Path]) -> None:
    (workspace["seeds"] / "empty.md").write_text("", "utf-8")
    assert run_cli("index", *loc(workspace)).returncode == 0
    data = json.loads(run_cli("docs", "--json", *loc(workspace)).stdout)
    assert data["skipped"] == [{"source": "empty.md", "reason": "is empty"}]
    assert "skipped empty.md: is empty" in run_cli("docs", *loc(workspace)).stdout


def test_the_answer_citation_pasted_into_show_prints_that_line(built_seeds_index: dict[str, Path]) -> None:
    out = ask(built_seeds_index, QUESTION).stdout.splitlines()
    citation = out[1].strip()
    assert re.fullmatch(r"\S+:\d+", citation), citation
    shown = run_cli("show", citation, "-C", "1")
    assert shown.returncode == 0, shown.stderr
    original = (built_seeds_index["seeds"] / ANSWER_FILE).read_text("utf-8").split("\n")
    line = int(citation.rsplit(":", 1)[1])
    assert shown.stdout.splitlines() == [
        f"{line - 1}-{original[line - 2]}",
        f"{line}:{original[line - 1]}",
        f"{line + 1}-{original[line]}",
    ]
    assert "25,000 models" in shown.stdout.splitlines()[1]


def test_show_a_range_by_document_name(built_seeds_index: dict[str, Path]) -> None:
    """A passage header's `FILE:START  lines START-END`, or the document name relative to --seeds."""
    shown = run_cli("show", f"{ANSWER_FILE}:11-13", "-C", "0", "--seeds", str(built_seeds_index["seeds"]))
    assert shown.returncode == 0, shown.stderr
    original = (built_seeds_index["seeds"] / ANSWER_FILE).read_text("utf-8").split("\n")
    assert shown.stdout.splitlines() == [f"{n}:{original[n - 1]}" for n in (11, 12, 13)]


@pytest.mark.parametrize(
    ("spec", "fragment"), [("{f}:999", "past its end"), ("{f}:5-3", "START <= END"), ("nope.txt:3", "no file")]
)
def test_show_bad_spans_are_usage_errors(built_seeds_index: dict[str, Path], spec: str, fragment: str) -> None:
    result = run_cli("show", spec.format(f=built_seeds_index["seeds"] / ANSWER_FILE), "--seeds", str(built_seeds_index["seeds"]))
    assert result.returncode == 2, result.stderr
    (line,) = result.stderr.strip().splitlines()
    assert fragment in line
