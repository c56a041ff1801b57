"""The dense index type by size (index/ann.py): a forced IVF index answers like the flat one, the
manifest records it, incremental updates keep its centroids until the corpus grows past them, and
a flat index written before the manifest recorded the kind still opens.

The seeds are small, so `--dense-index ivf` forces the approximate index (the size threshold is in
data/dense_index.json); its search is compared with a numpy brute-force reference.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from conftest import (
    ask_json,
    clone_workspace,
    index_problems,
    live_generation,
    marker,
    run_cli,
    synthetic_path,
    write_synthetic_corpus,
)

QUESTION = "How many product models does the Yueqing electrical cluster offer?"
SOURCE = "000_7aa0c03ee5abb184.txt"


@pytest.fixture
def ws(built_seeds_index: dict[str, Path], tmp_path: Path) -> dict[str, Path]:
    return clone_workspace(built_seeds_index, tmp_path / "ws")


def cli(ws: dict[str, Path], *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return run_cli(*args, "--seeds", str(ws["seeds"]), "--index", str(ws["index"]), env=env)


def index(ws: dict[str, Path], *args: str) -> str:
    result = cli(ws, "index", *args)
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    return result.stderr


def dense_record(ws: dict[str, Path]) -> dict:
    return json.loads((live_generation(ws["index"]) / "manifest.json").read_text("utf-8"))["dense"]


def cited(ws: dict[str, Path], question: str) -> tuple[list[tuple[str, int, int]], dict]:
    code, data, stderr = ask_json(ws, question)
    assert code in (0, 3), stderr
    assert data is not None and "Traceback" not in stderr
    return [(Path(p["source"]).name, p["line_start"], p["line_end"]) for p in data["passages"]], data["answer"]


def stored_vectors(generation: Path) -> np.ndarray:
    from clusterqa.index.dense import DenseIndex

    manifest = json.loads((generation / "manifest.json").read_text("utf-8"))
    dense = DenseIndex(generation / "dense.faiss", manifest["passages"], manifest["model"]["dim"], manifest.get("dense"))
    return dense.vectors(list(range(manifest["passages"])))


def test_forced_ivf_answers_like_flat_from_cached_vectors_and_records_it(ws: dict[str, Path]) -> None:
    import faiss

    flat_generation = live_generation(ws["index"])
    flat_citations, flat_answer = cited(ws, QUESTION)
    assert flat_citations[0][0] == SOURCE

    stderr = index(ws, "--dense-index", "ivf")
    assert "the dense index changes from flat to ivf" in stderr
    assert "(0 embedded)" in stderr  # every vector came from the embedding cache
    record = dense_record(ws)
    assert record["kind"] == "ivf" and record["requested"] == "ivf"
    passages = json.loads((live_generation(ws["index"]) / "manifest.json").read_text("utf-8"))["passages"]
    assert record["trained_on"] == passages and 1 <= record["nlist"] <= passages // 8
    assert record["nprobe"] == record["nlist"]  # a small folder: every list is scanned, so search is exact
    assert isinstance(faiss.read_index(str(live_generation(ws["index"]) / "dense.faiss")), faiss.IndexIVFFlat)

    citations, answer = cited(ws, QUESTION)
    assert citations == flat_citations
    assert (Path(answer["source"]).name, answer["line"]) == (Path(flat_answer["source"]).name, flat_answer["line"])
    # The answer code's cosines come from the stored vectors: the IVF index returns them exactly.
    assert np.array_equal(stored_vectors(live_generation(ws["index"])), stored_vectors(flat_generation))
    assert index_problems(ws["index"]) == []

    # --rebuild keeps the forced kind and the centroids.
    assert "rebuilt the index" in index(ws, "--rebuild")
    assert dense_record(ws)["kind"] == "ivf" and dense_record(ws)["centroids"] == record["centroids"]

    # Back to flat: nothing embedded again, the same answers.
    stderr = index(ws, "--dense-index", "flat")
    assert "the dense index changes from ivf to flat" in stderr and "(0 embedded)" in stderr
    assert dense_record(ws) == {"kind": "flat", "requested": "flat"}
    assert cited(ws, QUESTION)[0] == flat_citations


def test_ivf_updates_keep_the_centroids_until_the_corpus_doubles(ws: dict[str, Path]) -> None:
    write_synthetic_corpus(ws["seeds"], 12)
    index(ws, "--dense-index", "ivf")
    trained = dense_record(ws)

    # Two new documents: added with the kept centroids, found by `ask`.
    write_synthetic_corpus(ws["seeds"], 14)
    stderr = index(ws)  # no option: the forced kind stays
    record = dense_record(ws)
    assert "(2 embedded" in stderr
    assert record["kind"] == "ivf"
    assert (record["centroids"], record["trained_on"]) == (trained["centroids"], trained["trained_on"]), record
    citations, _ = cited(ws, f"Which zone did report {marker(13, 0)} count units in?")
    assert citations[0][0] == synthetic_path(ws["seeds"], 13).name

    # A deleted document disappears from the answers; still no training.
    synthetic_path(ws["seeds"], 5).unlink()
    index(ws)
    record = dense_record(ws)
    assert (record["centroids"], record["trained_on"]) == (trained["centroids"], trained["trained_on"]), record
    assert synthetic_path(ws["seeds"], 5).name not in [c[0] for c in cited(ws, f"report {marker(5, 0)}")[0]]
    assert index_problems(ws["index"]) == []

    # More than twice the passages the centroids were trained on: trained again.
    write_synthetic_corpus(ws["seeds"], 2 * trained["trained_on"] + 2)
    index(ws)
    record = dense_record(ws)
    passages = json.loads((live_generation(ws["index"]) / "manifest.json").read_text("utf-8"))["passages"]
    assert record["trained"] == f"grown from {trained['trained_on']} to {passages} passages"
    assert record["trained_on"] == passages and record["centroids"] != trained["centroids"]
    citations, _ = cited(ws, f"Which zone did report {marker(40, 0)} count units in?")
    assert citations[0][0] == synthetic_path(ws["seeds"], 40).name
    assert index_problems(ws["index"]) == []


def test_a_flat_index_written_before_the_dense_record_still_opens(ws: dict[str, Path]) -> None:
    """What the previous version wrote: an IndexFlatIP and a manifest without "dense"."""
    for manifest in ws["index"].glob("generations/*/manifest.json"):
        data = json.loads(manifest.read_text("utf-8"))
        data.pop("dense", None)
        manifest.write_text(json.dumps(data, indent=1, ensure_ascii=False), "utf-8")
    citations, answer = cited(ws, QUESTION)
    assert citations[0][0] == SOURCE and Path(answer["source"]).name == SOURCE
    assert "index is up to date" in index(ws)  # no rebuild: it stays as it was
    assert "dense" not in json.loads((live_generation(ws["index"]) / "manifest.json").read_text("utf-8"))


def test_an_unknown_dense_index_kind_is_a_usage_error(ws: dict[str, Path]) -> None:
    for result in (
        cli(ws, "index", "--dense-index", "hnsw"),
        cli(ws, "index", "--rebuild", env={"CLUSTERQA_DENSE_INDEX": "hnsw"}),
    ):
        assert result.returncode == 2, result.stderr
        assert "Traceback" not in result.stderr
        assert "unknown dense index 'hnsw': use auto, flat or ivf" in result.stderr
    assert index_problems(ws["index"]) == []


def clustered(n: int, dim: int = 384, topics: int = 40, seed: int = 0) -> np.ndarray:
    """Unit vectors around a few topic directions, as text embeddings cluster."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((topics, dim)).astype(np.float32)
    vectors = centres[rng.integers(0, topics, n)] + 0.7 * rng.standard_normal((n, dim)).astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def test_ivf_search_against_numpy_brute_force(tmp_path: Path) -> None:
    from clusterqa.index.ann import parameters, write_ivf
    from clusterqa.index.dense import DenseIndex

    corpus = clustered(4500)
    vectors = corpus[:4000]
    record = write_ivf(tmp_path / "dense.faiss", vectors)
    assert record["nlist"] == round(parameters().lists_per_sqrt_passages * 4000**0.5)
    assert record["nprobe"] == min(parameters().nprobe, record["nlist"]) < record["nlist"]  # approximate
    dense = DenseIndex(tmp_path / "dense.faiss", 4000, 384, record)
    queries = clustered(50, seed=1)
    found = 0
    for q in queries:
        exact = np.argsort(-(vectors @ q), kind="stable")[:10]
        hits = dense.search(q, 10)
        ids = [i for i, _ in hits]
        assert len(ids) == 10 and len(set(ids)) == 10
        # IVF-Flat scores are exact inner products, best first.
        assert np.allclose([s for _, s in hits], vectors[ids] @ q, atol=1e-5)
        assert [s for _, s in hits] == sorted((s for _, s in hits), reverse=True)
        found += len(set(ids) & set(exact.tolist()))
    assert found / (10 * len(queries)) >= 0.95
    assert np.array_equal(dense.vectors([5, 3999, 0]), vectors[[5, 3999, 0]])

    # Kept centroids: the same lists, more vectors, exact ids of the new ones.
    from clusterqa.index.ann import _previous_centroids

    centroids = _previous_centroids(tmp_path / "dense.faiss", record, 384)
    assert centroids is not None
    grown = corpus  # 500 more of the same topics
    shutil.move(tmp_path / "dense.faiss", tmp_path / "old.faiss")
    again = write_ivf(tmp_path / "dense.faiss", grown, centroids, record)
    assert (again["centroids"], again["trained_on"], again["trained"]) == (record["centroids"], 4000, record["trained"])
    dense = DenseIndex(tmp_path / "dense.faiss", 4500, 384, again)
    assert dense.search(grown[4321], 1)[0][0] == 4321


