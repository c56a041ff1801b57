"""The indexer's last step for the PostgreSQL store: vectors of the new documents' passages (from the
database's embedding cache, else the encoder), then one publishing transaction."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from ..config import Settings
from ..models import Chunk, DocumentInfo, Progress
from .planning import Plan, Warn, cache_key
from .postgres import PgGeneration, PostgresStore
from .store import encoder_record


def publish_build(
    store: PostgresStore,
    settings: Settings,
    entries: Sequence[tuple[DocumentInfo, Sequence[Chunk]]],
    manifest_for: Callable[[dict[str, Any]], dict[str, Any]],
    plan: Plan,
    previous: PgGeneration | None,
    manifest_only: bool,
    progress: Progress | None,
    warn: Warn,
) -> tuple[PgGeneration, int]:
    """Publish the next generation; returns it and how many passages were run through the model.

    `manifest_for(encoder info)` makes the manifest. Documents the database holds with the same
    content hash keep their rows; added, changed and renamed ones get new rows, with vectors taken
    from the database's cache when any member embedded the same text before.
    """
    if manifest_only and previous is not None:
        return store.publish_manifest(manifest_for(encoder_record(previous.manifest))), 0
    from ..embedding.encoder_store import ensure_encoder
    from .vectors import PassageVectors, live_keys

    directory, info = ensure_encoder(settings.model, warn)
    cache = store.embedding_cache(cache_key(settings.model, info), int(info["dim"]))
    made: list[PassageVectors] = []

    def vectors(chunks: list[Chunk]):  # noqa: ANN202
        made.append(PassageVectors(cache, directory, chunks, settings.sentence_vectors, progress, warn))
        return made[-1].out, made[-1].sentence_rows()

    new = {*plan.added, *plan.changed, *(source for _, source in plan.renamed)}
    replace_all = previous is None or plan.settings_change is not None
    generation = store.publish(entries, new, vectors, manifest_for(info), replace_all)
    cache.keep_only(*live_keys([c for _, cs in entries for c in cs], settings.sentence_vectors))
    return generation, sum(v.embedded for v in made)
