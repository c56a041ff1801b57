"""Chunking: passages map back to the exact characters and lines of the file they came from.

The seeds are chunked with the model's real tokenizer; the properties run on generated text with a
deterministic word-piece counter that implements the same `TokenCounter` protocol.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from itertools import pairwise
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from clusterqa.config import ChunkingSettings
from clusterqa.models import Chunk, Document
from clusterqa.reading.chunking import chunk, sentence_spans
from clusterqa.reading.documents import normalize, parse_document

SEEDS = Path(__file__).resolve().parents[1] / "seeds"
SEED_FILES = sorted(p.name for p in SEEDS.glob("*.txt"))
# Pinned explicitly so the exact values below do not move when the defaults are tuned.
PINNED = ChunkingSettings(max_tokens=200, min_tokens=64, overlap_tokens=48)
SMALL = ChunkingSettings(max_tokens=40, min_tokens=10, overlap_tokens=30)


@pytest.fixture(scope="module")
def count(encoder_dir: Path):
    from clusterqa.embedding.encoder import TokenCounter

    return TokenCounter(encoder_dir / "tokenizer.json")


def seed(name: str) -> Document:
    return parse_document(name, (SEEDS / name).read_bytes())


def fake_count(texts: Sequence[str]) -> list[int]:
    """A word-piece-like count: one piece per 4 characters of each whitespace-separated word.

    Additive over words, like the real WordPiece count, so a passage's count is the sum of its sentences'.
    """
    return [sum(1 + len(word) // 4 for word in text.split()) for text in texts]


def normalized_positions(document: Document, c: Chunk) -> range | list[int]:
    """The indexes of `document.text` whose characters come from the chunk's span of the original."""
    if document.offsets is None:
        return range(c.char_start, c.char_end)
    return [i for i, o in enumerate(document.offsets) if c.char_start <= o < c.char_end]


def check_chunks(document: Document, chunks: list[Chunk], count, config: ChunkingSettings, short_words: bool) -> None:
    """Every invariant a citation relies on; raises AssertionError naming the chunk that breaks one."""
    original = document.original
    covered = [False] * len(document.text)
    for i, c in enumerate(chunks):
        where = f"chunk {i} [{c.char_start}:{c.char_end}] of {document.source}"
        assert c.ordinal == i, where
        assert c.source == document.source, where
        assert 0 <= c.char_start < c.char_end <= len(original), where
        assert normalize(original[c.char_start : c.char_end]) == c.text, where
        assert c.text.strip(), where
        assert c.line_start == 1 + original.count("\n", 0, c.char_start), where
        assert c.line_end == 1 + original.count("\n", 0, c.char_end - 1), where
        assert "\n" not in (original[c.char_start], original[c.char_end - 1]), where
        assert c.text_hash == hashlib.sha256(c.text.encode("utf-8")).hexdigest(), where
        if short_words:
            assert count([c.text])[0] <= config.max_tokens, where
        for j in normalized_positions(document, c):
            covered[j] = True
    missing = [j for j, ch in enumerate(document.text) if not ch.isspace() and not covered[j]]
    assert not missing, f"characters of {document.source} in no passage: {[document.text[j] for j in missing[:10]]}"
    for before, after in pairwise(chunks):
        assert after.char_start > before.char_start, (before, after)
        assert after.char_end > before.char_end, (before, after)
        if after.char_start < before.char_end:
            # Overlap repeats the last sentence of a split paragraph, never across a paragraph break.
            repeated = original[after.char_start : before.char_end]
            assert not re.search(r"\n[^\S\n]*\n", repeated), (before, after)
            gap = re.match(r"\s*", original[before.char_end :]).group(0)
            assert gap.count("\n") < 2, (before, after)
            assert count([normalize(repeated)])[0] <= config.overlap_tokens, (before, after)


# ---------------------------------------------------------------------------------------------
# The seeds, with the model's tokenizer


@pytest.mark.parametrize("config", [ChunkingSettings(), PINNED, SMALL], ids=["default", "pinned", "small"])
@pytest.mark.parametrize("name", SEED_FILES)
def test_seed_chunks_map_back_to_the_file(name: str, config: ChunkingSettings, count) -> None:
    document = seed(name)
    chunks = chunk(document, count, config)
    assert chunks
    check_chunks(document, chunks, count, config, short_words=True)