def test_when_centroids_are_trained_again() -> None:
    from clusterqa.index.ann import needs_training, parameters

    p = parameters()
    assert needs_training(1000, 1000, 0.30, 0.30) is None
    assert (
        needs_training(int(p.retrain_growth * 1000) + 1, 1000, None, 0.3)
        == f"grown from 1000 to {int(p.retrain_growth * 1000) + 1} passages"
    )
    assert needs_training(400, 1000, None, 0.3) == "shrunk from 1000 to 400 passages"
    drifted = 0.30 * p.retrain_error_growth + 0.01
    assert needs_training(1000, 1000, drifted, 0.30) == f"mean distance to the centroids grown from 0.3000 to {drifted:.4f}"


def test_a_large_catalog_drops_the_most_frequent_question_words(built_seeds_index: dict[str, Path]) -> None:
    """lexical_budget: the document frequencies are FTS5's own, the rarest words are kept."""
    import sqlite3

    from clusterqa.index.lexical import fts_expression
    from clusterqa.index.lexical_budget import bounded_expression, document_frequencies

    catalog = live_generation(built_seeds_index["index"]) / "passages.sqlite"
    db = sqlite3.connect(f"{catalog.as_uri()}?mode=ro&immutable=1", uri=True)
    try:
        expression = fts_expression("Which industrial clusters in Zhejiang exceed 100 billion yuan of output?")
        assert expression is not None
        words = [w.strip('"') for w in expression.split(" OR ")]
        frequency = document_frequencies(db, words)
        for word in words:  # the Porter stems FTS5 indexed: the same counts as its own MATCH
            count = db.execute("SELECT count(*) FROM passages_fts WHERE passages_fts MATCH ?", (f'"{word}"',)).fetchone()[0]
            assert frequency[word] == count, word
        rarest = sorted(words, key=lambda w: frequency[w])
        budget = frequency[rarest[0]] + frequency[rarest[1]]
        assert frequency[rarest[2]] > 0 and len(words) > 3
        bounded = bounded_expression(db, expression, 1_000_000, budget)
        assert bounded == " OR ".join(f'"{w}"' for w in words if w in rarest[:2])
        # A catalog no larger than the budget, or a query that is not a list of words, stays as it is.
        assert bounded_expression(db, expression, budget, budget) == expression
        assert bounded_expression(db, '"zhejiang" AND "yuan"', 1_000_000, 1) == '"zhejiang" AND "yuan"'
    finally:
        db.close()
