"""PDF, HTML and DOCX documents, made here with real writers (fpdf2, python-docx, plain HTML), indexed
and asked through the real CLI: page and section citations, boilerplate left out, scanned and
encrypted PDFs skipped with a warning, the extraction cache, `show report.pdf:2`."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from conftest import ask_json, clone_workspace, fts_sources, live_generation, run_cli

# --- The documents ---------------------------------------------------------------------------------

DESIGN_PAGES = [
    # (outline entry, paragraphs) a page
    (
        "Storage",
        [
            "The storage engine writes every shard as a sequence of immutable segments of at most 64 megabytes.",
            "Cold segments, those not read for seven days, are recompressed with Zstandard at level 19; hot segments "
            "stay uncompressed so that point reads never pay for decompression.",
        ],
    ),
    (
        "Replication",
        [
            "Each shard keeps three replicas in three different availability zones.",
            "A write is acknowledged once two of the three replicas have persisted it, so losing a single zone "
            "never loses an acknowledged write.",
        ],
    ),
    (
        "Benchmarks",
        [
            "On the reference cluster of twelve nodes the write path sustained 180,000 writes per second.",
            "The p99 write latency in that benchmark was 14 milliseconds, and the p50 was 3 milliseconds.",
        ],
    ),
]

HTML_PAGE = """<!doctype html>
<html><head><title>Deploy runbook - Harbor Docs</title>
<meta name="date" content="2024-03-05"></head>
<body>
<nav><ul><li><a href="/">Home</a></li><li><a href="/pricing">Pricing and enterprise plans</a></li>
<li><a href="/blog">Engineering blog</a></li><li><a href="/careers">Careers at Harbor</a></li></ul></nav>
<aside><p>Related: Zephyrine dashboards, Zephyrine alerts and the Zephyrine status page.</p></aside>
<main><article>
<h1>Deploy runbook</h1>
<p>This runbook describes how the harbor service is deployed to production and what to do when a deploy goes wrong.</p>
<h2>Deploy</h2>
<p>Deploys go out through the pipeline: merge to main, wait for the green build, then press promote in the console.</p>
<h2>Rollback</h2>
<p>To roll back a bad deploy, run harbor rollback with the previous release tag; the old image is serving again
within two minutes.</p>
<h2>On-call</h2>
<p>When the error budget burns faster than twice the allowed rate, the primary on-call engineer is paged,
and the secondary is paged after fifteen minutes without an acknowledgement.</p>
</article></main>
<footer><p>Copyright 2024 Harbor Inc. Subscribe to the Quillfeather newsletter for product news and pricing updates.</p>
<p>Privacy policy | Terms of service | Cookie settings</p></footer>
</body></html>
"""

MARKDOWN = """# Harbor

Harbor stores time series for the platform team.

## Testing

Run the test suite with `make test`; it starts a local three-node cluster in containers and takes about
four minutes on a laptop.

## Licence

Harbor is released under the Apache 2.0 licence.
"""

NOTES = """Release notes process

