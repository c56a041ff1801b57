"""Which dense index a generation gets, and writing the approximate one.

Small folders get exact search (`IndexFlatIP`, `dense.write_dense`). From a size measured in issue 11
(data/dense_index.json) a generation gets an inverted-file index, `IndexIVFFlat` over inner product:
k-means centroids trained on the corpus's own vectors, each vector stored whole in its nearest
centroid's list, a question scans the `nprobe` nearest lists. Whole vectors rather than SQ8 or PQ
codes, because the answer code takes exact cosines from `DenseIndex.vectors` (a direct map finds a
vector by id) and a scan of a few lists of whole vectors is still under a millisecond. The file is
opened memory-mapped, so a cold question reads the centroids and the lists it scans, not the file.

Incremental updates keep the previous generation's centroids: ids are catalog rows, renumbered by
every generation, so the lists are written again (each vector assigned to its nearest centroid: one
matrix product, no training) until `needs_training` says the corpus has drifted from the centroids.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ClusterQAError, UsageError
from .store import Generation

KINDS = ("auto", "flat", "ivf")
PARAMETERS_PATH = Path(__file__).resolve().parent.parent / "data" / "dense_index.json"


@dataclass(frozen=True)
class DenseParameters:
    """The constants of data/dense_index.json (its note says what they were measured on)."""

    ivf_from_passages: int
    lists_per_sqrt_passages: float
    nprobe: int
    training_points_per_list: int
    kmeans_iterations: int
    retrain_growth: float
    retrain_error_growth: float


@cache
def parameters() -> DenseParameters:
    try:
        data = json.loads(PARAMETERS_PATH.read_text("utf-8"))
        return DenseParameters(**{name: data[name] for name in DenseParameters.__dataclass_fields__})
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ClusterQAError(f"{PARAMETERS_PATH} cannot be read ({exc}); reinstall clusterqa") from None


def check_kind(kind: str) -> str:
    if kind not in KINDS:
        raise UsageError(f"unknown dense index {kind!r}: use auto, flat or ivf (--dense-index or CLUSTERQA_DENSE_INDEX)")
    return kind


def chosen_kind(requested: str, passages: int) -> str:
    """flat or ivf: the requested kind, or by size for auto."""
    if check_kind(requested) != "auto":
        return requested
    return "ivf" if passages >= parameters().ivf_from_passages else "flat"


def recorded_kind(manifest: dict[str, Any]) -> str:
    """A generation's dense index kind; generations written before the manifest recorded it are flat."""
    record = manifest.get("dense")
    return str(record.get("kind", "flat")) if isinstance(record, dict) else "flat"


def requested_kind(given: str | None, previous: Generation | None) -> str:
    """What a build is asked for: the option (or CLUSTERQA_DENSE_INDEX), else what the previous build
    was asked for (a forced kind stays until `--dense-index auto`), else auto."""
    if given is not None:
        return check_kind(given)
    record = previous.manifest.get("dense") if previous is not None else None
    asked = record.get("requested") if isinstance(record, dict) else None
    return asked if asked in KINDS else "auto"


def kind_change(given: str | None, previous: Generation | None) -> str | None:
    """Why the dense index must be written again although no document changed: the option asks for
    another kind than the previous build's (the vectors come from the cache: nothing is embedded)."""
    if given is None or previous is None:
        return None
    asked = requested_kind(None, previous)
    built, wanted = recorded_kind(previous.manifest), chosen_kind(check_kind(given), previous.manifest["passages"])
    if wanted != built:
        return f"the dense index changes from {built} to {wanted}"
    return None if given == asked else f"the dense index is now chosen {'by size' if given == 'auto' else 'as ' + given}"


