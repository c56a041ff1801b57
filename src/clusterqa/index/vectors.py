"""Vectors for a build's passages and their answer sentences: from the cache where the text was
seen before, else from one forward pass per passage, streamed in windows so memory is bounded by
a window, not by the corpus."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import numpy as np

from ..models import Chunk, Progress
from .cache import EmbeddingCache

WINDOW = 512  # passages looked up and embedded together (sorted by length inside the window)
# Passages per forward pass. Measured on 2 cores: batches of 8 run as fast as 4 and faster than
# 16 or 32 (1.3x), and onnxruntime's working memory grows with the batch (peak RSS of a build:
# 340 MB at 8, 550 MB at 16, 980 MB at 32).
BATCH = 8
GROUP = 64  # passages embedded, then cached, together: a killed build loses at most a group
SentenceRow = tuple[int, int, int, int, bytes, bytes]


def sentence_key(chunk: Chunk) -> str:
    """A passage's sentence vectors depend on its text and on which spans are its sentences."""
    spans = ";".join(f"{s},{e}" for s, e, _ in chunk.candidates)
    return hashlib.sha256(f"{chunk.text_hash}|{spans}".encode()).hexdigest()


def live_keys(chunks: Sequence[Chunk], with_sentences: bool) -> tuple[set[str], set[str]]:
    """The passage hashes and sentence keys of a generation's passages: what its embedding cache keeps."""
    sentences = {sentence_key(c) for c in chunks if c.candidates} if with_sentences else set()
    return {c.text_hash for c in chunks}, sentences


class PassageVectors:
    """Fills `out` (one row per chunk) and yields the catalog's sentence rows, in passage order."""

    def __init__(
        self,
        cache: EmbeddingCache,
        encoder_dir: Path,
        chunks: Sequence[Chunk],
        with_sentences: bool,
        progress: Progress | None = None,
        warn: Callable[[str], None] | None = None,
    ) -> None:
        self.cache = cache
        self.warn = warn
        self.encoder_dir = encoder_dir
        self.chunks = chunks
        self.with_sentences = with_sentences
        self.progress = progress
        self.out = np.zeros((len(chunks), cache.dim), dtype=np.float32)
        self.to_embed = len(cache.missing(c.text_hash for c in chunks))  # for the progress bar's total
        self.embedded = 0  # passages run through the model
        self._encoder = None

    def live_keys(self) -> tuple[set[str], set[str]]:
        """The passage hashes and sentence keys this build holds (the cache keeps only these)."""
        return live_keys(self.chunks, self.with_sentences)

    def sentence_rows(self) -> Iterator[SentenceRow]:
        if self.progress and self.to_embed:
            self.progress("embedding", 0, self.to_embed)
        for first in range(0, len(self.chunks), WINDOW):
            window = self.chunks[first : first + WINDOW]
            passages, sentences = self._window_vectors(window)
            for offset, c in enumerate(window):
                pid = first + offset
                self.out[pid] = passages[c.text_hash]
                if self.with_sentences and c.candidates:
                    yield from _rows(pid, c, sentences[sentence_key(c)])
        self._encoder = None  # onnxruntime's working memory goes before the catalog and FAISS files are finished

    def _window_vectors(self, window: Sequence[Chunk]) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
        passages = self.cache.get(c.text_hash for c in window)
        sentences = self.cache.get_sentences(sentence_key(c) for c in window if c.candidates) if self.with_sentences else {}
        todo: dict[str, Chunk] = {}
        for c in window:
            lacks_sentences = self.with_sentences and c.candidates and sentence_key(c) not in sentences
            if c.text_hash not in passages or lacks_sentences:
                todo.setdefault(sentence_key(c), c)
        if not todo:
            return passages, sentences
        chunks = sorted(todo.values(), key=lambda c: len(c.text))  # batches of like length: little padding
        for first in range(0, len(chunks), GROUP):
            part = chunks[first : first + GROUP]
            vectors, pooled = self._encoder_ready().encode_passages(
                [c.text for c in part], [[(s, e) for s, e, _ in c.candidates] for c in part], batch_size=BATCH
            )
            new_passages = [c.text_hash not in passages for c in part]
            keyed = [(sentence_key(c), rows) for c, rows in zip(part, pooled, strict=True) if c.candidates]
            # Committed per batch: a killed build keeps what it embedded.
            self.cache.put([c.text_hash for c in part], vectors, keyed if self.with_sentences else ())
            passages.update((c.text_hash, v) for c, v in zip(part, vectors, strict=True))
            sentences.update((k, rows.astype(np.float16)) for k, rows in keyed)
            self.embedded += sum(new_passages)
            if self.progress:
                self.progress("embedding", min(self.embedded, self.to_embed), self.to_embed)
        return passages, sentences

    def _encoder_ready(self):  # -> OnnxEncoder
        if self._encoder is None:
            from ..embedding.encoder import open_build_encoder

            self._encoder = open_build_encoder(self.encoder_dir, self.warn)
        return self._encoder


def _rows(pid: int, chunk: Chunk, vectors: np.ndarray) -> Iterator[SentenceRow]:
    """The catalog's sentence rows of one passage: offsets plus float16 vectors of the sentence and its context.

    The context vector (this sentence with the one before it) is the normalized sum of the two
    sentence vectors rather than a vector of its own: the pooled sentence tokens have already
    seen the whole passage.
    """
    previous: np.ndarray | None = None
    for (start, end, context_start), own16 in zip(chunk.candidates, vectors, strict=True):
        own = own16.astype(np.float32)
        context = own
        if previous is not None and context_start < start:
            joined = previous + own
            context = joined / max(float(np.linalg.norm(joined)), 1e-12)
        yield pid, start, end, context_start, own.astype(np.float16).tobytes(), context.astype(np.float16).tobytes()
        previous = own
