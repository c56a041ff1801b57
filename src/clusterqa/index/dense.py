"""The FAISS inner-product index over normalized passage vectors (cosine similarity).

Flat (exact) for small folders; IVF from the size `ann` measured. Both open memory-mapped and
answer `vectors` with the stored, exact vectors (the IVF index keeps a direct map from id to vector).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ..errors import IndexCorruptError, first_line


def write_dense(path: Path, vectors: np.ndarray) -> None:
    import faiss

    index = faiss.IndexFlatIP(vectors.shape[1])
    if len(vectors):
        index.add(np.ascontiguousarray(vectors, dtype=np.float32))
    faiss.write_index(index, str(path))


class DenseIndex:
    def __init__(self, path: Path, expected_rows: int, dim: int, record: dict[str, Any] | None = None) -> None:
        """`record`: the manifest's "dense" entry (None for a flat index written before there was one)."""
        import faiss

        size = path.stat().st_size if path.is_file() else -1
        if size < expected_rows * dim * 4:
            raise IndexCorruptError(
                f"{path} is missing or truncated ({max(size, 0)} bytes for {expected_rows} vectors); "
                "run `clusterqa index --rebuild`"
            )
        try:
            # Memory-mapped: a cold question pages in only what the search touches.
            self.index = faiss.read_index(str(path), faiss.IO_FLAG_MMAP_IFC | faiss.IO_FLAG_READ_ONLY)
        except Exception as exc:  # faiss raises RuntimeError with a C++ message
            raise IndexCorruptError(
                f"{path} is not a readable FAISS index ({first_line(exc, 160)}); run `clusterqa index --rebuild`"
            ) from None
        if self.index.ntotal != expected_rows or self.index.d != dim:
            raise IndexCorruptError(
                f"{path} has {self.index.ntotal} vectors of dimension {self.index.d} but the catalog "
                f"has {expected_rows} passages of dimension {dim}; run `clusterqa index --rebuild`"
            )
        kind = record.get("kind", "flat") if isinstance(record, dict) else "flat"
        ivf = faiss.try_extract_index_ivf(self.index)
        if (kind == "ivf") != (ivf is not None):
            found = "an IVF" if ivf is not None else f"a {type(self.index).__name__}"
            raise IndexCorruptError(f"{path} holds {found} index but the manifest says {kind}; run `clusterqa index --rebuild`")
        if ivf is not None and isinstance(record, dict) and isinstance(record.get("nprobe"), int):
            ivf.nprobe = record["nprobe"]

    def search(self, query: np.ndarray, k: int) -> list[tuple[int, float]]:
        k = min(k, self.index.ntotal)
        if k <= 0:
            return []
        import faiss

        # One question: faiss parallelizes over questions, so its other OpenMP threads would only spin,
        # against the encoder's threads (a dense search at 100k passages took 84 ms instead of 16 ms,
        # shared machine). The setting is this thread's own; it is put back.
        threads = faiss.omp_get_max_threads()
        faiss.omp_set_num_threads(1)
        try:
            scores, ids = self.index.search(query.reshape(1, -1).astype(np.float32), k)
        finally:
            faiss.omp_set_num_threads(threads)
        return [(int(i), float(s)) for i, s in zip(ids[0], scores[0], strict=True) if i >= 0]

    def vectors(self, ids: list[int]) -> np.ndarray:
        if not ids:
            return np.zeros((0, self.index.d), dtype=np.float32)
        try:
            return np.vstack([self.index.reconstruct(int(i)) for i in ids])
        except RuntimeError as exc:  # an IVF index written without its direct map
            raise IndexCorruptError(
                f"the dense index cannot return its vectors ({first_line(exc, 120, 'no direct map')}); "
                "run `clusterqa index --rebuild`"
            ) from None
