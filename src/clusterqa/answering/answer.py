"""The answer sentence and the probability that it answers the question.

Two models, fitted by benchmarks/fit_answers.py on SQuAD 2.0 paragraphs and shipped as data
(data/answer_model.json), are applied here with numpy alone: a conditional logit scores every
candidate sentence of the top passages (their softmax says which one answers, if any does) and
the best one is the answer; a logistic regression turns the chosen sentence and the evidence
around it into a calibrated probability that it answers.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from functools import cache
from pathlib import Path

import numpy as np

from ..errors import ClusterQAError
from ..models import IDENTITY, Answer, CosineScale, Hit
from ..reading.splitting import field_label
from .alignment import ALIGNMENT_FEATURES, RERANKED, TokenVectors, alignment_features
from .answer_features import (
    CONFIDENCE_FEATURES,
    CONFIDENCE_WORD_EVIDENCE,
    SENTENCE_FEATURES,
    WORD_EVIDENCE,
    Candidates,
    DocumentFrequencies,
    SentenceRows,
    candidate_features,
    confidence_features,
    question_evidence,
    stems_of,
)

MODEL_PATH = Path(__file__).parent.parent / "data" / "answer_model.json"
ACROSS_PATH = Path(__file__).parent.parent / "data" / "across_scripts_model.json"
RERANK_FEATURES: tuple[str, ...] = ("first_stage_logit", *ALIGNMENT_FEATURES)
_COUNT = re.compile(r"\b(?:two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|\d+)\b", re.I)


@dataclass(frozen=True)
class Logistic:
    """p = 1 / (1 + exp(-(w · (x - mean) / scale + b)))."""

    features: tuple[str, ...]
    mean: np.ndarray
    scale: np.ndarray
    weights: np.ndarray
    intercept: float

    def logit(self, x: np.ndarray) -> np.ndarray:
        return ((x - self.mean) / self.scale) @ self.weights + self.intercept

    @classmethod
    def from_json(
        cls, data: dict, expected: Sequence[str], path: Path = MODEL_PATH, fitter: str = "benchmarks/fit_answers.py"
    ) -> Logistic:
        features = tuple(data["features"])
        if features != tuple(expected):
            raise ClusterQAError(
                f"{path} was fitted on features {list(features)} but the code computes {list(expected)}; rerun {fitter}"
            )
        arrays = [np.asarray(data[k], dtype=np.float64) for k in ("mean", "scale", "weights")]
        if any(a.shape != (len(features),) for a in arrays):
            raise ClusterQAError(f"{path} has coefficient lists of the wrong length; rerun {fitter}")
        return cls(features, arrays[0], arrays[1], arrays[2], float(data["intercept"]))


@dataclass(frozen=True)
class AnswerModel:
    passages: int  # the fixed candidate set: top passages the answer is chosen from
    sentence: Logistic
    confidence: Logistic
    threshold: float  # confident when the probability is at least this
    highlight: float  # a sentence is highlighted when it holds at least this share of the scorer's softmax
    absent_cap: float  # the confidence of a question whose focus or name no passage contains is at most this
    rerank: Logistic  # second stage over the first stage's best RERANKED: its logit and the token alignment
    rerank_encoder: str  # the model whose token outputs the second stage was fitted on; others skip it
    first_stage_confidence: Logistic  # fitted without the second stage: for encoders without token outputs
    first_stage_threshold: float


@dataclass(frozen=True)
class AcrossScripts:
    """The first stage and the confidence for a question in another script than every passage it got
    (a Chinese question, English documents), fitted on translated squad2 questions by
    benchmarks/cross_script.py with `encoder`'s cosines and the word evidence read through the
    question's translations (answer_features.translated_terms): the English models, with that evidence
    set aside, picked a worse sentence there than the sentence cosine alone."""

    encoder: str
    sentence: Logistic
    confidence: Logistic
    threshold: float


@cache
def across_scripts_model(path: Path = ACROSS_PATH) -> AcrossScripts:
    fitter = "benchmarks/cross_script.py"
    try:
        data = json.loads(path.read_text("utf-8"))
        return AcrossScripts(
            encoder=str(data["encoder"]),
            sentence=Logistic.from_json(data["sentence"], SENTENCE_FEATURES, path, fitter),
            confidence=Logistic.from_json(data["confidence"], CONFIDENCE_FEATURES, path, fitter),
            threshold=float(data["threshold"]),
        )
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ClusterQAError(f"{path} cannot be read ({exc}); reinstall clusterqa") from None


@cache
def answer_model(path: Path = MODEL_PATH) -> AnswerModel:
    try:
        data = json.loads(path.read_text("utf-8"))
        return AnswerModel(
            passages=int(data["passages"]),
            sentence=Logistic.from_json(data["sentence"], SENTENCE_FEATURES),
            confidence=Logistic.from_json(data["confidence"], CONFIDENCE_FEATURES),
            threshold=float(data["threshold"]),
            highlight=float(data["highlight"]),
            absent_cap=float(data["absent_cap"]),
            rerank=Logistic.from_json(data["rerank"], RERANK_FEATURES),
            rerank_encoder=str(data["rerank_encoder"]),
            first_stage_confidence=Logistic.from_json(data["first_stage_confidence"], CONFIDENCE_FEATURES),
            first_stage_threshold=float(data["first_stage_threshold"]),
        )
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ClusterQAError(f"{path} cannot be read ({exc}); reinstall clusterqa") from None


def sigmoid(x: np.ndarray | float) -> np.ndarray | float:
    return 1.0 / (1.0 + np.exp(-np.clip(x, -30, 30)))


@dataclass(frozen=True)
class Pick:
    """What the answer stage decided for one question."""

    best: Answer | None  # the highest-scoring sentence, whether or not it is confident
    confidence: float  # probability that `best` answers the question
    confident: bool
    reason: str | None  # why not confident, in words; None when confident
    hits: tuple[Hit, ...]  # the hits, each with its answering sentence highlighted (if any)


def pick_answer(
    question: str,
    query: np.ndarray,
    hits: Sequence[Hit],
    sentences: SentenceRows,
    frequencies: DocumentFrequencies,
    model: AnswerModel | None = None,
    scale: CosineScale = IDENTITY,
    tokens: TokenVectors | None = None,
    across: AcrossScripts | None = None,
) -> Pick:
    """Score every candidate sentence of `hits` (the fixed top passages); the best one is the answer.

    `scale`: the encoder's question-text cosines on the scale the model was fitted on (`Searcher.scales`).
    `tokens`: the encoder's word-piece outputs, for the second stage (alignment.py); None skips it.
    `across`: the models for a question in another script than every candidate, when this index's
    encoder is the one they were fitted with; None keeps the English models (word evidence neutralized).
    """
    model = model or answer_model()
    top = list(hits[: model.passages])
    candidates = candidate_features(question, query, top, sentences, frequencies, scale)
    if not candidates.spans:
        return Pick(None, 0.0, False, "no passage holds a sentence that could answer it", tuple(hits))
    cross = np.array([candidates.cross_script[h] for h in candidates.hit_index], dtype=bool)
    if not candidates.translated:
        # Fitted for Chinese questions about English passages: not where the passages hold both scripts
        # (one scorer must rank both kinds of sentence), nor for English questions about Chinese ones.
        across = None
    scorer = across.sentence if across else model.sentence
    # Across scripts the English models' word evidence says nothing; the models fitted for it read the
    # question's words through their translations (answer_features.translated_terms).
    features = candidates.features if across else neutral(candidates.features, scorer, WORD_EVIDENCE, cross)
    logits = scorer.logit(features)
    if tokens is None or across:  # no token outputs (or a second stage fitted in English only): the first stage's best
        chosen, alignment = int(np.argmax(logits)), {}
    else:

        def align(order: np.ndarray) -> np.ndarray:
            return alignment_features(question, [candidates.window(int(i), top) for i in order], tokens)

        chosen, alignment = rerank(logits, model.rerank, align)
    # The confidence is the chosen sentence's, as the models were fitted; a list it introduces, or the
    # field line the question asks for, is shown as the answer on that evidence (the models were fitted on
    # prose: a list's or a field's own features do not describe how well it matches the question).
    fields = asked_fields(candidates, top)
    best = fields[0] if fields else listed_after(candidates, chosen, top)
    share = np.exp(logits - logits[best])
    share /= share.sum()
    evidence = question_evidence(candidates)
    if across:
        calibrated, threshold = across.confidence, across.threshold
    elif chosen in alignment:
        calibrated, threshold = model.confidence, model.threshold
    else:  # no second stage: the confidence fitted without it
        calibrated, threshold = model.first_stage_confidence, model.first_stage_threshold
    x = confidence_features(features, logits, chosen, evidence, alignment.get(chosen))
    if cross[chosen] and not across:
        x = neutral(x[None, :], calibrated, CONFIDENCE_WORD_EVIDENCE, np.ones(1, dtype=bool))[0]
    confidence = float(sigmoid(calibrated.logit(x)))
    if candidates.terms.asked_absent(bool(fields)) is not None and (across or not cross[best]):
        confidence = min(confidence, model.absent_cap)
    confident = confidence >= threshold
    h = candidates.hit_index[best]
    start, end = candidates.spans[best]
    passage = top[h].passage
    answer = Answer(
        text=passage.text[start:end],
        source=passage.source,
        line=passage.line_start + passage.text.count("\n", 0, start),
        score=float(share[chosen]),  # a list the chosen sentence introduces stands on its evidence
        hit_rank=top[h].rank,
        page=passage.page_start,  # a passage on two pages holds one sentence over the break, its last
    )
    return Pick(
        best=answer,
        confidence=confidence,
        confident=confident,
        reason=None if confident else _reason(candidates, chosen, confidence, bool(cross[chosen]) and not across, bool(fields)),
        hits=_highlighted(hits, candidates, share, best if confident else None, model.highlight),
    )


def reranked(logits: np.ndarray) -> np.ndarray:
    """The candidates the second stage compares: the first stage's best RERANKED, best first."""
    return np.argsort(-logits, kind="stable")[:RERANKED]


