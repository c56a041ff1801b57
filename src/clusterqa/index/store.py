"""The index folder: generations, the CURRENT pointer, manifests, atomic publish.

Layout of index/:
    CURRENT                  name of the live generation (replaced atomically)
    generations/<name>/      manifest.json, passages.sqlite, dense.faiss (immutable once published)
    cache/embeddings.sqlite  passage and sentence vectors by (encoder, text hash)
    cache/extracted.sqlite   text extracted from PDF, HTML and DOCX files by content hash (`extraction`)
    .lock                    writers' lock
"""

from __future__ import annotations

import json
import os
import re
import shutil
import time
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import IndexCorruptError, IndexFormatError, IndexMissingError, IndexOutdatedError

if TYPE_CHECKING:
    from ..models import Chunk
    from .catalog import Catalog
    from .dense import DenseIndex

FORMAT = "clusterqa-index"
FORMAT_VERSION = 4  # 3: the encoder recorded by key and export id (it lives in the user cache); passages carry their section path
# 4: passages carry their pages (PDF)
POINTER = "CURRENT"
MANIFEST = "manifest.json"
CATALOG = "passages.sqlite"
DENSE = "dense.faiss"
KEEP_OLD_GENERATIONS = 2  # readers that opened an older one keep working while it is kept


@dataclass(frozen=True)
class Generation:
    """A published, immutable index build."""

    directory: Path
    manifest: dict[str, Any]

    @property
    def catalog(self) -> Path:
        return self.directory / CATALOG

    @property
    def dense(self) -> Path:
        return self.directory / DENSE

    @property
    def name(self) -> str:
        return self.directory.name

    def open(self) -> LocalReader:
        """The catalog and FAISS files open for questions (protocol.Reader)."""
        from .catalog import Catalog
        from .dense import DenseIndex

        catalog = Catalog(self.catalog)
        try:
            dense = DenseIndex(self.dense, self.manifest["passages"], self.manifest["model"]["dim"], self.manifest.get("dense"))
        except BaseException:
            catalog.close()
            raise
        return LocalReader(catalog, dense)

    def damage(self) -> str | None:
        from .planning import generation_damage

        return generation_damage(self)

    def chunks_of(self, sources: Sequence[str]) -> dict[str, list[Chunk]]:
        """The stored passages of these documents, to carry over unchanged into the next generation."""
        from .catalog import Catalog

        old = Catalog(self.catalog)
        try:
            return {source: old.chunks_of(source) for source in sources}
        finally:
            old.close()


@dataclass(frozen=True)
class LocalReader:
    catalog: Catalog
    dense: DenseIndex

    def close(self) -> None:
        self.catalog.close()


