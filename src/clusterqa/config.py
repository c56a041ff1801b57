"""Settings: where the documents and the index live, which model embeds them."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

DEFAULT_MODEL = "all-MiniLM-L6-v2"
ENV_SEEDS = "CLUSTERQA_SEEDS"
ENV_INDEX = "CLUSTERQA_INDEX"
ENV_MODEL = "CLUSTERQA_MODEL"
ENV_MAX_FILE_MB = "CLUSTERQA_MAX_FILE_MB"
ENV_CACHE = "CLUSTERQA_CACHE"


@dataclass(frozen=True)
class ChunkingSettings:
    """Passage sizes in word pieces of the model's tokenizer (the window is 256 with [CLS]/[SEP])."""

    max_tokens: int = 200
    min_tokens: int = 128
    overlap_tokens: int = 48

    def as_dict(self) -> dict[str, int]:
        return {
            "max_tokens": self.max_tokens,
            "min_tokens": self.min_tokens,
            "overlap_tokens": self.overlap_tokens,
        }


@dataclass(frozen=True)
class Settings:
    seeds: Path
    index: Path
    model: str = DEFAULT_MODEL
    chunking: ChunkingSettings = field(default_factory=ChunkingSettings)
    max_file_bytes: int = 10 * 1024 * 1024
    sentence_vectors: bool = True  # embed answer sentences at build time (off for retrieval-only benchmarks)


def resolve_settings(seeds: Path | None = None, index: Path | None = None, model: str | None = None) -> Settings:
    """Options beat environment variables, which beat the defaults (./seeds, ./index)."""
    seeds = seeds or Path(os.environ.get(ENV_SEEDS) or "seeds")
    index = index or Path(os.environ.get(ENV_INDEX) or "index")
    model = model or os.environ.get(ENV_MODEL) or DEFAULT_MODEL
    max_mb = float(os.environ.get(ENV_MAX_FILE_MB) or 10)
    return Settings(
        seeds=seeds.expanduser().absolute(),
        index=index.expanduser().absolute(),
        model=model,
        max_file_bytes=int(max_mb * 1024 * 1024),
    )


def user_cache_dir() -> Path:
    """Per-user state shared by every index: exported encoders, per-folder default indexes.

    CLUSTERQA_CACHE, else $XDG_CACHE_HOME/clusterqa, else ~/.cache/clusterqa.
    """
    explicit = os.environ.get(ENV_CACHE)
    if explicit:
        return Path(explicit).expanduser().absolute()
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base).expanduser().absolute() / "clusterqa"