def test_seed_000_chunks_are_pinned(count) -> None:
    document = seed("000_7aa0c03ee5abb184.txt")
    chunks = chunk(document, count, PINNED)
    assert [(c.line_start, c.line_end, c.char_start, c.char_end) for c in chunks] == [
        (1, 7, 0, 649),
        (9, 11, 651, 1267),
        (13, 13, 1269, 1566),
        (15, 25, 1568, 2048),
    ]
    models = [c for c in chunks if "25,000 models" in c.text]
    assert len(models) == 1
    assert (models[0].line_start, models[0].line_end) == (13, 13)
    assert models[0].text.startswith("The Wenzhou Yueqing Electrical Industrial Cluster accounts for 65 percent")
    assert models[0].text.endswith("is often referred to as “China’s Capital of Electric Apparatuses”.")
    # The heading and the dateline are short: they join the paragraph they introduce.
    assert chunks[0].text.startswith(
        "Zhejiang leads in national contest for advanced manufacturing clusters\n\nJuly 31 18:38 2020\n\n"
    )
    # The NBSP after "the" (U+00A0 in the file) is a plain space in the passage, and the span still maps back.
    winners = chunks[1]
    assert "the\u00a0Hangzhou" in document.original[winners.char_start : winners.char_end]
    assert winners.text.startswith("The five winners in Zhejiang are the Hangzhou Digital Security")
    assert "\u00a0" not in "".join(c.text for c in chunks)


def test_seed_004_nbsp_indented_first_paragraph(count) -> None:
    """004 indents a paragraph with NBSPs: the passage starts at the heading, the NBSPs become spaces."""
    document = seed("004_c713f4f810b55861.txt")
    chunks = chunk(document, count, PINNED)
    assert [(c.line_start, c.line_end) for c in chunks] == [(1, 4), (6, 6), (8, 8), (10, 10), (12, 12), (14, 16)]
    first = chunks[0]
    assert first.text.startswith("Jinhua Launches a Three-Year Plan\n\nPost Time: 2020-04-13\n")
    assert "On April 4, Jinhua Municipal Bureau" in first.text
    crystal = [c for c in chunks if "crystal glass" in c.text]
    assert [(c.line_start, c.line_end) for c in crystal] == [(10, 10)]


def test_seed_002_title_line_leading_space_is_not_in_the_span(count) -> None:
    document = seed("002_741e1901b211ff40.txt")
    chunks = chunk(document, count, PINNED)
    assert document.original.startswith(" date 2023-08-17")
    assert (chunks[0].char_start, chunks[0].line_start) == (1, 1)
    assert chunks[0].text.startswith("date 2023-08-17 The first batch")
    pinghu = [c for c in chunks if "Pinghu City was chosen as the core area" in c.text]
    assert [(c.line_start, c.line_end) for c in pinghu] == [(15, 15)]


def test_small_passages_overlap_by_one_sentence_within_a_paragraph(count) -> None:
    """With a small budget a paragraph is split, and the next passage repeats the previous sentence."""
    document = seed("003_085c679cf2ff36d1.txt")
    chunks = chunk(document, count, SMALL)
    overlapping = [(a, b) for a, b in pairwise(chunks) if b.char_start < a.char_end]
    assert overlapping, "a 40-piece budget must split some paragraph of 003"
    for a, b in overlapping:
        repeated = document.original[b.char_start : a.char_end]
        spans = [s for s in sentence_spans(document.text) if s.start >= b.char_start and s.end <= a.char_end]
        assert len(spans) == 1, repeated
        assert a.line_end == b.line_start


def test_one_character_document_and_blank_text() -> None:
    document = parse_document("blank.txt", b"x")
    assert [c.text for c in chunk(document, fake_count, PINNED)] == ["x"]
    assert sentence_spans(" \n\t\u00a0\n") == []


def test_long_sentence_is_cut_at_word_boundaries() -> None:
    words = [f"word{i:03d}" for i in range(120)]
    document = parse_document("long.txt", " ".join(words).encode())
    config = ChunkingSettings(max_tokens=30, min_tokens=5, overlap_tokens=10)
    chunks = chunk(document, fake_count, config)
    assert [c.text.split() for c in chunks] == [words[i : i + 15] for i in range(0, 120, 15)]
    assert all(c.line_start == c.line_end == 1 for c in chunks)
    check_chunks(document, chunks, fake_count, config, short_words=True)


def test_crlf_file_lines_and_spans() -> None:
    data = b"Title here\r\n\r\nFirst paragraph. It has two sentences.\r\n\r\nSecond one.\r\n"
    document = parse_document("crlf.txt", data)
    config = ChunkingSettings(max_tokens=12, min_tokens=1, overlap_tokens=3)
    chunks = chunk(document, fake_count, config)
    assert [(c.line_start, c.line_end, c.text) for c in chunks] == [
        (1, 1, "Title here"),
        (3, 3, "First paragraph. It has two sentences."),
        (5, 5, "Second one."),
    ]
    assert document.original[chunks[1].char_start : chunks[1].char_end] == "First paragraph. It has two sentences."
    check_chunks(document, chunks, fake_count, config, short_words=True)


def test_ligature_and_nbsp_map_back() -> None:
    data = "The \ufb01rst\u00a0cluster.\n\nA second\u00a0\u00a0paragraph with ﬀ and ¼.\n".encode()
    document = parse_document("lig.txt", data)
    assert document.text == "The first cluster.\n\nA second  paragraph with ff and 1⁄4.\n"
    config = ChunkingSettings(max_tokens=12, min_tokens=1, overlap_tokens=2)
    chunks = chunk(document, fake_count, config)
    assert [(c.text, c.line_start) for c in chunks] == [
        ("The first cluster.", 1),
        ("A second  paragraph with ff and 1⁄4.", 3),
    ]
    assert document.original[chunks[0].char_start : chunks[0].char_end] == "The \ufb01rst\u00a0cluster."
    check_chunks(document, chunks, fake_count, config, short_words=False)


