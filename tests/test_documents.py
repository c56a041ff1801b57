"""Reading documents: decoding, NFKC normalization with offsets, title and date, the awkward files."""

from __future__ import annotations

import hashlib
import os
import unicodedata
from itertools import pairwise
from pathlib import Path

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from clusterqa.errors import NoDocumentsError
from clusterqa.reading.documents import (
    normalize,
    normalize_with_offsets,
    parse_document,
    read_document,
    scan,
    title_and_date,
)

SEEDS = Path(__file__).resolve().parents[1] / "seeds"

SEED_HEADERS = {
    "000_7aa0c03ee5abb184.txt": ("Zhejiang leads in national contest for advanced manufacturing clusters", "2020-07-31"),
    "001_419d53de9b1592ca.txt": ("China announced the list of 45 national advanced manufacturing clusters", None),
    "002_741e1901b211ff40.txt": (
        "The first batch of provincial small and medium-sized industrial clusters announced that "
        "3 industrial clusters in our city were selected",
        "2023-08-17",
    ),
    "003_085c679cf2ff36d1.txt": (
        "Ruisi, Zhejiang: What is the secret of persistent growth in Zhejiang manufacturing enterprises?",
        None,
    ),
    "004_c713f4f810b55861.txt": ("Jinhua Launches a Three-Year Plan", "2020-04-13"),
}


def read_seed(name: str):
    files = {f.source: f for f in scan(SEEDS).files}
    return read_document(files[name], 10 * 1024 * 1024)


def check_offsets(original: str, text: str, offsets) -> None:
    """Each normalized char comes from the original char its offset names, cluster by cluster."""
    if offsets is None:
        assert text == original
        return
    assert len(offsets) == len(text)
    assert list(offsets) == sorted(offsets)
    assert all(0 <= o < len(original) for o in offsets)
    starts = sorted(set(offsets)) + [len(original)]
    for a, b in pairwise(starts):
        piece = "".join(text[i] for i, o in enumerate(offsets) if o == a)
        assert normalize(original[a:b]) == piece, (a, b)


# ---------------------------------------------------------------------------------------------
# The seeds


def test_scan_finds_the_five_seeds_in_order() -> None:
    found = scan(SEEDS)
    assert [f.source for f in found.files] == list(SEED_HEADERS)
    assert found.skipped == ()
    assert [f.size for f in found.files] == [2060, 2423, 3820, 4822, 3514]


@pytest.mark.parametrize("name", list(SEED_HEADERS))
def test_seed_title_date_and_hash(name: str) -> None:
    document = read_seed(name)
    assert (document.title, document.date) == SEED_HEADERS[name]
    assert document.source == name
    assert document.sha256 == hashlib.sha256((SEEDS / name).read_bytes()).hexdigest()
    assert document.original == (SEEDS / name).read_text("utf-8")
    assert document.text == unicodedata.normalize("NFKC", document.original)
    assert "\u00a0" not in document.text
    check_offsets(document.original, document.text, document.offsets)


def test_seed_004_nbsp_become_spaces_and_offsets_map_back() -> None:
    document = read_seed("004_c713f4f810b55861.txt")
    assert document.original.count("\u00a0") == 44
    assert document.offsets is not None
    i = document.text.index("announced that it has launched")
    j = i + len("announced that it has launched")
    start, end = document.original_span(i, j)
    assert document.original[start:end] == "announced that it has\u00a0launched"
    # The paragraph is indented with NBSPs in the file: line 4 starts with them.
    line4 = document.original.split("\n")[3]
    assert line4.startswith("\u00a0 \u00a0 \u00a0On April 4, Jinhua")
    assert document.text.split("\n")[3].startswith("     On April 4, Jinhua")


def test_seed_000_right_single_quote_is_kept() -> None:
    """NFKC keeps typographic quotes; only compatibility characters (NBSP) change."""
    document = read_seed("000_7aa0c03ee5abb184.txt")
    assert "country’s security and protection industry" in document.text
    assert document.text.count("\u00a0") == 0
    assert document.original.count("\u00a0") == 4
    assert len(document.text) == len(document.original) == 2048


