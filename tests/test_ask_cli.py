"""The real `clusterqa` command in a subprocess: index, ask, JSON and text output, exit codes."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import unicodedata
from pathlib import Path

import pytest

from clusterqa.reading.documents import normalize
from conftest import ask_json, load_questions, run_cli, seed_index_folder

QUESTION = "Which Zhejiang clusters were among the 2020 finalists?"
FINALISTS_000 = "000_7aa0c03ee5abb184.txt"
FINALISTS_003 = "003_085c679cf2ff36d1.txt"
SEED_TITLE_003 = "Ruisi, Zhejiang: What is the secret of persistent growth in Zhejiang manufacturing enterprises?"


def match_text(text: str) -> str:
    """The matching rule of shared/eval/README.md: NFKC, collapse whitespace, strip, lower-case."""
    return re.sub(r"\s+", " ", unicodedata.normalize("NFKC", text)).strip().lower()


def line_of(original: str, needle: str) -> int:
    return 1 + original.count("\n", 0, original.index(needle))


def original_text(workspace: dict[str, Path], source: str) -> str:
    return (workspace["seeds"] / source).read_text("utf-8")


def check_passage_cites_its_file(workspace: dict[str, Path], passage: dict) -> None:
    """The citation is exact: the chars slice the file to the passage, the lines are the lines of that slice."""
    original = original_text(workspace, passage["source"])
    start, end = passage["char_start"], passage["char_end"]
    assert 0 <= start < end <= len(original), passage
    assert normalize(original[start:end]) == passage["text"], passage
    assert passage["line_start"] == 1 + original.count("\n", 0, start), passage
    assert passage["line_end"] == 1 + original.count("\n", 0, end - 1), passage


def check_schema(data: dict, question: str) -> None:
    assert set(data) == {"question", "confident", "confidence", "answer", "passages"}
    assert data["question"] == question.strip()
    assert isinstance(data["confident"], bool)
    assert isinstance(data["confidence"], float) and 0.0 <= data["confidence"] <= 1.0  # a probability
    answer = data["answer"]
    assert set(answer) == {"text", "source", "page", "line", "score", "reason"}
    if answer["text"] is None:  # not confident: no answer, a reason in words
        assert data["confident"] is False
        assert (answer["source"], answer["line"], answer["score"]) == (None, None, None)
        assert isinstance(answer["reason"], str) and answer["reason"].strip()
    else:
        assert data["confident"] is True
        assert answer["reason"] is None
        assert isinstance(answer["text"], str) and answer["text"].strip()
        assert isinstance(answer["source"], str)
        assert isinstance(answer["line"], int) and answer["line"] >= 1
        assert isinstance(answer["score"], float) and 0.0 <= answer["score"] <= 1.0
    fields = {
        "rank": int,
        "score": float,
        "source": str,
        "title": str,
        "date": (str, type(None)),
        "section": str,
        "page_start": type(None),  # a page number for paged formats (PDF), see test_formats.py
        "page_end": type(None),
        "line_start": int,
        "line_end": int,
        "char_start": int,
        "char_end": int,
        "text": str,
        "also_in": list,
    }
    for rank, passage in enumerate(data["passages"], start=1):
        assert set(passage) == set(fields), passage.keys()
        for name, kind in fields.items():
            assert isinstance(passage[name], kind) and not isinstance(passage[name], bool), (name, passage[name])
        assert passage["rank"] == rank
        assert 1 <= passage["line_start"] <= passage["line_end"]
        for twin in passage["also_in"]:
            assert isinstance(twin, str) and re.fullmatch(r".+\.(txt|md):\d+(-\d+)?", twin), twin
        if passage["date"] is not None:
            assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", passage["date"])
    scores = [p["score"] for p in data["passages"]]
    assert scores == sorted(scores, reverse=True)


def one_error_line(stderr: str) -> str:
    assert "Traceback" not in stderr, stderr
    errors = [line for line in stderr.splitlines() if line.startswith("clusterqa: error:")]
    assert len(errors) == 1, stderr
    return errors[0]


# ---------------------------------------------------------------------------------------------
# index


def test_index_builds_skips_bad_files_then_is_up_to_date(workspace: dict[str, Path]) -> None:
    (workspace["seeds"] / "broken.txt").write_bytes(b"\x00\x01binary")
    (workspace["seeds"] / "empty.md").write_bytes(b"")
    args = ("index", "--seeds", str(workspace["seeds"]), "--index", str(workspace["index"]))
    built = run_cli(*args)
    assert built.returncode == 0, built.stderr
    assert built.stdout == ""
    lines = built.stderr.strip().splitlines()
    assert "clusterqa: skipped broken.txt: looks binary (contains NUL bytes)" in lines
    assert "clusterqa: skipped empty.md: is empty" in lines
    summary = re.fullmatch(r"indexed 5 documents, (\d+) passages \((\d+) embedded, 5 added\) in [\d.]+ s", lines[-1])
    assert summary, built.stderr
    assert summary.group(1) == summary.group(2) and int(summary.group(1)) >= 5
    assert (workspace["index"] / "CURRENT").read_text().strip().startswith("g")

    again = run_cli(*args)
    assert again.returncode == 0, again.stderr
    assert (
        again.stderr.strip()
        .splitlines()[-1]
        .startswith(f"clusterqa: index is up to date: 5 documents, {summary.group(1)} passages")
    )


# ---------------------------------------------------------------------------------------------
# ask --json against the shared, read-only index of the seeds


@pytest.fixture(scope="module")
def finalists(built_seeds_index: dict[str, Path]) -> tuple[int, dict, str]:
    code, data, stderr = ask_json(built_seeds_index, QUESTION)
    assert data is not None, stderr
    return code, data, stderr


def test_ask_json_cites_both_reports_of_the_2020_finalists(built_seeds_index: dict[str, Path], finalists) -> None:
    code, data, stderr = finalists
    assert code == 0, stderr
    check_schema(data, QUESTION)
    assert data["confident"] is True
    passages = data["passages"]
    assert len(passages) == 3
    assert {FINALISTS_000, FINALISTS_003} <= {p["source"] for p in passages}
    for p in passages:
        check_passage_cites_its_file(built_seeds_index, p)
    # 003 lists the five clusters on line 11, the same list as 000's line 9: that passage is folded
    # into 000's and cited as "also reported in" with its lines.
    original = original_text(built_seeds_index, FINALISTS_003)
    assert line_of(original, "Ningbo new material industrial clusters") == 11
    assert not [p for p in passages if "Ningbo new material industrial clusters" in p["text"]]
    twins = [(p["source"], t) for p in passages for t in p["also_in"]]
    assert twins == [(FINALISTS_000, f"{FINALISTS_003}:11-15")]
    # The 000 passage is one that reports the 20 finalists (line 5) or names the five winners (line 9).
    report = original_text(built_seeds_index, FINALISTS_000)
    finalist_lines = {line_of(report, "are among the 20 finalists"), line_of(report, "The five winners in Zhejiang")}
    assert finalist_lines == {5, 9}
    from_000 = [p for p in passages if p["source"] == FINALISTS_000]
    assert any(p["line_start"] <= n <= p["line_end"] for p in from_000 for n in finalist_lines), from_000
    assert from_000[0]["title"] == "Zhejiang leads in national contest for advanced manufacturing clusters"
    assert from_000[0]["date"] == "2020-07-31"
    from_003 = [p for p in passages if p["source"] == FINALISTS_003]
    assert from_003[0]["title"] == SEED_TITLE_003
    assert from_003[0]["date"] is None


def test_ask_json_answer_points_at_its_line(built_seeds_index: dict[str, Path], finalists) -> None:
    _, data, _ = finalists
    answer = data["answer"]
    assert answer["source"] in {p["source"] for p in data["passages"]}
    original = original_text(built_seeds_index, answer["source"])
    lines = normalize(original).split("\n")
    assert " ".join(answer["text"].split()) in " ".join(lines[answer["line"] - 1].split())


def test_ask_json_passages_are_the_indexed_chunks(built_seeds_index: dict[str, Path], finalists, encoder_dir: Path) -> None:
    """What the CLI cites is exactly what the chunker made of the file."""
    from clusterqa.config import ChunkingSettings
    from clusterqa.embedding.encoder import TokenCounter
    from clusterqa.reading.chunking import chunk
    from clusterqa.reading.documents import parse_document

    count = TokenCounter(encoder_dir / "tokenizer.json")
    manifest_chunking = ChunkingSettings()
    for p in finalists[1]["passages"]:
        document = parse_document(p["source"], (built_seeds_index["seeds"] / p["source"]).read_bytes())
        chunks = {c.char_start: c for c in chunk(document, count, manifest_chunking)}
        c = chunks[p["char_start"]]
        assert (c.char_end, c.line_start, c.line_end, c.text) == (p["char_end"], p["line_start"], p["line_end"], p["text"])


def test_ask_text_output_names_file_title_and_lines(built_seeds_index: dict[str, Path], finalists) -> None:
    _, data, _ = finalists
    result = run_cli("ask", QUESTION, "--seeds", str(built_seeds_index["seeds"]), "--index", str(built_seeds_index["index"]))
    assert result.returncode == 0, result.stderr
    out = result.stdout
    # Citations are path:line, the path as a terminal opens it (absolute: the seeds are outside the current folder).
    headers = re.findall(r"^\[(\d+)\] (\S+):(\d+)\s+lines (\d+)-(\d+)\b", out, re.M)
    seeds = built_seeds_index["seeds"]
    expected = [
        (str(p["rank"]), str(seeds / p["source"]), str(p["line_start"]), str(p["line_start"]), str(p["line_end"]))
        for p in data["passages"]
    ]
    assert headers == expected, out
    for p in data["passages"]:
        assert p["title"] in out
    assert "2020-07-31" in out
    assert out.startswith("Answer")
    assert f"{seeds / data['answer']['source']}:{data['answer']['line']}\n" in out


def test_top_k_five(built_seeds_index: dict[str, Path]) -> None:
    code, data, stderr = ask_json(built_seeds_index, QUESTION, "--top-k", "5")
    assert code == 0, stderr
    check_schema(data, QUESTION)
    assert [p["rank"] for p in data["passages"]] == [1, 2, 3, 4, 5]
    assert len({(p["source"], p["char_start"]) for p in data["passages"]}) == 5
    for p in data["passages"]:
        check_passage_cites_its_file(built_seeds_index, p)


def test_top_k_larger_than_the_index_gives_every_passage(workspace: dict[str, Path]) -> None:
    for name in list(workspace["seeds"].iterdir()):
        name.unlink()
    (workspace["seeds"] / "only.txt").write_text(
        "The only document\n\nThe Pinghu cluster makes machine tools in Zhejiang.\n", encoding="utf-8"
    )
    code, data, stderr = ask_json(workspace, "What does the Pinghu cluster make?", "--top-k", "5")
    assert code in (0, 3), stderr
    assert "Traceback" not in stderr
    assert [(p["source"], p["line_start"], p["line_end"]) for p in data["passages"]] == [("only.txt", 1, 3)]
    assert data["passages"][0]["title"] == "The only document"


@pytest.mark.parametrize("value", ["0", "51", "many"])
def test_top_k_out_of_range_is_a_usage_error(built_seeds_index: dict[str, Path], value: str) -> None:
    code, data, stderr = ask_json(built_seeds_index, QUESTION, "--top-k", value)
    assert (code, data) == (2, None)
    assert "Traceback" not in stderr
    assert "--top-k" in stderr


# ---------------------------------------------------------------------------------------------
# errors: one line on stderr, the documented exit code, never a traceback


@pytest.mark.parametrize("question", ["", "   ", "\t\n"], ids=["empty", "spaces", "tab-newline"])
def test_empty_question_is_a_usage_error(built_seeds_index: dict[str, Path], question: str) -> None:
    code, data, stderr = ask_json(built_seeds_index, question)
    assert (code, data) == (2, None)
    line = one_error_line(stderr)
    assert stderr.strip() == line
    assert line.startswith("clusterqa: error: the question is empty")


def test_missing_seeds_folder_with_a_fresh_index(tmp_path: Path, encoder_dir: Path) -> None:
    index = seed_index_folder(tmp_path / "index", encoder_dir)
    missing = tmp_path / "no-such-folder"
    result = run_cli("ask", QUESTION, "--seeds", str(missing), "--index", str(index))
    assert result.returncode == 1
    assert result.stdout == ""
    line = one_error_line(result.stderr)
    assert line == f"clusterqa: error: seeds folder {missing} does not exist; create it or pass --seeds DIR"
    assert not (index / "CURRENT").exists()


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"garbage\xff\xfe\n", "is unreadable"),
        (b"../../etc\n", "does not name a generation"),
        (b"g0123-missing\n", "manifest.json is missing"),
    ],
    ids=["not-utf8", "not-a-name", "no-such-generation"],
)
def test_unreadable_index_is_an_error_not_a_traceback(
    built_seeds_index: dict[str, Path], tmp_path: Path, content: bytes, message: str
) -> None:
    index = tmp_path / "index"
    shutil.copytree(built_seeds_index["index"], index)
    (index / "CURRENT").write_bytes(content)
    result = run_cli("ask", QUESTION, "--json", "--seeds", str(built_seeds_index["seeds"]), "--index", str(index))
    assert result.returncode == 1
    assert result.stdout == ""
    line = one_error_line(result.stderr)
    assert message in line
    assert str(index) in line


def test_help_lists_the_commands_without_importing_torch() -> None:
    result = run_cli("--help")
    assert result.returncode == 0, result.stderr
    for command in ("ask", "index", "status", "shell"):
        assert re.search(rf"^\W*{command}\b", result.stdout, re.M), result.stdout
    ask_help = run_cli("ask", "--help")
    assert ask_help.returncode == 0
    for option in ("--top-k", "--json", "--seeds", "--index", "Exit codes: 0 answered, 1 error, 2 usage, 3 no confident"):
        assert option in ask_help.stdout
    loaded = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "clusterqa", "--help"], capture_output=True, text=True, timeout=120
    )
    assert loaded.returncode == 0
    imported = {line.rsplit("|", 1)[-1].strip() for line in loaded.stderr.splitlines() if line.startswith("import time:")}
    assert "clusterqa.cli.app" in imported
    assert not imported & {"torch", "sentence_transformers", "transformers", "onnxruntime", "faiss"}


# ---------------------------------------------------------------------------------------------
# The development questions


QUESTIONS = load_questions()
ANSWERABLE = [q for q in QUESTIONS if not q.get("unanswerable")]
UNANSWERABLE = [q for q in QUESTIONS if q.get("unanswerable")]


@pytest.mark.parametrize("q", ANSWERABLE, ids=[q["id"] for q in ANSWERABLE])
def test_dev_question_answered_in_top_3(built_seeds_index: dict[str, Path], q: dict) -> None:
    code, data, stderr = ask_json(built_seeds_index, q["question"], "--top-k", "3")
    assert data is not None, stderr
    check_schema(data, q["question"])
    answers = [match_text(a) for a in q["answers"]]
    top = data["passages"][:3]
    hit = [p for p in top if p["source"] in q["sources"] and any(a in match_text(p["text"]) for a in answers)]
    assert hit, f"{q['id']}: top 3 are {[(p['source'], p['line_start'], p['line_end']) for p in top]}"
    assert code == 0 and data["confident"] is True, (code, data["confidence"])
    for p in hit:
        check_passage_cites_its_file(built_seeds_index, p)
    # The answer is the sentence that holds the answer, not just one from the right passage.
    answer = data["answer"]
    assert answer["source"] in q["sources"] and any(a in match_text(answer["text"]) for a in answers), answer


@pytest.mark.parametrize("q", UNANSWERABLE, ids=[q["id"] for q in UNANSWERABLE])
def test_dev_question_unanswerable_is_not_confident(built_seeds_index: dict[str, Path], q: dict) -> None:
    code, data, stderr = ask_json(built_seeds_index, q["question"], "--top-k", "3")
    assert data is not None, stderr
    check_schema(data, q["question"])
    assert code == 3, stderr
    assert data["confident"] is False
    assert data["answer"]["text"] is None and data["answer"]["reason"]
    assert "Traceback" not in stderr


@pytest.mark.parametrize("q", [QUESTIONS[0], UNANSWERABLE[-1]], ids=["answerable", "unanswerable"])
def test_top_k_does_not_change_the_answer_or_the_verdict(built_seeds_index: dict[str, Path], q: dict) -> None:
    """The answer comes from a fixed set of top passages: showing 1 or 10 changes neither it nor its confidence."""
    runs = [ask_json(built_seeds_index, q["question"], "--top-k", k) for k in ("1", "10")]
    (code_1, one, _), (code_10, ten, _) = runs
    assert (len(one["passages"]), len(ten["passages"])) == (1, 10)
    assert code_1 == code_10
    assert one["answer"] == ten["answer"]
    assert (one["confident"], one["confidence"]) == (ten["confident"], ten["confidence"])


def test_on_topic_question_the_seeds_cannot_answer_names_the_missing_word(built_seeds_index: dict[str, Path]) -> None:
    """About a city and a cluster the seeds cover, asking for something they never mention."""
    question = "What is the unemployment rate of the Pinghu CNC machine tool cluster?"
    code, data, stderr = ask_json(built_seeds_index, question)
    check_schema(data, question)
    assert code == 3, (data["confidence"], data["answer"])
    assert data["answer"]["reason"] == "no passage mentions 'unemployment'"
    assert "Traceback" not in stderr


def test_unanswerable_text_output_says_so(built_seeds_index: dict[str, Path]) -> None:
    (q,) = UNANSWERABLE[:1]
    result = run_cli("ask", q["question"], "--seeds", str(built_seeds_index["seeds"]), "--index", str(built_seeds_index["index"]))
    assert result.returncode == 3
    assert result.stdout.startswith("No passage in 5 documents answers this confidently. Nearest passages:")


def test_the_same_story_in_two_files_is_shown_once_with_the_other_cited(built_seeds_index: dict[str, Path]) -> None:
    """000 and 003 both list the five Zhejiang winners of the 2020 contest: one passage, the other as also_in."""
    code, data, stderr = ask_json(built_seeds_index, "Which Zhejiang clusters were among the 2020 finalists?")
    assert code == 0, stderr
    shown = [(p["source"], p["line_start"]) for p in data["passages"]]
    folded = [twin for p in data["passages"] for twin in p["also_in"]]
    assert any(t.startswith("003_085c679cf2ff36d1.txt:11-") for t in folded), data["passages"]
    assert ("003_085c679cf2ff36d1.txt", 11) not in shown
    assert len(shown) == len(set(shown)) == 3
