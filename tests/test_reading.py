"""Reading files as people write them: wrapped lines, front matter, Markdown sections, code blocks,
other text formats, encodings, line endings and symbolic links. Real model, real files, real CLI."""

from __future__ import annotations

import json
import os
import re
import textwrap
import unicodedata
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from clusterqa.config import ChunkingSettings
from clusterqa.reading.chunking import chunk, sentence_spans
from clusterqa.reading.documents import normalize, parse_document, scan
from conftest import SEEDS, live_generation, load_questions, run_cli, seed_index_folder


def fake_count(texts):
    return [sum(1 + len(word) // 4 for word in text.split()) for text in texts]


def words(text: str) -> str:
    return re.sub(r"\s+", " ", unicodedata.normalize("NFKC", text)).strip().lower()


def ask(workspace: dict[str, Path], question: str) -> tuple[int, dict, str]:
    result = run_cli("ask", question, "--json", "--seeds", str(workspace["seeds"]), "--index", str(workspace["index"]))
    assert result.stdout.strip(), result.stderr
    return result.returncode, json.loads(result.stdout), result.stderr


def cites_exactly(seeds: Path, passage: dict, encoding: str = "utf-8") -> None:
    """The passage's chars slice the decoded file to its text; its lines are the lines of that slice."""
    original = (seeds / passage["source"]).read_bytes().decode(encoding).removeprefix("\ufeff")
    start, end = passage["char_start"], passage["char_end"]
    assert normalize(original[start:end]) == passage["text"], passage
    assert passage["line_start"] == 1 + original.count("\n", 0, start), passage
    assert passage["line_end"] == 1 + original.count("\n", 0, end - 1), passage


# ---------------------------------------------------------------------------------------------
# Wrapped lines are one paragraph; short stand-alone lines stay statements


WRAPPED = """The valve crew greases every gate valve twice a year, in April and in
October, and replaces the seals every fourth year. The motors are rewound
by a contractor from Rotterdam every twelve years.

Media Contact
Company Name: The Information Office of Hangzhou Municipal Government
Contact Person: Cai Jingwen
Phone: 0510-68559077
"""


def test_hard_wrapped_lines_are_joined_and_labelled_lines_are_not() -> None:
    assert [words(WRAPPED[s.start : s.end]) for s in sentence_spans(WRAPPED)] == [
        "the valve crew greases every gate valve twice a year, in april and in october, and replaces the seals "
        "every fourth year.",
        "the motors are rewound by a contractor from rotterdam every twelve years.",
        "media contact",
        "company name: the information office of hangzhou municipal government",
        "contact person: cai jingwen",
        "phone: 0510-68559077",
    ]


def test_seed_sentences_are_the_same_wrapped_at_72_columns() -> None:
    for path in sorted(SEEDS.glob("*.txt")):
        text = normalize(path.read_text("utf-8"))
        wrapped = "\n".join(textwrap.fill(line, 72, break_on_hyphens=False, break_long_words=False) for line in text.split("\n"))
        assert [words(text[s.start : s.end]) for s in sentence_spans(text)] == [
            words(wrapped[s.start : s.end]) for s in sentence_spans(wrapped)
        ], path.name


# ---------------------------------------------------------------------------------------------
# Markdown: front matter, sections, code/tables/lists


GUIDE = """---
title: "Field guide: the east harbour pump station"
date: 2024-05-06
tags: [harbour, pumps]
---
(guide-top)=
# Pump station guide

The pump station on the east harbour moves storm water out to sea. It was
built in 1987 and rebuilt after the flood of 2011, when the old motors
failed.

## Maintenance

### Valves

The valve crew greases every gate valve twice a year, in April and in
October, and replaces the seals every fourth year.

```sh
grease --valves all --crew valve --months april,october
```

### Motors

The three electric motors are rewound by a contractor from Rotterdam every
twelve years, most recently in 2019.

| motor | rewound |
|-------|---------|
| one   | 2019    |

## Contacts

- harbour master: Ingrid Vos
- night shift: Pieter Bos
"""


def test_markdown_front_matter_sections_and_blocks() -> None:
    document = parse_document("guide.md", GUIDE.encode())
    assert (document.title, document.date) == ("Field guide: the east harbour pump station", "2024-05-06")
    chunks = chunk(document, fake_count, ChunkingSettings(max_tokens=200, min_tokens=64, overlap_tokens=48))
    original = document.original
    assert [(c.section, c.line_start, c.line_end) for c in chunks] == [
        ("", 7, 11),  # the opening heading is the title, not a section
        ("Maintenance › Valves", 13, 18),
        ("Maintenance › Valves", 20, 22),
        ("Maintenance › Motors", 24, 27),
        ("Maintenance › Motors", 29, 31),
        ("Contacts", 33, 36),
    ]
    assert "title:" not in " ".join(c.text for c in chunks) and "(guide-top)=" not in " ".join(c.text for c in chunks)
    for c in chunks:
        assert normalize(original[c.char_start : c.char_end]) == c.text
    candidates = [words(c.text[s:e]) for c in chunks for s, e, _ in c.candidates]
    assert candidates == [
        "the pump station on the east harbour moves storm water out to sea.",
        "it was built in 1987 and rebuilt after the flood of 2011, when the old motors failed.",
        "the valve crew greases every gate valve twice a year, in april and in october, and replaces the seals "
        "every fourth year.",
        "the three electric motors are rewound by a contractor from rotterdam every twelve years, most recently in 2019.",
    ]
    # The context of the second sentence starts at the first.
    first = chunks[0]
    assert first.candidates[1][2] == first.candidates[0][0]


@pytest.mark.parametrize(
    ("name", "data", "title", "when"),
    [
        ("toml.md", b'+++\ntitle = "TOML title"\ndate = 2021-02-03\n+++\n\n# Heading\n\nText.\n', "TOML title", "2021-02-03"),
        ("myst.md", b"(intro)=\n# The real title\n\nBody text.\n", "The real title", None),
        ("plain.markdown", b"First line is the title\n\nBody text.\n", "First line is the title", None),
        ("setext.mdx", b"Setext title\n============\n\nBody text.\n", "Setext title", None),
        ("notes.rst", b"=======\nRST doc\n=======\n\nIntro.\n\nUsage\n-----\n\nText.\n", "RST doc", None),
        ("diary.org", b"#+TITLE: Org diary\n#+DATE: <2022-03-04 Fri>\n* Monday\nText.\n", "Org diary", "2022-03-04"),
        ("memo.text", b"Memo title\n\nText.\n", "Memo title", None),
    ],
)
def test_titles_of_each_format(name: str, data: bytes, title: str, when: str | None) -> None:
    document = parse_document(name, data)
    assert (document.title, document.date) == (title, when)


def test_front_matter_alone_is_not_a_document() -> None:
    with pytest.raises(ValueError, match="has no text besides its front matter"):
        parse_document("empty.md", b"---\ntitle: Nothing here\n---\n")


# ---------------------------------------------------------------------------------------------
# Encodings and links, without the model


def test_latin1_and_bom_and_crlf_decode_with_exact_lines() -> None:
    data = "Café notes\r\n\r\nThe café in Zürich serves crème brûlée every Thursday\r\nafternoon, says the owner.\r\n"
    latin = parse_document("latin1.txt", data.encode("cp1252"))
    assert latin.encoding == "cp1252"
    assert latin.original == data
    (c,) = chunk(latin, fake_count, ChunkingSettings(max_tokens=200, min_tokens=64, overlap_tokens=48))
    assert (c.line_start, c.line_end) == (1, 4)
    assert [words(c.text[s:e]) for s, e, _ in c.candidates] == [
        "the café in zürich serves crème brûlée every thursday afternoon, says the owner."
    ]
    bom = parse_document("bom.md", b"\xef\xbb\xbf---\ntitle: With a BOM\n---\nText of it.\n")
    assert (bom.title, bom.encoding, bom.original[:3]) == ("With a BOM", "utf-8", "---")


def make_linked_folder(root: Path) -> Path:
    """seeds/ with a real folder, a link to it, a link to a file in it, a loop, and a linked outside folder."""
    seeds = root / "seeds"
    (seeds / "real").mkdir(parents=True)
    (root / "outside").mkdir()
    (seeds / "real" / "harbour.txt").write_text("Harbour\n\nThe harbour has four quays and a dry dock.\n", "utf-8")
    (root / "outside" / "ferry.txt").write_text("Ferry\n\nThe ferry to the island leaves every hour.\n", "utf-8")
    os.symlink(seeds / "real", seeds / "alias")  # a linked folder inside: same files as real/
    os.symlink(seeds / "real" / "harbour.txt", seeds / "copy.txt")  # the same file by a link
    os.symlink(root / "outside", seeds / "linked")  # a linked folder outside: followed
    os.symlink(seeds, seeds / "real" / "back")  # a loop
    return seeds


def test_scan_follows_linked_folders_once_and_stops_at_loops(tmp_path: Path) -> None:
    seeds = make_linked_folder(tmp_path)
    found = scan(seeds)
    assert [f.source for f in found.files] == ["real/harbour.txt", "linked/ferry.txt"]
    assert [(s.source, s.reason) for s in found.skipped] == [
        ("alias/back", "links back to a folder it is inside; not followed"),
        ("real/back", "links back to a folder it is inside; not followed"),
    ]


# ---------------------------------------------------------------------------------------------
# Through the CLI


@pytest.fixture(scope="module")
def reading_workspace(tmp_path_factory: pytest.TempPathFactory, encoder_dir: Path) -> dict[str, Path]:
    """One index of every awkward file: Markdown guide, CRLF, cp1252, BOM, other formats, links."""
    root = tmp_path_factory.mktemp("reading")
    seeds = make_linked_folder(root)
    (seeds / "guide.md").write_text(GUIDE, "utf-8")
    (seeds / "crlf.md").write_bytes(
        b"# Lighthouse\r\n\r\nThe lighthouse keeper logs the weather at dawn and at dusk, every\r\n"
        b"day of the year, even during the winter storms.\r\n"
    )
    (seeds / "latin1.txt").write_bytes(
        "Café notes\n\nThe café in Zürich serves crème brûlée every Thursday afternoon, says the owner.\n".encode("cp1252")
    )
    (seeds / "bom.md").write_bytes(b"\xef\xbb\xbf---\ntitle: Tugboat log\n---\n\nThe tugboat Hercules towed the tanker Orion.\n")
    (seeds / "notes.rst").write_text("Quay notes\n==========\n\nQuay seven is closed for repairs until March.\n", "utf-8")
    (seeds / "diary.org").write_text("#+TITLE: Dock diary\n* Tuesday\nThe crane on quay two broke down.\n", "utf-8")
    (seeds / "old.markdown").write_text("Old page\n\nThe old customs house became a museum.\n", "utf-8")
    index = seed_index_folder(root / "index", encoder_dir)
    result = run_cli("index", "--seeds", str(seeds), "--index", str(index))
    assert result.returncode == 0, result.stderr
    return {"seeds": seeds, "index": index, "root": root, "index_stderr": result.stderr}  # type: ignore[dict-item]


def test_every_format_and_real_file_is_indexed_once(reading_workspace: dict) -> None:
    manifest = json.loads((live_generation(reading_workspace["index"]) / "manifest.json").read_text("utf-8"))
    assert sorted(manifest["documents"]) == sorted(
        [
            "bom.md",
            "crlf.md",
            "diary.org",
            "guide.md",
            "latin1.txt",
            "linked/ferry.txt",
            "notes.rst",
            "old.markdown",
            "real/harbour.txt",
        ]
    )
    stderr = reading_workspace["index_stderr"]
    assert stderr.count("read latin1.txt as cp1252") == 1, stderr


def test_section_in_json_and_terminal_citation(reading_workspace: dict) -> None:
    question = "How often does the valve crew grease the gate valves?"
    code, data, stderr = ask(reading_workspace, question)
    assert code == 0, stderr
    assert words(data["answer"]["text"]).startswith("the valve crew greases every gate valve twice a year")
    (top,) = [p for p in data["passages"] if "twice a year" in p["text"]]
    assert (top["source"], top["section"], top["title"]) == (
        "guide.md",
        "Maintenance › Valves",
        "Field guide: the east harbour pump station",
    )
    assert (top["line_start"], top["line_end"]) == (13, 18)
    assert data["answer"]["line"] == 17
    cites_exactly(reading_workspace["seeds"], top)
    shown = run_cli("ask", question, "--seeds", str(reading_workspace["seeds"]), "--index", str(reading_workspace["index"]))
    assert "guide.md:13 § Maintenance › Valves, lines 13-18" in shown.stdout, shown.stdout


def test_code_block_is_searchable_but_never_the_answer(reading_workspace: dict) -> None:
    code, data, stderr = ask(reading_workspace, "grease valves all crew valve months april october")
    sources = [(p["source"], p["text"]) for p in data["passages"]]
    assert any(text.startswith("```sh\ngrease --valves all") for _, text in sources), sources
    answer = data["answer"]
    assert answer["text"] is None or "--valves" not in answer["text"], answer
    code, data, stderr = ask(reading_workspace, "Who is the harbour master, and who works the night shift?")
    assert any("- harbour master: Ingrid Vos" in p["text"] for p in data["passages"]), data["passages"]
    assert data["answer"]["text"] is None or "Ingrid Vos" not in data["answer"]["text"], data["answer"]


@pytest.mark.parametrize(
    ("question", "source", "answer", "encoding"),
    [
        ("When does the lighthouse keeper log the weather?", "crlf.md", "the lighthouse keeper logs the weather", "utf-8"),
        ("What does the café in Zürich serve on Thursday?", "latin1.txt", "the café in zürich serves crème brûlée", "cp1252"),
        ("Which tanker did the tugboat Hercules tow?", "bom.md", "the tugboat hercules towed the tanker orion", "utf-8"),
        ("How often does the ferry to the island leave?", "linked/ferry.txt", "the ferry to the island leaves", "utf-8"),
        ("How many quays does the harbour have?", "real/harbour.txt", "the harbour has four quays", "utf-8"),
        ("Until when is quay seven closed?", "notes.rst", "quay seven is closed for repairs", "utf-8"),
        ("What broke down on quay two?", "diary.org", "the crane on quay two broke down", "utf-8"),
    ],
)
def test_answers_cite_the_file_exactly(reading_workspace: dict, question: str, source: str, answer: str, encoding: str) -> None:
    code, data, stderr = ask(reading_workspace, question)
    assert code == 0, stderr
    assert data["answer"]["source"] == source
    assert words(data["answer"]["text"]).startswith(answer)
    top = data["passages"][0]
    assert top["source"] == source
    cites_exactly(reading_workspace["seeds"], top, encoding)
    original = (reading_workspace["seeds"] / source).read_bytes().decode(encoding)
    assert words(original.split("\n")[data["answer"]["line"] - 1]).startswith(answer[:20])


def test_carried_over_passages_keep_section_and_candidates(encoder_dir: Path, tmp_path: Path) -> None:
    """A rebuild after another file changed carries guide.md's passages over from the catalog unchanged."""
    from clusterqa.embedding.encoder import TokenCounter
    from clusterqa.index.catalog import Catalog

    seeds = tmp_path / "seeds"
    seeds.mkdir()
    (seeds / "guide.md").write_text(GUIDE, "utf-8")
    (seeds / "old.markdown").write_text("Old page\n\nThe old customs house became a museum.\n", "utf-8")
    index = seed_index_folder(tmp_path / "index", encoder_dir)
    generations = []
    for _ in range(2):
        result = run_cli("index", "--seeds", str(seeds), "--index", str(index))
        assert result.returncode == 0, result.stderr
        generations.append(live_generation(index))
        (seeds / "old.markdown").write_text("Old page\n\nThe old customs house became a library.\n", "utf-8")
    assert "1 changed" in result.stderr and generations[0] != generations[1], result.stderr
    document = parse_document("guide.md", GUIDE.encode())
    expected = chunk(document, TokenCounter(encoder_dir / "tokenizer.json"), ChunkingSettings())
    assert {c.section for c in expected} == {"", "Maintenance › Valves", "Maintenance › Motors", "Contacts"}
    for generation in generations:
        catalog = Catalog(generation / "passages.sqlite")
        try:
            assert catalog.chunks_of("guide.md") == expected
        finally:
            catalog.close()


# ---------------------------------------------------------------------------------------------
# The seeds as wrapped Markdown answer like the seeds


def markdown_copy(path: Path) -> str:
    """The seed hard-wrapped at 72 columns under YAML front matter, with a heading, a code block and a list."""
    document = parse_document(path.name, path.read_bytes())
    lines = document.original.split("\n")
    first = next(i for i, line in enumerate(lines) if line.strip())
    body = [textwrap.fill(line, 72, break_on_hyphens=False, break_long_words=False) for line in lines[first + 1 :]]
    front = ["---", f"title: {json.dumps(document.title, ensure_ascii=False)}"]
    front += [f"date: {document.date}"] if document.date else []
    extra = ["", "## Notes", "", "```sh", f"clusterqa index --seeds {path.stem}", "```", "", "- converted from plain text"]
    return "\n".join([*front, "---", "", f"# {lines[first].strip()}", *body, *extra, ""])


def test_wrapped_markdown_seeds_give_the_same_hits_and_answers(
    built_seeds_index: dict[str, Path], tmp_path: Path, encoder_dir: Path
) -> None:
    seeds = tmp_path / "seeds"
    seeds.mkdir()
    for path in sorted(SEEDS.glob("*.txt")):
        text = markdown_copy(path)
        assert max(len(line) for line in text.split("\n") if not line.startswith(("# ", "title: "))) <= 72
        (seeds / f"{path.stem}.md").write_text(text, "utf-8")
    wrapped = {"seeds": seeds, "index": seed_index_folder(tmp_path / "index", encoder_dir)}
    built = run_cli("index", "--seeds", str(seeds), "--index", str(wrapped["index"]))
    assert built.returncode == 0, built.stderr

    from typer.testing import CliRunner

    from clusterqa.cli.app import app

    runner = CliRunner()

    def outcome(workspace: dict[str, Path], q: dict) -> tuple:
        # In process (typer's runner), so 28 questions do not pay 28 interpreter starts.
        args = ["ask", q["question"], "--json", "--seeds", str(workspace["seeds"]), "--index", str(workspace["index"])]
        data = json.loads(runner.invoke(app, args).stdout)
        stems = {Path(s).stem for s in q.get("sources", [])}
        answers = [words(a) for a in q.get("answers", [])]
        ranks = [
            rank
            for rank, p in enumerate(data["passages"], start=1)
            if Path(p["source"]).stem in stems and any(a in words(p["text"]) for a in answers)
        ]
        answer = data["answer"] if data["answer"]["text"] else None  # not confident: text is null
        return (min(ranks, default=None), answer and (words(answer["text"]), Path(answer["source"]).stem))

    questions = load_questions()
    original = [outcome(built_seeds_index, q) for q in questions]
    as_markdown = [outcome(wrapped, q) for q in questions]
    answerable = [i for i, q in enumerate(questions) if not q.get("unanswerable")]
    for k in (1, 3):
        hits = [sum(1 for i in answerable if (o[i][0] or 99) <= k) for o in (original, as_markdown)]
        assert hits[0] == hits[1], (k, hits)
    assert sum(1 for i in answerable if (original[i][0] or 99) <= 3) == len(answerable)
    assert [o[1] for o in as_markdown] == [o[1] for o in original]


# ---------------------------------------------------------------------------------------------
# Properties: any Markdown-ish or rst/org-ish text maps back to its file


_MD_PIECES = [
    "# ",
    "## ",
    "\n",
    "\n\n",
    "\r\n",
    "```\n",
    "    ",
    "- ",
    "1. ",
    "| a | b |\n|---|---|\n",
    "---\n",
    "+++\n",
    "title: T\n",
    "(label)=\n",
    "=====\n",
    "* ",
    "#+TITLE: x\n",
    "#+BEGIN_SRC\n",
    ".. ",
    "::\n",
    "Word ",
    "sentence. ",
    "Label: ",
    "\u00a0",
    "\ufb01",
    "e\u0301",
    "中文。",
    "x" * 50 + " ",
]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    pieces=st.lists(st.one_of(st.sampled_from(_MD_PIECES), st.text(max_size=5)), min_size=1, max_size=40),
    suffix=st.sampled_from([".md", ".rst", ".org", ".txt"]),
)
def test_any_layout_maps_back_to_the_file(pieces: list[str], suffix: str) -> None:
    try:
        document = parse_document("gen" + suffix, "".join(pieces).encode("utf-8", "surrogatepass"))
    except (ValueError, UnicodeEncodeError):
        return
    config = ChunkingSettings(max_tokens=12, min_tokens=4, overlap_tokens=3)
    chunks = chunk(document, fake_count, config)
    original = document.original
    for i, c in enumerate(chunks):
        assert c.ordinal == i
        assert normalize(original[c.char_start : c.char_end]) == c.text
        assert c.line_start == 1 + original.count("\n", 0, c.char_start)
        assert c.line_end == 1 + original.count("\n", 0, c.char_end - 1)
        for start, end, context in c.candidates:
            assert 0 <= context <= start < end <= len(c.text)
            assert c.text[start:end] == c.text[start:end].strip()
