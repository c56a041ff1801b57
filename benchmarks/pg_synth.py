"""A PostgreSQL store of N passages synthesized from a built local index (benchmarks/pg_store.py):
passage i is passage i mod n of the local index with its sentences rotated and one word in ten
dropped; its vector is the real one plus Gaussian noise (sigma per dimension), renormalized."""

from __future__ import annotations

import json
import re
import sqlite3
import time
from collections.abc import Callable

import numpy as np

SIGMA = 0.025  # cosine to the source vector about 1 / sqrt(1 + 384 sigma^2) = 0.89
PER_DOCUMENT = 10


def synthesize(local, url: str, passages: int, say: Callable[[str], None]) -> dict[str, float]:  # noqa: ANN001 - Settings
    import faiss

    from clusterqa.index.pg_schema import connect, schema, tokens, tsvector_literal
    from clusterqa.index.store import Store

    generation = Store(local.index).current()
    db = sqlite3.connect(generation.catalog)
    rows = db.execute("SELECT id, text, text_hash FROM passages ORDER BY id").fetchall()
    db.close()
    dense = faiss.read_index(str(generation.dense))
    real = dense.reconstruct_n(0, dense.ntotal)
    dim = real.shape[1]
    rng = np.random.default_rng(0)
    conn = connect(url)
    started = time.perf_counter()
    conn.execute(schema(dim))
    conn.execute("DROP INDEX passages_embedding; DROP INDEX passages_words")
    documents = {}
    with conn.cursor() as cur:
        with cur.copy("COPY documents (id, source, title, date, sha256) FROM STDIN") as copy:
            for d in range((passages + PER_DOCUMENT - 1) // PER_DOCUMENT):
                copy.write_row((d, f"synth/{d:07d}.txt", f"synthetic {d}", None, f"{d:064x}"))
                documents[f"synth/{d:07d}.txt"] = {"passages": min(PER_DOCUMENT, passages - d * PER_DOCUMENT)}
        columns = "id, document_id, ordinal, char_start, char_end, line_start, line_end, text, text_hash, embedding, words, "
        columns += "nwords"
        with cur.copy(f"COPY passages ({columns}) FROM STDIN") as copy:
            for i in range(passages):
                source = i % len(rows)
                text = perturb(rows[source][1], i // len(rows), rng)
                vector = real[source] + rng.normal(0, SIGMA, dim).astype(np.float32) if i >= len(rows) else real[source]
                vector = (vector / np.linalg.norm(vector)).astype(np.float32)
                words = tokens(text)
                copy.write_row(
                    (i, i // PER_DOCUMENT, i % PER_DOCUMENT, 0, len(text), 1, 1, text, f"{i:064x}", vector,
                     tsvector_literal(words), len(words))
                )  # fmt: skip
                if i % 20000 == 0:
                    say(f"synthesized {i}/{passages} passages")
    loaded = time.perf_counter() - started
    conn.execute("SET maintenance_work_mem = '1GB'")
    started = time.perf_counter()
    conn.execute("CREATE INDEX passages_embedding ON passages USING hnsw (embedding vector_ip_ops)")
    hnsw = time.perf_counter() - started
    started = time.perf_counter()
    conn.execute("CREATE INDEX passages_words ON passages USING gin (words)")
    gin = time.perf_counter() - started
    conn.execute("VACUUM ANALYZE passages")
    words_avg = conn.execute("SELECT avg(nwords) FROM passages").fetchone()[0]
    manifest = {
        **generation.manifest,
        "passages": passages,
        "documents": documents,
        "seeds": "synthetic",
        "sentence_vectors": False,
    }
    meta = (json.dumps(manifest), dim, float(words_avg))
    conn.execute("INSERT INTO clusterqa_meta VALUES (1, 1, 'gsynth', %s::jsonb, %s, %s, 0, 0)", meta)
    conn.close()
    say(f"loaded {passages} passages in {loaded:.0f} s, HNSW index {hnsw:.0f} s, GIN index {gin:.0f} s")
    return {"load_s": loaded, "hnsw_index_s": hnsw, "gin_index_s": gin}


def perturb(text: str, round_: int, rng: np.random.Generator) -> str:
    """Round 0: the text itself; later rounds: sentences rotated, one word in ten dropped."""
    if round_ == 0:
        return text
    sentences = re.split(r"(?<=[.!?])\s+", text)
    shift = round_ % max(len(sentences), 1)
    words = " ".join(sentences[shift:] + sentences[:shift]).split()
    kept = [w for w in words if rng.random() >= 0.1]
    return " ".join(kept or words)