The weekly release branch is cut every Wednesday at 10:00 UTC by the release captain, and the release
ships on Thursday once the canary has been healthy for a full day.
"""


def write_design_pdf(path: Path, pages=DESIGN_PAGES, title: str = "Harbor design") -> None:
    """A PDF with one outlined section a page, each page starting with its section title."""
    from fpdf import FPDF

    pdf = FPDF()
    pdf.set_title(title)
    pdf.set_creation_date(__import__("datetime").datetime(2024, 5, 17, tzinfo=__import__("datetime").timezone.utc))
    for section, paragraphs in pages:
        pdf.add_page()
        pdf.start_section(section)
        pdf.set_font("helvetica", "B", 14)
        pdf.cell(0, 10, section, new_x="LMARGIN", new_y="NEXT")
        pdf.set_font("helvetica", size=11)
        for paragraph in paragraphs:
            pdf.multi_cell(0, 6, paragraph, new_x="LMARGIN", new_y="NEXT")
            pdf.ln(3)
    pdf.output(str(path))


def write_long_pdf(path: Path) -> None:
    """A PDF whose one long section runs over a page break in the middle of a sentence."""
    from fpdf import FPDF

    pdf = FPDF()
    pdf.add_page()
    pdf.set_font("helvetica", size=11)
    sentences = [
        f"Measurement {i} of the cooling loop recorded a steady flow of {i * 37 % 500} litres a minute through pump {i % 7}"
        + f" while valve {i} stayed open" * (i % 3)
        + "."
        for i in range(90)
    ]
    pdf.multi_cell(0, 6, " ".join(sentences))
    pdf.output(str(path))


def write_scanned_pdf(path: Path) -> None:
    """A PDF whose only page is a picture of text: no text layer."""
    from fpdf import FPDF
    from PIL import Image, ImageDraw

    image = Image.new("RGB", (600, 200), "white")
    ImageDraw.Draw(image).text((20, 80), "Scanned invoice 4711: total due 120 EUR", fill="black")
    pdf = FPDF()
    pdf.add_page()
    pdf.image(image, x=10, y=10, w=180)
    pdf.output(str(path))


def write_encrypted_pdf(path: Path) -> None:
    from fpdf import FPDF

    pdf = FPDF()
    pdf.add_page()
    pdf.set_font("helvetica", size=11)
    pdf.multi_cell(0, 6, "Salary bands for 2024 are confidential and kept in this locked file.")
    pdf.set_encryption(owner_password="owner-secret", user_password="reader-secret")
    pdf.output(str(path))


def write_handbook_docx(path: Path) -> None:
    import docx

    document = docx.Document()
    document.add_heading("Engineering handbook", 0)
    document.add_paragraph("This handbook is for engineers joining the Harbor team.")
    document.add_heading("Development setup", 1)
    document.add_paragraph("Local development needs Python 3.12 and Docker; install the tools with make bootstrap.")
    document.add_heading("Editor", 2)
    document.add_paragraph("Any editor works; the repository ships settings for the formatter and the linter.")
    document.add_heading("Code review", 1)
    document.add_paragraph("Every pull request needs two approvals before it can be merged, one of them from a code owner.")
    document.add_paragraph("Reviewers answer within one working day", style="List Bullet")
    document.add_paragraph("Authors resolve every comment before merging", style="List Bullet")
    table = document.add_table(rows=2, cols=2)
    for (r, c), text in {(0, 0): "Role", (0, 1): "Approvals", (1, 0): "Code owner", (1, 1): "One"}.items():
        table.cell(r, c).text = text
    document.save(str(path))


def make_mixed_folder(seeds: Path) -> None:
    seeds.mkdir(parents=True, exist_ok=True)
    write_design_pdf(seeds / "design.pdf")
    (seeds / "runbook.html").write_text(HTML_PAGE, "utf-8")
    write_handbook_docx(seeds / "handbook.docx")
    (seeds / "README.md").write_text(MARKDOWN, "utf-8")
    (seeds / "release-notes.txt").write_text(NOTES, "utf-8")


# --- Fixtures --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def mixed(tmp_path_factory: pytest.TempPathFactory, encoder_dir: Path) -> dict[str, Path]:
    """The mixed folder plus files that must be skipped, indexed once through the CLI."""
    root = tmp_path_factory.mktemp("formats")
    seeds = root / "seeds"
    make_mixed_folder(seeds)
    write_scanned_pdf(seeds / "scanned.pdf")
    write_encrypted_pdf(seeds / "locked.pdf")
    (seeds / "broken.pdf").write_bytes(b"%PDF-1.7\n" + os.urandom(2000))
    (seeds / "broken.docx").write_bytes(b"PK\x03\x04" + os.urandom(500))
    (seeds / "binary.html").write_bytes(b"\x00\x01\x02" * 100)
    result = run_cli("index", "--seeds", str(seeds), "--index", str(root / "index"))
    assert result.returncode == 0, result.stderr
    (root / "index-stderr.txt").write_text(result.stderr, "utf-8")
    return {"seeds": seeds, "index": root / "index", "root": root}


# --- Tests -----------------------------------------------------------------------------------------

# (question, file, page or None, section) for the mixed folder: the top passage must be there.
QUESTIONS = [
    ("How many replicas does each shard keep?", "design.pdf", 2, "Replication"),
    ("Which compression is used for cold segments?", "design.pdf", 1, "Storage"),
    ("What was the p99 write latency in the benchmark?", "design.pdf", 3, "Benchmarks"),
    ("How do I roll back a bad deploy?", "runbook.html", None, "Rollback"),
    ("Who gets paged when the error budget burns too fast?", "runbook.html", None, "On-call"),
    ("How many approvals does a pull request need?", "handbook.docx", None, "Code review"),
    ("Which Python version do I need for local development?", "handbook.docx", None, "Development setup"),
    ("How do I run the test suite?", "README.md", None, "Testing"),
    ("When is the weekly release branch cut?", "release-notes.txt", None, ""),
]


def test_mixed_folder_top_hit_is_the_right_page_or_section(mixed: dict[str, Path]) -> None:
    misses = []
    for question, source, page, section in QUESTIONS:
        code, data, stderr = ask_json(mixed, question)
        assert code in (0, 3), stderr  # 3: answered, but no sentence is a confident answer
        top = data["passages"][0]
        got = (top["source"], top["page_start"], top["section"])
        if got != (source, page, section):
            misses.append(f"{question!r}: {got}, expected {(source, page, section)}")
    hit_at_1 = 1 - len(misses) / len(QUESTIONS)
    print(f"mixed folder hit@1 = {hit_at_1:.2f} ({len(QUESTIONS) - len(misses)}/{len(QUESTIONS)})")
    assert not misses, "\n".join(misses)


def test_pdf_citation_has_page_and_lines_within_it(mixed: dict[str, Path]) -> None:
    code, data, stderr = ask_json(mixed, "How many replicas does each shard keep?")
    assert code == 0, stderr
    top = data["passages"][0]
    assert (top["source"], top["page_start"], top["page_end"]) == ("design.pdf", 2, 2)
    # Page 2 reads "Replication" on line 1, then the paragraph: lines count within the page.
    assert top["line_start"] == 1
    assert top["text"].startswith("Replication")
    assert data["answer"]["page"] == 2
    assert "three replicas" in data["answer"]["text"]
    question = "How many replicas does each shard keep?"
    text = run_cli("ask", question, "--seeds", str(mixed["seeds"]), "--index", str(mixed["index"]))
    assert text.returncode == 0, text.stderr
    assert "design.pdf p. 2 § Replication, lines 1-" in text.stdout
    # A format without pages says so with nulls.
    code, data, _ = ask_json(mixed, "How do I run the test suite?")
    assert (data["passages"][0]["page_start"], data["passages"][0]["page_end"]) == (None, None)
    assert data["passages"][0]["line_start"] == 5  # "## Testing" in README.md


def test_html_boilerplate_is_not_indexed(mixed: dict[str, Path]) -> None:
    generation = live_generation(mixed["index"])
    assert fts_sources(generation, "rollback") == ["runbook.html"]
    for word in ("zephyrine", "quillfeather", "careers", "cookie"):
        assert fts_sources(generation, word) == [], word
    listing = json.loads(run_cli("docs", "--json", "--seeds", str(mixed["seeds"]), "--index", str(mixed["index"])).stdout)
    by_source = {d["source"]: d for d in listing["documents"]}
    assert by_source["runbook.html"]["title"] == "Deploy runbook"
    assert by_source["runbook.html"]["date"] == "2024-03-05"
    assert by_source["handbook.docx"]["title"] == "Engineering handbook"
    assert (by_source["design.pdf"]["title"], by_source["design.pdf"]["pages"]) == ("Harbor design", 3)
    assert by_source["handbook.docx"]["pages"] is None


def test_docx_section_paths_follow_heading_styles(mixed: dict[str, Path]) -> None:
    code, data, stderr = ask_json(mixed, "Which editor settings does the repository ship?")
    assert code == 0, stderr
    top = data["passages"][0]
    assert (top["source"], top["section"]) == ("handbook.docx", "Development setup › Editor")
    shown = run_cli("show", f"handbook.docx:{top['line_start']}-{top['line_end']}", "-C", "0", "--seeds", str(mixed["seeds"]))
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.splitlines()[0] == f"{top['line_start']}:Editor"
    assert "ships settings for the formatter" in shown.stdout


def test_unreadable_files_are_skipped_with_one_line_each(mixed: dict[str, Path]) -> None:
    stderr = (mixed["root"] / "index-stderr.txt").read_text("utf-8")
    assert "Traceback" not in stderr
    lines = stderr.splitlines()

    def line_for(name: str) -> str:
        found = [line for line in lines if f"skipped {name}:" in line]
        assert len(found) == 1, (name, stderr)
        return found[0]

    assert "has no text layer" in line_for("scanned.pdf") and "does not OCR" in line_for("scanned.pdf")
    assert "is an encrypted PDF" in line_for("locked.pdf") and "password" in line_for("locked.pdf")
    assert "is not a readable PDF" in line_for("broken.pdf")
    assert "cannot be read as DOCX" in line_for("broken.docx")
    assert "looks binary" in line_for("binary.html")
    status = run_cli("status", "--seeds", str(mixed["seeds"]), "--index", str(mixed["index"]))
    assert status.returncode == 0, status.stderr
    assert "documents by format: 1 docx, 1 html, 1 md, 1 pdf, 1 txt" in status.stdout
    assert "skipped  locked.pdf: is an encrypted PDF" in status.stdout


def test_show_prints_a_pdf_page(mixed: dict[str, Path]) -> None:
    result = run_cli("show", "design.pdf:2", "--seeds", str(mixed["seeds"]), "--index", str(mixed["index"]))
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "design.pdf p. 2"
    assert lines[1] == "1:Replication"
    body = " ".join(line.split(":", 1)[1] for line in lines[2:])
    assert "Each shard keeps three replicas" in body
    assert "Zstandard" not in body and "p99" not in body  # pages 1 and 3 are not shown
    past = run_cli("show", "design.pdf:9", "--seeds", str(mixed["seeds"]), "--index", str(mixed["index"]))
    assert past.returncode == 2
    assert past.stderr.strip().endswith("has 3 pages; page 9 is past its end")


def test_cold_ask_imports_no_format_library(mixed: dict[str, Path], built_seeds_index: dict[str, Path]) -> None:
    """Readers load only when a file is read: asking an up-to-date index never does."""
    for workspace in (built_seeds_index, mixed):
        result = run_cli(
            "ask", "how are passages cited", "--seeds", str(workspace["seeds"]), "--index", str(workspace["index"]),
            env={"PYTHONPROFILEIMPORTTIME": "1"},
        )  # fmt: skip
        assert result.returncode in (0, 3), result.stderr
        imported = {line.rsplit("|", 1)[-1].strip() for line in result.stderr.splitlines() if line.startswith("import time:")}
        for module in (
            "pypdfium2",
            "trafilatura",
            "docx",
            "lxml",
            "clusterqa.reading.extraction",
            "clusterqa.reading.pdf_reader",
        ):
            assert module not in imported, (workspace["seeds"], module)


def _blocker(root: Path, *modules: str) -> dict[str, str]:
    """An environment in which importing `modules` fails: proof that a build did not parse those formats."""
    folder = root / "blocked"
    folder.mkdir(exist_ok=True)
    for module in modules:
        (folder / f"{module}.py").write_text(f"raise ImportError('{module} must not be imported here')\n", "utf-8")
    return {"PYTHONPATH": os.pathsep.join([str(folder), os.environ.get("PYTHONPATH", "")])}


def test_changed_pdf_is_the_only_file_extracted_again(mixed: dict[str, Path], tmp_path: Path) -> None:
    work = clone_workspace(mixed, tmp_path / "copy")
    before = {row for row in _passages(work["index"]) if row[0] != "design.pdf"}
    pages = [*DESIGN_PAGES[:2], ("Benchmarks", ["The p99 write latency in the new benchmark was 9 milliseconds."])]
    write_design_pdf(work["seeds"] / "design.pdf", pages)
    # HTML and DOCX files are unchanged: the build must not even import their libraries.
    result = run_cli(
        "index", "--seeds", str(work["seeds"]), "--index", str(work["index"]), env=_blocker(tmp_path, "trafilatura", "docx")
    )
    assert result.returncode == 0, result.stderr
    assert "1 changed" in result.stderr, result.stderr
    after = _passages(work["index"])
    assert {row for row in after if row[0] != "design.pdf"} == before
    code, data, stderr = ask_json(work, "What was the p99 write latency in the benchmark?")
    assert code == 0, stderr
    top = data["passages"][0]
    assert (top["source"], top["page_start"]) == ("design.pdf", 3)
    assert "9 milliseconds" in top["text"]
    # A rebuild from scratch takes every extraction from the cache: no format library is imported.
    rebuilt = run_cli(
        "index", "--rebuild", "--seeds", str(work["seeds"]), "--index", str(work["index"]),
        env=_blocker(tmp_path, "trafilatura", "docx", "pypdfium2"),
    )  # fmt: skip
    assert rebuilt.returncode == 0, rebuilt.stderr
    assert "skipped design.pdf" not in rebuilt.stderr and "skipped handbook.docx" not in rebuilt.stderr
    assert _passages(work["index"]) == after


def _passages(index: Path) -> set[tuple]:
    import sqlite3

    db = sqlite3.connect(f"{(live_generation(index) / 'passages.sqlite').as_uri()}?mode=ro", uri=True)
    try:
        return set(
            db.execute(
                "SELECT d.source, p.text, p.line_start, p.line_end, p.section, p.page_start, p.page_end "
                "FROM passages p JOIN documents d ON d.id = p.document_id"
            )
        )
    finally:
        db.close()


def test_passages_stay_on_their_page_unless_a_sentence_runs_over(tmp_path: Path, encoder_dir: Path) -> None:
    from clusterqa.config import Settings
    from clusterqa.index.planning import chunk_documents
    from clusterqa.reading.documents import SourceFile, read_document

    path = tmp_path / "long.pdf"
    write_long_pdf(path)
    document = read_document(SourceFile(str(path), "long.pdf", path.stat().st_size, 0), 10 * 1024 * 1024)
    assert len(document.pages) >= 2
    lines = document.original.split("\n")
    assert all(not lines[first - 3].endswith(".") for first in document.pages[1:])  # each break is inside a sentence
    chunks = chunk_documents({"long.pdf": document}, encoder_dir, Settings(tmp_path, tmp_path / "index"))["long.pdf"]
    spanning = [c for c in chunks if c.page_start != c.page_end]
    assert len(spanning) == len(document.pages) - 1  # the sentence at each page break
    for c in spanning:
        # It ends with the one sentence that runs over the break, whole.
        last = c.text[c.candidates[-1][0] : c.candidates[-1][1]]
        assert last.startswith("Measurement ") and last.endswith(".") and "\n" in last
        assert c.page_end == c.page_start + 1
    assert [c.page_start for c in chunks] == sorted(c.page_start for c in chunks)


def test_file_over_the_size_limit_is_skipped_with_its_message(tmp_path: Path, encoder_dir: Path) -> None:
    seeds = tmp_path / "seeds"
    seeds.mkdir()
    write_design_pdf(seeds / "design.pdf")
    (seeds / "release-notes.txt").write_text(NOTES, "utf-8")
    size = (seeds / "design.pdf").stat().st_size
    assert size > 1100
    result = run_cli("index", "--seeds", str(seeds), "--index", str(tmp_path / "index"), env={"CLUSTERQA_MAX_FILE_MB": "0.001"})
    assert result.returncode == 0, result.stderr
    limit = "over the 1,048 bytes limit (raise it with CLUSTERQA_MAX_FILE_MB)"
    assert f"skipped design.pdf: is {size:,} bytes, {limit}" in result.stderr


def test_show_of_an_unindexed_file_reads_it_and_refuses_a_locked_one(tmp_path: Path) -> None:
    write_design_pdf(tmp_path / "design.pdf")
    write_encrypted_pdf(tmp_path / "locked.pdf")
    shown = run_cli("show", str(tmp_path / "design.pdf") + ":3", cwd=tmp_path)
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.splitlines()[:2] == ["design.pdf p. 3", "1:Benchmarks"]
    locked = run_cli("show", str(tmp_path / "locked.pdf"), cwd=tmp_path)
    assert locked.returncode == 2
    assert "is an encrypted PDF" in locked.stderr and "Traceback" not in locked.stderr
