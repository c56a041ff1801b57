"""The question-time encoder: an exported ONNX model run with onnxruntime and tokenizers.

Importing this module costs numpy only; onnxruntime and tokenizers load when an encoder is
opened. Nothing here imports torch.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from .errors import IndexCorruptError

ENCODER_FILE = "encoder.json"
MODEL_FILE = "model.onnx"
DATA_FILE = "model.onnx.data"
TOKENIZER_FILE = "tokenizer.json"
PROBES_FILE = "probes.npy"
OPTIMIZED_FILE = "model.optimized.onnx"  # graph already fused at export: loads ~20 ms faster


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
        if not texts:
            return out
        encodings = self.tokenizer.encode_batch(list(texts))
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
            out[rows] = self.session.run(None, feeds)[0]
        return normalize_rows(out)


def load_in_background(directory: Path) -> Callable[[], OnnxEncoder]:
    """Start loading the encoder in a thread; the returned function waits for it.

    Importing onnxruntime and building its session take most of a cold question's time and
    spend it largely outside the GIL, so they overlap with the index checks and FAISS loading.
    """
    import threading

    result: dict[str, object] = {}

    def load() -> None:
        try:
            result["encoder"] = OnnxEncoder(directory)
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
        encodings = self.tokenizer.encode_batch(list(texts), add_special_tokens=False)
        return [len(e.ids) for e in encodings]
