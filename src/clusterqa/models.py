"""Frozen dataclasses handed between layers."""

from __future__ import annotations

from array import array
from collections.abc import Callable
from dataclasses import dataclass, field

# A build's progress: (stage, done, total), e.g. ("embedding", 512, 19933).
Progress = Callable[[str, int, int], None]


@dataclass(frozen=True)
class Block:
    """A located piece of a document's layout: [start, end) of its normalized text.

    kind: "prose" (sentences, answer candidates), "heading", or a block that is searchable but never
    an answer and never shares a passage with prose: "code", "table", "list", "other".
    """

    start: int
    end: int
    kind: str = "prose"
    section: str = ""  # heading path, " › "-joined; a heading's own path includes itself

    def __post_init__(self) -> None:
        if not 0 <= self.start < self.end:
            raise ValueError(f"bad block span {self.start}..{self.end}")


@dataclass(frozen=True)
class Document:
    """One readable file under the seeds folder, its text NFKC-normalized."""

    source: str  # path relative to the seeds folder, with '/' separators
    title: str
    date: str | None  # ISO 8601 (YYYY-MM-DD) when the text states one
    text: str  # normalized text
    original: str  # decoded file text, what line and char offsets refer to
    sha256: str  # of the file's bytes
    offsets: array | None = field(default=None, repr=False, compare=False)
    # offsets[i] is where normalized char i starts in `original`; None when identical.
    blocks: tuple[Block, ...] = field(default=(), repr=False, compare=False)
    # The reader's layout; () means plain text (paragraphs of prose). Front matter is in no block.
    encoding: str = "utf-8"  # how the file's bytes were decoded
    pages: tuple[int, ...] = field(default=(), repr=False, compare=False)
    # A paged format (PDF): the 1-based line of `original` each page starts on; () for the others.

    def original_span(self, start: int, end: int) -> tuple[int, int]:
        """Map a [start, end) span of `text` back to `original`."""
        if self.offsets is None:
            return start, end
        orig_end = self.offsets[end] if end < len(self.offsets) else len(self.original)
        return self.offsets[start], orig_end


@dataclass(frozen=True)
class DocumentInfo:
    """What the catalog keeps of a document besides its passages."""

    source: str
    title: str
    date: str | None
    sha256: str


@dataclass(frozen=True)
class Skipped:
    """A file under the seeds folder that was not indexed, and why."""

    source: str
    reason: str


@dataclass(frozen=True)
class Chunk:
    """A passage: a span of a document's normalized text with its place in the original file."""

    source: str
    ordinal: int
    text: str
    char_start: int  # in the original file text
    char_end: int
    line_start: int  # 1-based, inclusive
    line_end: int
    text_hash: str
    section: str = ""  # heading path, " › "-joined ("Install › Linux"); "" outside any section
    # Answer candidates: (start, end, context_start) offsets in `text`; the context span
    # [context_start, end) adds the sentence before. Code, tables and lists are never candidates.
    candidates: tuple[tuple[int, int, int], ...] = ()
    # Paged formats: the pages the passage lies on, and line_start/line_end count within them.
    page_start: int | None = None
    page_end: int | None = None

    def __post_init__(self) -> None:
        if not (0 <= self.char_start < self.char_end):
            raise ValueError(f"bad span {self.char_start}..{self.char_end} in {self.source}")
        if self.page_start != self.page_end and (self.page_start is None or self.page_end is None):
            raise ValueError(f"bad pages {self.page_start}..{self.page_end} in {self.source}")
        if self.page_start is not None and self.page_end is not None and self.page_end < self.page_start:
            raise ValueError(f"bad pages {self.page_start}..{self.page_end} in {self.source}")
        if self.page_start == self.page_end and self.line_end < self.line_start:
            raise ValueError(f"bad lines {self.line_start}..{self.line_end} in {self.source}")


@dataclass(frozen=True)
class Passage:
    """A stored passage with the document fields a citation needs."""

    id: int
    source: str
    title: str
    date: str | None
    text: str
    char_start: int
    char_end: int
    line_start: int
    line_end: int
    section: str = ""
    page_start: int | None = None  # paged formats (PDF); lines count within the page
    page_end: int | None = None


@dataclass(frozen=True)
class Hit:
    passage: Passage
    rank: int
    score: float  # fused score, higher is better
    dense_score: float | None  # cosine similarity with the question
    also_in: tuple[Passage, ...] = ()  # near-duplicate passages folded into this one
    highlight: tuple[int, int] | None = None  # span of the best-matching sentence in passage.text


@dataclass(frozen=True)
class Answer:
    text: str
    source: str
    line: int
    score: float
    hit_rank: int
    page: int | None = None  # paged formats: the page `line` counts in


@dataclass(frozen=True)
class AskResult:
    question: str
    hits: tuple[Hit, ...]
    answer: Answer | None
    confident: bool
    confidence: float  # probability that the best sentence answers the question (see answering/answer.py)
    documents: int
    reason: str | None = None  # why there is no confident answer, in words
    best: Answer | None = None  # the best sentence even when not confident (for evaluation)


@dataclass(frozen=True)
class Retrieval:
    """Which retrievers run and how their lists are fused."""

    mode: str = "hybrid"  # hybrid | dense | lexical
    fusion: str = "convex"  # convex | rrf
    alpha: float = 0.5  # dense weight for convex fusion


@dataclass(frozen=True)
class CosineScale:
    """a * cosine + b: an encoder's cosines on the scale of the encoder that thresholds and the answer
    model were fitted with (all-MiniLM-L6-v2); fitted per encoder by benchmarks/fit_cosine_scales.py."""

    a: float = 1.0
    b: float = 0.0

    def __call__(self, cosine):  # noqa: ANN001, ANN204 - a float or a numpy array
        return cosine if (self.a, self.b) == (1.0, 0.0) else self.a * cosine + self.b


IDENTITY = CosineScale()
