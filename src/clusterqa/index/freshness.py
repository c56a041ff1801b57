"""Is the index current? Cheap checks that a question runs before answering (no numpy, no model)."""

from __future__ import annotations

import os

from ..config import Settings
from ..errors import NoDocumentsError, SettingsMismatchError
from ..reading.ignore import scan_documents
from .store import Generation


def settings_change(generation: Generation | None, settings: Settings) -> str | None:
    if generation is None:
        return None
    built = generation.manifest
    if built.get("model", {}).get("name") != settings.model:
        return f"the index was built with model {built.get('model', {}).get('name')!r}, now {settings.model!r}"
    chunking = settings.chunking.as_dict()
    if built.get("chunking") != chunking:
        if _sizes(built.get("chunking") or {}) == _sizes(chunking):
            return "the index was built by another release of clusterqa, which chose answer lines by another rule"
        return f"the chunking settings changed ({built.get('chunking')} -> {chunking})"
    from ..embedding.encoder_store import encoder_info, encoders_home

    record = built["encoder"]
    info = encoder_info(encoders_home() / record["key"])
    if info is None:
        return f"the encoder the index was built with ({record['key']}) is no longer in {encoders_home()}"
    if info["id"] != record["id"]:
        return "the model was exported again since the index was built (another encoder)"
    return None


def _sizes(chunking: dict) -> dict:
    """The chunking settings a user chooses, without the release's answer-candidate rule."""
    return {k: v for k, v in chunking.items() if k != "candidate_rule"}


def check_documents_folder(generation: Generation | None, settings: Settings) -> None:
    """An index belongs to the documents folder it was built from: refuse to use it with another."""
    if settings.store:  # a team's store: each member's copy of the folder lives at another path
        return
    recorded = generation.manifest.get("seeds") if generation is not None else None
    if not recorded or os.path.realpath(recorded) == os.path.realpath(settings.seeds):
        return
    raise SettingsMismatchError(
        f"the index {settings.index} holds documents of {recorded}, not of {settings.seeds}; "
        "pass another --index DIR (or none, for the folder's own index), "
        f"or re-point this one with `clusterqa index --rebuild --seeds {settings.seeds} --index {settings.index}`"
    )


def is_stale(generation: Generation, settings: Settings) -> bool:
    """Cheap check (stat only, no reading): did any file appear, vanish or change since the build?"""
    return stale_bytes(generation, settings) is not None


def stale_bytes(generation: Generation, settings: Settings) -> int | None:
    """None when the index is current; else the bytes of files to (re)read, a stat-only measure of
    the update's size (0 when only deletions are pending)."""
    try:
        scan = scan_documents(settings)
    except NoDocumentsError:
        return 0 if generation.manifest["documents"] else None
    built = generation.manifest["documents"]
    # A skipped file counts too: fixed (re-encoded, filled in), it must be indexed.
    skipped = {s["source"]: s for s in generation.manifest.get("skipped", [])}
    seen = 0
    pending = 0
    stale = False
    for f in scan.files:
        entry = built.get(f.source) or skipped.get(f.source)
        if f.source in built:
            seen += 1
        if entry is None or entry.get("size", f.size) != f.size or entry.get("mtime_ns", f.mtime_ns) != f.mtime_ns:
            stale = True
            pending += f.size
    return pending if stale or seen != len(built) else None