class Store:
    """The local store (protocol.IndexStore): generations in a folder, one writer through a file lock."""

    kind = "local"

    def __init__(self, root: Path) -> None:
        self.root = root
        self.location = str(root)
        self.generations = root / "generations"
        self.cache_file = root / "cache" / "embeddings.sqlite"

    def writer_lock(self, wait_seconds: float = 30.0, on_wait: Callable[[str], None] | None = None) -> AbstractContextManager:
        from ..lock import writer_lock

        return writer_lock(self.root, wait_seconds, on_wait=on_wait)

    def is_locked(self) -> bool:
        from ..lock import is_locked

        return is_locked(self.root)

    def current(self) -> Generation:
        """The live generation; raises IndexMissingError or a corruption/format error."""
        try:
            name = (self.root / POINTER).read_text("utf-8").strip()
        except FileNotFoundError:
            raise IndexMissingError(f"no index in {self.root} yet; run `clusterqa index`") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise IndexCorruptError(
                f"index pointer {self.root / POINTER} is unreadable ({exc}); run `clusterqa index --rebuild`"
            ) from None
        if not re.fullmatch(r"g[0-9a-z-]+", name):
            raise IndexCorruptError(
                f"{self.root / POINTER} does not name a generation ({name[:40]!r}); "
                "this folder is not a clusterqa index, or it is damaged: run `clusterqa index --rebuild`"
            )
        directory = self.generations / name
        return Generation(directory, read_manifest(directory / MANIFEST))

    def new_generation_dir(self) -> Path:
        """A private folder to build the next generation in (renamed into place by publish)."""
        self.generations.mkdir(parents=True, exist_ok=True)
        name = f"g{time.time_ns():x}-{os.getpid()}"
        path = self.generations / f".tmp-{name}"
        path.mkdir()
        return path

    def publish(self, built: Path) -> Generation:
        """Make `built` the live generation in one atomic step.

        The folder is renamed to its final name, then CURRENT is replaced by a rename of a
        fully written, fsync'd file. A crash before that last rename leaves the old
        generation live; a crash after it leaves the new one live.
        """
        for file in built.iterdir():
            _fsync_file(file)
        _fsync_dir(built)
        final = self.generations / built.name.removeprefix(".tmp-")
        os.replace(built, final)
        _fsync_dir(self.generations)
        pointer_tmp = self.root / f".{POINTER}.{os.getpid()}.tmp"
        with open(pointer_tmp, "w", encoding="utf-8") as handle:
            handle.write(final.name + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(pointer_tmp, self.root / POINTER)
        _fsync_dir(self.root)
        return Generation(final, read_manifest(final / MANIFEST))

    def collect_garbage(self, live: str) -> None:
        """Remove unfinished builds and all but the newest few old generations.

        Called only while holding the writer lock, so no build of ours is in progress.
        """
        if not self.generations.exists():
            return
        old = []
        for path in self.generations.iterdir():
            if path.name.startswith(".tmp-"):
                shutil.rmtree(path, ignore_errors=True)
            elif path.name != live:
                old.append(path)
        old.sort(key=lambda p: p.stat().st_mtime_ns, reverse=True)
        for path in old[KEEP_OLD_GENERATIONS:]:
            shutil.rmtree(path, ignore_errors=True)
        for stray in self.root.glob(f".{POINTER}.*.tmp"):
            stray.unlink(missing_ok=True)


def read_manifest(path: Path) -> dict[str, Any]:
    try:
        manifest = json.loads(path.read_text("utf-8"))
    except FileNotFoundError:
        raise IndexCorruptError(f"{path} is missing; run `clusterqa index --rebuild`") from None
    except (OSError, ValueError) as exc:
        raise IndexCorruptError(f"{path} is unreadable ({exc}); run `clusterqa index --rebuild`") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise IndexFormatError(f"{path} is not a clusterqa manifest; point --index at a clusterqa index folder")
    version = manifest.get("format_version")
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise IndexFormatError(
            f"index format {version} is newer than this clusterqa understands ({FORMAT_VERSION}); "
            "upgrade clusterqa or rebuild with `clusterqa index --rebuild`"
        )
    if version < FORMAT_VERSION:
        raise IndexOutdatedError(f"index format {version} is outdated; `clusterqa index` rebuilds it")
    problem = _manifest_problem(manifest)
    if problem:
        raise IndexCorruptError(f"{path} {problem}; run `clusterqa index --rebuild`")
    return manifest


def _manifest_problem(manifest: dict[str, Any]) -> str | None:
    """What is missing or malformed in a manifest of the current version, or None."""
    model = manifest.get("model")
    documents = manifest.get("documents")
    passages = manifest.get("passages")
    if not isinstance(model, dict) or not isinstance(model.get("name"), str) or not isinstance(model.get("dim"), int):
        return "lacks the model's name and dimension"
    encoder = manifest.get("encoder")
    if not isinstance(encoder, dict) or not isinstance(encoder.get("key"), str) or not isinstance(encoder.get("id"), str):
        return "lacks the encoder's key and export id"
    if not isinstance(documents, dict) or not all(
        isinstance(e, dict) and isinstance(e.get("passages"), int) for e in documents.values()
    ):
        return "lacks the document list"
    if not isinstance(passages, int) or passages < 0:
        return "lacks the passage count"
    listed = sum(e["passages"] for e in documents.values())
    if listed != passages:
        return f"lists {listed} passages in its documents but {passages} in all"
    return None


def encoder_record(manifest: dict[str, Any]) -> dict[str, Any]:
    """What a generation's manifest says of its encoder, in the shape of the export's encoder.json
    (a build that changes only the manifest carries it over)."""
    model = manifest["model"]
    return {"dim": model["dim"], "max_seq_length": model["max_seq_length"], "id": manifest["encoder"]["id"]}


def write_json(path: Path, data: dict[str, Any]) -> None:
    path.write_text(json.dumps(data, indent=1, ensure_ascii=False), "utf-8")


def _fsync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