@pytest.mark.parametrize(
    ("original", "sentences"),
    [
        ("你好！我很好。他也好？是的", ["你好!", "我很好。", "他也好?", "是的"]),
        ("Dr. Wang met Mr. Li. They agreed.", ["Dr. Wang met Mr. Li.", "They agreed."]),
        ("It grew 5 p.c. in total. J. Smith said so! ok? Fine.", ["It grew 5 p.c. in total.", "J. Smith said so! ok?", "Fine."]),
        ('He said "Done." Then left.', ['He said "Done."', "Then left."]),
        ("Yahoo!Japan and 3.14 stay whole.", ["Yahoo!Japan and 3.14 stay whole."]),
        ("line one\nline two\n\npara two", ["line one", "line two", "para two"]),
    ],
    ids=["cjk", "abbreviations", "initials-lowercase", "quote", "no-space", "lines"],
)
def test_sentence_boundaries(original: str, sentences: list[str]) -> None:
    text = normalize(original)
    assert [text[s.start : s.end] for s in sentence_spans(text)] == sentences


def test_paragraphs_are_blank_line_separated() -> None:
    text = "a\nb\n\nc\n \t\nd\r\n\r\ne"
    assert [(text[s.start : s.end], s.paragraph) for s in sentence_spans(text)] == [
        ("a", 0),
        ("b", 0),
        ("c", 1),
        ("d", 2),
        ("e", 3),
    ]


# ---------------------------------------------------------------------------------------------
# Properties over generated text

_PIECES = [
    " ",
    "  ",
    "\n",
    "\n\n",
    "\r\n",
    "\r\n\r\n",
    "\t",
    "\u00a0",
    "\u3000",
    "\u2028",
    ". ",
    "? ",
    "! ",
    '." ',
    "。",
    "！",
    "…",
    "...",
    "Mr. ",
    "e.g. ",
    "A. ",
    "\ufb01",
    "\ufb00",
    "e\u0301",
    "\u0301",
    "\u00a8",
    "\u00b4",
    "\u2474",
    "\u00bd",
    "Ⅻ",
    "ｈｅｌｌｏ",
    "가",
    "\u1100\u1161",
    "中文",
    "😀",
    "word",
    "Cluster",
    "lower",
    "25,000",
    "#",
]
_words = st.text(alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=6)
_texts = st.lists(st.one_of(st.sampled_from(_PIECES), _words), min_size=1, max_size=60).map("".join)
_long_lines = st.builds(
    lambda word, n, sep: sep.join([word] * n),
    st.sampled_from(["abc", "ﬁx", "e\u0301t\u00e9", "x" * 7]),
    st.integers(100, 400),
    st.sampled_from([" ", "\u00a0", " \u00a0"]),
)
_configs = st.builds(
    lambda mx, mn, ov: ChunkingSettings(max_tokens=mx, min_tokens=min(mn, mx), overlap_tokens=min(ov, mx)),
    st.integers(2, 40),
    st.integers(0, 40),
    st.integers(0, 40),
)


def _document(text: str) -> Document | None:
    try:
        return parse_document("gen.txt", text.encode("utf-8"))
    except ValueError:
        return None  # empty or whitespace only: not a document


def _short_words(document: Document, config: ChunkingSettings) -> bool:
    return all(fake_count([w])[0] <= config.max_tokens for w in document.text.split())


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=st.one_of(_texts, _long_lines), config=_configs)
@example(text="\u00a8b", config=PINNED)
@example(text="a \u0301b. C", config=PINNED)
@example(text="a\n\u0344x. Next one", config=ChunkingSettings(2, 1, 1))
@example(text="Title\r\n\r\nBody\u00a0text. More\u00a0text.\r\n", config=ChunkingSettings(3, 1, 2))
@example(text="no punctuation at all " * 80, config=ChunkingSettings(7, 3, 5))
def test_chunks_map_back_and_cover_everything(text: str, config: ChunkingSettings) -> None:
    document = _document(text)
    if document is None:
        return
    chunks = chunk(document, fake_count, config)
    assert chunks
    check_chunks(document, chunks, fake_count, config, short_words=_short_words(document, config))


@settings(max_examples=100, deadline=None)
@given(text=_texts)
def test_sentences_are_trimmed_ordered_and_disjoint(text: str) -> None:
    normalized = normalize(text)
    spans = sentence_spans(normalized)
    for span in spans:
        piece = normalized[span.start : span.end]
        assert piece and piece == piece.strip()
    for a, b in pairwise(spans):
        assert a.end <= b.start
        assert a.paragraph <= b.paragraph <= a.paragraph + 1
    inside = {i for s in spans for i in range(s.start, s.end)}
    assert all(normalized[i].isspace() for i in range(len(normalized)) if i not in inside)