def rerank(logits: np.ndarray, model: Logistic, align: Callable[[np.ndarray], np.ndarray]) -> tuple[int, dict[int, np.ndarray]]:
    """The second stage: the best of `reranked(logits)` by `model` over their first-stage logit and
    token alignment (`align(order)`: alignment.alignment_features of those candidates), and each
    reranked candidate's alignment features."""
    order = reranked(logits)
    aligned = align(order)
    scores = model.logit(np.column_stack([logits[order], aligned]))
    return int(order[int(np.argmax(scores))]), {int(i): row for i, row in zip(order, aligned, strict=True)}


LIST_NAMES = 3  # names a sentence must add to count as the list a counting sentence introduces
LIST_WINDOW = 3  # how many following sentences of the same passage may hold that list


def listed_after(candidates: Candidates, best: int, hits: Sequence[Hit]) -> int:
    """For a question asking for names, when the best sentence counts them ("three cities were
    shortlisted") and one of the next sentences of its passage lists them ("The shortlisted cities are
    A, B and C"), the sentence with the names holds the answer."""
    col = SENTENCE_FEATURES.index("type_count")
    if candidates.kind != "name" or not candidates.terms.focus:
        return best
    h = candidates.hit_index[best]
    text = hits[h].passage.text
    start, end = candidates.spans[best]
    if not _COUNT.search(text[start:end]):
        return best
    chosen, most = best, max(float(np.expm1(candidates.features[best, col])), LIST_NAMES - 1)
    for j in range(best + 1, min(best + 1 + LIST_WINDOW, len(candidates.spans))):
        if candidates.hit_index[j] != h:
            break
        names = float(np.expm1(candidates.features[j, col]))
        listed = text[candidates.spans[j][0] : candidates.spans[j][1]]
        if names > most and candidates.terms.focus & stems_of(listed):
            chosen, most = j, names
    return chosen


