"""The ONNX question encoder against sentence-transformers, and what a question imports."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from clusterqa.embedding.encoder import DATA_FILE, MODEL_FILE, PROBES_FILE, OnnxEncoder
from clusterqa.embedding.export import MIN_COSINE, check_fidelity, load_sentence_transformer
from clusterqa.errors import EncoderFidelityError
from clusterqa.index.catalog import Catalog
from clusterqa.index.store import Store
from conftest import load_questions


def test_export_keeps_weights_in_a_readable_external_data_file(encoder_dir: Path) -> None:
    assert (encoder_dir / MODEL_FILE).stat().st_size < 5_000_000  # the graph, not the weights
    data = encoder_dir / DATA_FILE
    assert data.stat().st_size > 80_000_000  # MiniLM-L6's weights
    assert stat.S_IMODE(data.stat().st_mode) == 0o644


def test_fidelity_check_passes_and_fails_loudly(encoder_dir: Path, tmp_path: Path) -> None:
    assert check_fidelity(encoder_dir) >= MIN_COSINE
    broken = tmp_path / "encoder"
    shutil.copytree(encoder_dir, broken)
    probes = np.load(broken / PROBES_FILE)
    probes[1] = probes[2]  # a probe embedding that the encoder will not reproduce
    np.save(broken / PROBES_FILE, probes)
    with pytest.raises(EncoderFidelityError, match="disagrees with sentence-transformers"):
        check_fidelity(broken)


def test_onnx_and_sentence_transformers_rank_the_same_top_10(built_seeds_index: dict[str, Path], encoder_dir: Path) -> None:
    generation = Store(built_seeds_index["index"]).current()
    catalog = Catalog(generation.catalog)
    try:
        passages = catalog.passages(range(generation.manifest["passages"]))
    finally:
        catalog.close()
    texts = [passages[i].text for i in sorted(passages)]
    questions = [q["question"] for q in load_questions()]

    onnx = OnnxEncoder(encoder_dir)
    st = load_sentence_transformer("all-MiniLM-L6-v2")
    onnx_scores = onnx.encode(questions) @ onnx.encode(texts).T
    st_scores = st.encode(questions, normalize_embeddings=True) @ st.encode(texts, normalize_embeddings=True).T

    for question, a, b in zip(questions, onnx_scores, st_scores, strict=True):
        assert list(np.argsort(-a, kind="stable")[:10]) == list(np.argsort(-b, kind="stable")[:10]), question
        assert np.allclose(a, b, atol=1e-4), question


def test_a_question_never_imports_torch_or_sentence_transformers(built_seeds_index: dict[str, Path]) -> None:
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "clusterqa", "ask", "Where is Pinghu?", "--json",
         "--seeds", str(built_seeds_index["seeds"]), "--index", str(built_seeds_index["index"])],
        capture_output=True, text=True, timeout=120, env={**os.environ, "HF_HUB_OFFLINE": "1"},
    )  # fmt: skip
    assert result.returncode in (0, 3), result.stderr
    imported = {line.rsplit("|", 1)[-1].strip() for line in result.stderr.splitlines() if line.startswith("import time:")}
    assert {"onnxruntime", "faiss", "tokenizers"} <= imported
    assert not imported & {"torch", "transformers", "sentence_transformers", "bm25s", "scipy"}