def list_count(passages: int) -> int:
    """IVF lists: c x sqrt(N) (c measured; the usual range is 4-16), at most N / 8 so that a small
    folder forced to ivf still has a few vectors a list."""
    p = parameters()
    return max(1, min(round(p.lists_per_sqrt_passages * math.sqrt(passages)), passages // 8))


def write_dense_index(path: Path, vectors: np.ndarray, given: str | None, previous: Generation | None) -> dict[str, Any]:
    """Write the generation's dense index (ids 0..N-1 in catalog order); returns its manifest record.

    `given`: the --dense-index option or CLUSTERQA_DENSE_INDEX (None: see `requested_kind`).
    """
    from .dense import write_dense

    requested = requested_kind(given, previous)
    if chosen_kind(requested, len(vectors)) == "flat" or not len(vectors):
        write_dense(path, vectors)
        return {"kind": "flat", "requested": requested}
    record = previous.manifest.get("dense") if previous is not None else None
    centroids = _previous_centroids(previous.dense, record, vectors.shape[1]) if isinstance(record, dict) else None
    return {"requested": requested, **write_ivf(path, vectors, centroids, record if centroids is not None else None)}


def write_ivf(
    path: Path, vectors: np.ndarray, centroids: np.ndarray | None = None, record: dict[str, Any] | None = None
) -> dict[str, Any]:
    """An IndexIVFFlat over `vectors`; with `centroids` (and their `record`) kept unless `needs_training`."""
    import faiss
    from faiss.contrib.ivf_tools import add_preassigned

    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    n, dim = vectors.shape
    retrained: str | None = "no centroids to keep"
    if centroids is not None and record is not None:
        trained_on, trained_error = int(record["trained_on"]), float(record["trained_error"])
        retrained = needs_training(n, trained_on, None, trained_error)
        if retrained is None:
            assignment, error = _assign(centroids, vectors)
            retrained = needs_training(n, trained_on, error, trained_error)
    if retrained is not None:
        centroids = _train(vectors, list_count(n))
        assignment, error = _assign(centroids, vectors)
        trained_on, trained_error = n, error
    assert centroids is not None
    quantizer = _quantizer(centroids)
    index = faiss.IndexIVFFlat(quantizer, dim, len(centroids), faiss.METRIC_INNER_PRODUCT)
    ids = np.arange(n, dtype=np.int64)  # held here: add_preassigned keeps only a raw pointer to it
    add_preassigned(index, vectors, assignment, ids)
    index.make_direct_map()  # reconstruct(id) returns the stored (exact) vector
    index.nprobe = min(parameters().nprobe, len(centroids))
    faiss.write_index(index, str(path))
    return {
        "kind": "ivf",
        "nlist": len(centroids),
        "nprobe": int(index.nprobe),
        "trained_on": trained_on,
        "trained_error": round(trained_error, 6),
        "error": round(error, 6),
        "centroids": hashlib.sha256(centroids.tobytes()).hexdigest()[:16],
        "trained": retrained or (record or {}).get("trained", ""),
    }


def needs_training(passages: int, trained_on: int, error: float | None, trained_error: float) -> str | None:
    """Why the centroids must be trained again, or None to keep them.

    Size: the corpus grew past retrain_growth x the passages they were trained on (lists grow long, and
    the list count, c x sqrt(N), is too small) or shrank below 1 / retrain_growth of it (lists run
    empty). Drift: the mean distance of the vectors to their nearest centroid (1 - cosine, the k-means
    objective) grew past retrain_error_growth x its value after training: new topics that no centroid
    covers crowd into other topics' lists, and a scan of nprobe lists misses more of their neighbours.
    """
    p = parameters()
    if passages > p.retrain_growth * trained_on:
        return f"grown from {trained_on} to {passages} passages"
    if passages * p.retrain_growth < trained_on:
        return f"shrunk from {trained_on} to {passages} passages"
    if error is not None and error > p.retrain_error_growth * trained_error:
        return f"mean distance to the centroids grown from {trained_error:.4f} to {error:.4f}"
    return None


def _previous_centroids(path: Path, record: dict[str, Any], dim: int) -> np.ndarray | None:
    """The previous IVF index's centroids; None (train afresh) when it has none or they cannot be read."""
    if record.get("kind") != "ivf" or not isinstance(record.get("trained_on"), int):
        return None
    import faiss

    try:
        index = faiss.read_index(str(path), faiss.IO_FLAG_MMAP_IFC | faiss.IO_FLAG_READ_ONLY)
        ivf = faiss.extract_index_ivf(index)  # a view into `index`, which must stay referenced while it is used
        centroids = ivf.quantizer.reconstruct_n(0, ivf.nlist)
    except RuntimeError:
        return None
    return np.ascontiguousarray(centroids, dtype=np.float32) if centroids.shape[1] == dim else None


def _train(vectors: np.ndarray, nlist: int) -> np.ndarray:
    """Spherical k-means centroids (unit length, like the vectors) on an evenly drawn sample."""
    import faiss

    p = parameters()
    size = min(len(vectors), nlist * p.training_points_per_list)
    drawn = np.sort(np.random.default_rng(0).choice(len(vectors), size, replace=False)) if size < len(vectors) else None
    sample = vectors if drawn is None else vectors[drawn]
    kmeans = faiss.Kmeans(
        vectors.shape[1],
        nlist,
        niter=p.kmeans_iterations,
        spherical=True,
        seed=1234,
        max_points_per_centroid=p.training_points_per_list,
        min_points_per_centroid=1,
    )
    kmeans.train(np.ascontiguousarray(sample))
    return np.ascontiguousarray(kmeans.centroids, dtype=np.float32)


def _assign(centroids: np.ndarray, vectors: np.ndarray) -> tuple[np.ndarray, float]:
    """Each vector's nearest centroid, and the mean distance to it (1 - cosine)."""
    similarity, nearest = _quantizer(centroids).search(vectors, 1)
    return nearest[:, 0].astype(np.int64), float(1.0 - similarity.mean())


def _quantizer(centroids: np.ndarray):  # noqa: ANN202 - a faiss.IndexFlatIP
    """The exact inner-product index over the centroids: it assigns vectors to lists."""
    import faiss

    quantizer = faiss.IndexFlatIP(centroids.shape[1])
    quantizer.add(centroids)
    return quantizer