# ---------------------------------------------------------------------------------------------
# Awkward inputs


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", "is empty"),
        (b" \n\t\r\n  \n", "is empty"),
        ("\u00a0\u3000\n".encode(), "is empty"),
        (b"\xef\xbb\xbf", "is empty"),
        (b"PK\x03\x04\x00\x00binary\x00", "looks binary (contains NUL bytes)"),
        (
            bytes(range(1, 256)) * 4,
            "is not UTF-8 (bad byte at offset 127) and no text encoding fits it; convert it to UTF-8",
        ),
        ("Ünïcödé".encode("utf-16"), "looks binary (contains NUL bytes)"),
    ],
    ids=["empty", "whitespace", "unicode-whitespace", "bom-only", "nul", "not-text", "utf16"],
)
def test_unreadable_content_is_refused_with_the_reason(data: bytes, reason: str) -> None:
    with pytest.raises(ValueError) as caught:
        parse_document("x.txt", data)
    assert str(caught.value) == reason


def test_over_the_size_limit_says_both_sizes() -> None:
    with pytest.raises(ValueError) as caught:
        parse_document("big.txt", b"a" * 3000, max_bytes=2048)
    assert str(caught.value) == "is 3,000 bytes, over the 2,048 bytes limit (raise it with CLUSTERQA_MAX_FILE_MB)"
    with pytest.raises(ValueError) as caught:
        parse_document("big.txt", b"word " * (3 * 1024 * 1024), max_bytes=10 * 1024 * 1024)
    assert str(caught.value) == "is 15 MB, over the 10 MB limit (raise it with CLUSTERQA_MAX_FILE_MB)"
    assert parse_document("fits.txt", b"a" * 2048, max_bytes=2048).text == "a" * 2048


def test_read_document_refuses_a_big_file_from_its_size(tmp_path: Path) -> None:
    seeds = tmp_path / "seeds"
    seeds.mkdir()
    with open(seeds / "huge.txt", "wb") as handle:
        handle.truncate(11 * 1024 * 1024 + 524288)  # sparse: no data written
    (file,) = scan(seeds).files
    with pytest.raises(ValueError) as caught:
        read_document(file, 10 * 1024 * 1024)
    assert str(caught.value) == "is 11.5 MB, over the 10 MB limit (raise it with CLUSTERQA_MAX_FILE_MB)"


def test_utf8_bom_is_dropped_from_the_text_but_not_the_hash() -> None:
    data = b"\xef\xbb\xbfBOM title\n\nBody text.\n"
    document = parse_document("bom.txt", data)
    assert document.title == "BOM title"
    assert document.original == "BOM title\n\nBody text.\n"
    assert document.text == document.original
    assert document.sha256 == hashlib.sha256(data).hexdigest()


def test_crlf_line_endings() -> None:
    data = b"CRLF title\r\n\r\nPosted: 2021-03-05\r\nBody line one.\r\nBody line two.\r\n"
    document = parse_document("crlf.txt", data)
    assert (document.title, document.date) == ("CRLF title", "2021-03-05")
    assert document.original == data.decode()
    assert document.original.count("\n") == 5


@pytest.mark.parametrize(
    ("text", "title", "when"),
    [
        ("# A Markdown Title\n\nBody.\n", "A Markdown Title", None),
        ("\n\n  ## Second level  \nBody.\n", "Second level", None),
        ("#NoSpace\nBody.\n", "NoSpace", None),
        ("Title\n\n31 July 2020\n", "Title", "2020-07-31"),
        ("Title\nPublished: Aug. 17th, 2023\n", "Title", "2023-08-17"),
        ("Title\n2019/02/03\n", "Title", "2019-02-03"),
        ("标题\n2020年7月31日\n", "标题", "2020-07-31"),
        ("date 2023-08-17 Title after a date\nbody\n", "Title after a date", "2023-08-17"),
        ("Title\n2023-02-30 is not a date\n", "Title", None),
        ("Title\na\nb\nc\nd\nSept 1, 2020 is below the header\n", "Title", None),
        ("Title\n\u00a0July\u00a031,\u00a02020\n", "Title", "2020-07-31"),
    ],
)
def test_title_and_date(text: str, title: str, when: str | None) -> None:
    document = parse_document("doc.md", text.encode())
    assert (document.title, document.date) == (title, when)
    assert title_and_date(normalize(text)) == (title, when)