def asked_fields(candidates: Candidates, hits: Sequence[Hit]) -> list[int]:
    """The "Label: value" lines whose label is what the question asks for ("What is the website of the
    Information Office?" -> "Website: http://..."), best-ranked passage first: the first holds the answer,
    from the passage the retriever matched best to the rest of the question. The models, fitted on
    prose, have never seen a field line (benchmarks/fields.py measures this rule)."""
    focus = candidates.terms.focus
    if not focus:
        return []

    def asked(i: int) -> bool:
        label = field_label(hits[candidates.hit_index[i]].passage.text, *candidates.spans[i])
        label_stems = stems_of(label) if label else set()
        return bool(label_stems) and label_stems <= focus

    return sorted((j for j in range(len(candidates.spans)) if asked(j)), key=lambda j: candidates.hit_index[j])


def _highlighted(
    hits: Sequence[Hit], candidates: Candidates, probability: np.ndarray, answer: int | None, level: float
) -> tuple[Hit, ...]:
    """Each hit with its best sentence marked, only where that sentence scores as answering."""
    chosen: dict[int, int] = {}
    for i, h in enumerate(candidates.hit_index):
        if (probability[i] >= level or i == answer) and (h not in chosen or probability[i] > probability[chosen[h]]):
            chosen[h] = i
    if answer is not None:
        chosen[candidates.hit_index[answer]] = answer
    return tuple(replace(hit, highlight=candidates.spans[chosen[h]]) if h in chosen else hit for h, hit in enumerate(hits))


def neutral(features: np.ndarray, model: Logistic, names: Sequence[str], rows: np.ndarray) -> np.ndarray:
    """`features` with the columns `names` of `rows` set to the fitting data's means: standardized to 0,
    they add nothing to the logit, evidence neither for nor against (mean imputation)."""
    if not rows.any():
        return features
    out = features.copy()
    columns = [model.features.index(name) for name in names]
    out[np.ix_(rows, columns)] = model.mean[columns]
    return out


def _reason(
    candidates: Candidates, best: int, confidence: float, cross_script: bool = False, focus_answered: bool = False
) -> str:
    """Why the best sentence is not a confident answer, naming the evidence that is missing
    (`focus_answered`: a field's label answers what the question asks about, see `asked_fields`)."""
    terms = candidates.terms
    absent = terms.asked_absent(focus_answered)
    if absent is not None and not cross_script:
        return f"no passage mentions '{absent}'"
    union = set().union(*candidates.passage_stems)
    answered = terms.focus if focus_answered else frozenset()
    missing = [t for t in terms.weights if t not in answered and not terms.found(t, union)]
    missing.sort(key=lambda t: -terms.weights[t])
    if missing and not cross_script:
        word = terms.unstemmed[missing[0]]
        if missing[0] in terms.absent:
            return f"no passage mentions '{word}'"
        return f"none of the best-matching passages mentions '{word}'"
    col = SENTENCE_FEATURES.index("type_miss")
    if candidates.kind and candidates.features[best, col]:
        return f"the closest sentence states no {candidates.kind}, which the question asks for"
    return f"the closest sentence matches the question only weakly (probability {confidence:.2f} that it answers)"
