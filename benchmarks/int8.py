"""Would an int8 encoder (onnxruntime dynamic quantization) be safe and faster?

Quantizes the exported float encoder in a few configurations and applies the export's own
fidelity gate: the same top-10 passages for every development question (dense retrieval over
the seeds' passages), plus the cosine agreement with the float vectors on SciFact abstracts and
the encoding speed of both. clusterqa ships an int8 encoder only if a configuration passes.

    python benchmarks/int8.py
"""

from __future__ import annotations

import json
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SCIFACT = ROOT.parent / "shared" / "bench" / "scifact" / "corpus.jsonl"
CONFIGS = {
    "default": {},
    "per-channel": {"per_channel": True},
    "per-channel, MatMul only": {"per_channel": True, "op_types_to_quantize": ["MatMul"]},
    "reduce-range, per-channel": {"per_channel": True, "reduce_range": True},
}


def main() -> None:
    from onnxruntime.quantization import QuantType, quantize_dynamic

    from clusterqa.config import DEFAULT_MODEL, resolve_settings
    from clusterqa.embedding.encoder import OnnxEncoder, TokenCounter
    from clusterqa.embedding.encoder_store import ensure_encoder
    from clusterqa.reading.chunking import chunk
    from clusterqa.reading.documents import parse_document

    source, _ = ensure_encoder(DEFAULT_MODEL, warn=lambda m: print(m, file=sys.stderr))
    settings = resolve_settings(ROOT / "seeds", Path(tempfile.gettempdir()) / "unused")
    count = TokenCounter(source / "tokenizer.json")
    passages = [
        c.text
        for p in sorted((ROOT / "seeds").rglob("*.txt"))
        for c in chunk(parse_document(p.name, p.read_bytes()), count, settings.chunking)
    ]
    questions = [json.loads(line)["question"] for line in (ROOT / "tests" / "seed_questions.jsonl").open()]
    abstracts = [json.loads(line) for line in SCIFACT.open()][:200]
    texts = [f"{d['title']} {d['text']}" for d in abstracts]

    float_encoder = OnnxEncoder(source)
    reference = float_encoder.encode(texts)
    float_top = _top10(float_encoder, passages, questions)
    float_time = _timed(float_encoder, texts[:50])
    print(f"{'config':28} {'cos min':>8} {'cos median':>10} {'same top-10':>11} {'s (float)':>9} {'s (int8)':>9}")
    with tempfile.TemporaryDirectory() as tmp:
        for name, options in CONFIGS.items():
            target = Path(tmp) / name.replace(" ", "_").replace(",", "")
            shutil.copytree(source, target, ignore=shutil.ignore_patterns("model.optimized.onnx", "model.onnx.data"))
            quantize_dynamic(str(source / "model.onnx"), str(target / "model.onnx"), weight_type=QuantType.QInt8, **options)
            encoder = OnnxEncoder(target)
            cosines = (encoder.encode(texts) * reference).sum(axis=1)
            same = sum(a == b for a, b in zip(_top10(encoder, passages, questions), float_top, strict=True))
            # Speed matters only for a configuration that passes the gate.
            speed = f"{_timed(encoder, texts[:50]):9.1f}" if same == len(questions) else f"{'(failed)':>9}"
            agreement = f"{cosines.min():8.4f} {float(np.median(cosines)):10.4f} {same:>5}/{len(questions):<5}"
            print(f"{name:28} {agreement} {float_time:9.1f} {speed}")


def _top10(encoder, passages: list[str], questions: list[str]) -> list[list[int]]:  # noqa: ANN001
    scores = encoder.encode(questions) @ encoder.encode(passages).T
    return [list(np.argsort(-row, kind="stable")[:10]) for row in scores]


def _timed(encoder, texts: list[str]) -> float:  # noqa: ANN001
    samples = []
    for _ in range(3):
        started = time.perf_counter()
        encoder.encode(texts)
        samples.append(time.perf_counter() - started)
    return statistics.median(samples)


if __name__ == "__main__":
    main()