def test_ligatures_and_fullwidth_are_normalized_with_offsets() -> None:
    original = "The \ufb01rst ｃｌｕｓｔｅｒ ① e\u0301\n"
    text, offsets = normalize_with_offsets(original)
    assert text == "The first cluster 1 é\n"
    assert text == unicodedata.normalize("NFKC", original)
    check_offsets(original, text, offsets)
    assert offsets[4] == offsets[5] == 4  # "fi" both come from the ligature
    assert offsets[text.index("é")] == original.index("e\u0301")


def test_already_normalized_text_has_no_offsets() -> None:
    assert normalize_with_offsets("plain ascii\n") == ("plain ascii\n", None)


_alphabet = st.characters(blacklist_categories=("Cs",))
_pieces = st.sampled_from(
    ["\u00a0", "\ufb01", "e\u0301", "\u00a8", "\n\u0344", " \u0301", "\u1100\u1161", "ｈ", "\r\n", "\u2474"]
)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.one_of(st.text(_alphabet, max_size=8), _pieces), max_size=30).map("".join))
@example("a\u00a8b")
@example("\n\u0344x")
def test_normalization_offsets_map_back(original: str) -> None:
    text, offsets = normalize_with_offsets(original)
    assert normalize(original) == text
    assert unicodedata.is_normalized("NFKC", text) or offsets is not None
    check_offsets(original, text, offsets)
    # The line a normalized character is on is the line its source character is on.
    if offsets is not None:
        for i in range(len(text)):
            assert text.count("\n", 0, i) == original.count("\n", 0, offsets[i]), i


# ---------------------------------------------------------------------------------------------
# Scanning a folder


def test_scan_recurses_and_keeps_only_visible_txt_and_md(tmp_path: Path) -> None:
    root = tmp_path / "docs"
    (root / "b" / "deeper").mkdir(parents=True)
    (root / ".hidden").mkdir()
    (root / "a.txt").write_text("a")
    (root / "UPPER.TXT").write_text("u")
    (root / "notes.md").write_text("# n")
    (root / "b" / "c.txt").write_text("c")
    (root / "b" / "deeper" / "d.md").write_text("d")
    (root / "image.png").write_bytes(b"\x89PNG")
    (root / "sheet.xlsx").write_bytes(b"PK\x03\x04")  # not a format clusterqa reads (.html is, see test_formats.py)
    (root / "data.txt.bak").write_text("no")
    (root / ".secret.txt").write_text("hidden")
    (root / ".hidden" / "inside.txt").write_text("hidden")
    found = scan(root)
    assert [f.source for f in found.files] == ["UPPER.TXT", "a.txt", "notes.md", "b/c.txt", "b/deeper/d.md"]
    assert found.skipped == ()
    assert found.files[0].path == root / "UPPER.TXT"
    assert found.files[3].size == 1


def test_scan_reports_what_it_cannot_read(tmp_path: Path) -> None:
    root = tmp_path / "docs"
    root.mkdir()
    (root / "good.txt").write_text("good")
    os.symlink(root / "missing-target.txt", root / "broken.txt")
    os.mkfifo(root / "pipe.txt")
    found = scan(root)
    assert [f.source for f in found.files] == ["good.txt"]
    assert [(s.source, s.reason) for s in found.skipped] == [
        ("broken.txt", "cannot be read (No such file or directory)"),
        ("pipe.txt", "is not a regular file"),
    ]


def test_scan_of_an_empty_folder_finds_nothing(tmp_path: Path) -> None:
    found = scan(tmp_path)
    assert (found.files, found.skipped) == ((), ())


def test_scan_of_a_missing_folder_says_what_to_do(tmp_path: Path) -> None:
    missing = tmp_path / "nope"
    with pytest.raises(NoDocumentsError) as caught:
        scan(missing)
    assert str(caught.value) == f"seeds folder {missing} does not exist; create it or pass --seeds DIR"


def test_scan_of_a_file_instead_of_a_folder(tmp_path: Path) -> None:
    file = tmp_path / "one.txt"
    file.write_text("x")
    with pytest.raises(NoDocumentsError, match="is not a folder; pass --seeds DIR"):
        scan(file)
