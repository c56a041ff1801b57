"""Features of each answer candidate, computed at question time from the index (milliseconds).

A candidate is a sentence of one of the top passages the retriever returns (a fixed number of
them, whatever `--top-k` shows). The features feed two logistic models fitted by
benchmarks/fit_answers.py (coefficients in data/answer_model.json): which sentence answers,
and how likely it is that it does.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from ..index.lexical import CJK_RANGES, STOPWORDS, has_cjk, is_cjk_text, query_terms, salient, stem, words
from ..models import IDENTITY, CosineScale, Hit
from .alignment import ALIGNMENT_FEATURES

# The chosen sentence's alignment_features, as confidence features.
BEST_ALIGNMENT: tuple[str, ...] = tuple(f"best_{name}" for name in ALIGNMENT_FEATURES)

SentenceRows = Callable[[Sequence[int]], list[tuple[int, int, int, int, bytes, bytes]]]
DocumentFrequencies = Callable[[list[str]], tuple[dict[str, int], int]]

# Per candidate sentence, by group (the groups are what the ablation drops one at a time).
SENTENCE_GROUPS: dict[str, tuple[str, ...]] = {
    "dense": ("sentence_cosine", "context_cosine", "passage_cosine"),
    "retrieval": ("fused_score", "passage_rank"),
    "coverage": (
        "sentence_coverage",
        "context_coverage",
        "passage_coverage",
        "passage_missing_idf",
        "novel_words",
        "context_bigrams",
    ),
    "names": ("context_names_missing", "passage_names_missing", "negation_mismatch"),
    "focus": ("focus_missing_sentence", "focus_missing_passage"),
    "answer_type": ("type_match", "type_miss", "type_count"),
    "rank": ("sentence_rank", "sentence_margin"),
    "layout": ("label_line", "short_line", "log_words"),
}
SENTENCE_FEATURES: tuple[str, ...] = tuple(f for group in SENTENCE_GROUPS.values() for f in group)
# Word-overlap evidence: meaningless between a question and a passage in different scripts (a
# Chinese question, an English passage), where only the multilingual encoder's cosines compare them.
WORD_EVIDENCE = (*SENTENCE_GROUPS["coverage"], *SENTENCE_GROUPS["names"], *SENTENCE_GROUPS["focus"])

_NUMBER_WORDS = [
    "one",
    "two",
    "three",
    "four",
    "five",
    "six",
    "seven",
    "eight",
    "nine",
    "ten",
    "eleven",
    "twelve",
    "twenty",
    "thirty",
    "forty",
    "fifty",
    "hundred",
    "thousand",
    "million",
    "billion",
    "trillion",
    "dozen",
    "dozens",
    "hundreds",
    "thousands",
    "millions",
    "billions",
    "half",
    "percent",
]
_MONTHS = [
    "january",
    "february",
    "march",
    "april",
    "may",
    "june",
    "july",
    "august",
    "september",
    "october",
    "november",
    "december",
]
_NUMBER = re.compile(r"\d|\b(?:" + "|".join(_NUMBER_WORDS) + r")\b", re.I)
_DATE = re.compile(
    r"(?:1\d{3}|20\d{2})年|\d{1,2}月\d{1,2}日|"  # 2020年, 7月31日 (no word boundary inside CJK text)
    r"\b(?:1\d{3}|20\d{2})s?\b|\b(?:" + "|".join(_MONTHS) + r")\b|\bcentur(?:y|ies)\b|\b\d{1,2}(?:st|nd|rd|th)\b",
    re.I,
)
# "How often": a number, or a word of frequency ("every hour", "twice a year", "annually").
_FREQUENCY = re.compile(
    _NUMBER.pattern + r"|\b(?:every|each|once|twice|thrice|daily|weekly|monthly|yearly|annually|hourly|per)\b", re.I
)
_CAPITALISED = re.compile(r"(?<![.!?]\s)(?<!^)\b[A-Z][\w'-]*", re.M)
_NEGATION = re.compile(r"\b(?:not|never|no|none|without)\b|n't\b", re.I)
_LABEL = re.compile(r"^\s*[\w .&'/()-]{1,40}:\s")

# What the question asks for, from its wording: (pattern, type). First match wins.
_QUESTION_TYPES = (
    (
        re.compile(r"\bhow (?:many|much|long|far|old|big|large|tall|high|fast)\b|\bwhat (?:percentage|percent|number|amount)\b"),
        "number",
    ),
    (
        re.compile(
            r"^\s*when\b|\bwhen (?:did|was|were|is|do|does|will)\b"
            r"|\bwhat (?:year|date|day|month|century|decade)\b|\bwhich (?:year|century|decade)\b"
        ),
        "date",
    ),
    (re.compile(r"\bhow often\b"), "frequency"),
    (re.compile(r"\bwho(?:m|se)?\b"), "name"),
    (re.compile(r"\bwhere\b|\bwhat (?:country|city|place|region|province|state|town|continent)\b"), "name"),
    (re.compile(r"\bwhich\b|\bwhat (?:is|was|are|were) the name\b|\bname (?:of|the)\b"), "name"),
    # Chinese: how many / how much, when, who / which.
    (re.compile(r"多少|几(?:个|家|种|项|倍|成|亿|万|千|百)|百分之几|比例|占比"), "number"),
    (re.compile(r"什么时候|何时|哪一?年|哪一?天|几月|几号|什么日期|哪个月"), "date"),
    (re.compile(r"谁|哪些|哪个|哪家|哪里|哪座|哪位|什么名字|名称"), "name"),
)


def question_type(question: str) -> str | None:
    """What kind of answer the question asks for: number, frequency, date, name, or None (a small rule set)."""
    lowered = question.lower()
    return next((kind for pattern, kind in _QUESTION_TYPES if pattern.search(lowered)), None)


def type_count(kind: str, text: str, question_words: set[str] | frozenset[str]) -> int:
    """How many things of `kind` `text` holds that the question does not already say (a list of names counts each)."""
    pattern = {"number": _NUMBER, "frequency": _FREQUENCY, "date": _DATE}.get(kind, _CAPITALISED)
    return len({m.group(0).lower() for m in pattern.finditer(text)} - set(question_words))


def idf(df: int, n: int) -> float:
    """BM25's inverse document frequency, log(1 + (N - df + 0.5) / (df + 0.5)) (Robertson & Zaragoza 2009)."""
    return math.log(1.0 + (n - df + 0.5) / (df + 0.5))


@dataclass(frozen=True)
class QuestionTerms:
    """The question's salient terms (stemmed) with IDF weights, and which the corpus lacks."""

    weights: dict[str, float]  # stem -> idf / idf of a term in no passage (0..1]
    unstemmed: dict[str, str]  # stem -> the question's word, for messages
    absent: tuple[str, ...]  # stems of words no passage contains
    words: frozenset[str]  # lower-cased words of the question
    names: frozenset[str]  # its names and numbers: capitalised words past the first, digits (lower-cased)
    bigrams: frozenset[tuple[str, str]]  # pairs of consecutive salient stems
    negated: bool  # says not / never / no
    focus: frozenset[str]  # stems of what it asks about: the words after its question word ("the height of")
    # A question in another script (`translated_terms`): each term is one of its words, present where any
    # stem of its translations is (a structured query, Pirkola 1998); empty: each term is its own stem.
    synonyms: dict[str, frozenset[str]] = field(default_factory=dict)

    def found(self, term: str, present: set[str] | frozenset[str]) -> bool:
        """The term (or, translated, one of its translations' stems) is among `present` stems."""
        return bool(self.synonyms[term] & present) if self.synonyms else term in present

    def focus_missing(self, present: set[str] | frozenset[str]) -> float:
        """1 when what the question asks about is absent from `present` stems (0 when there is no focus)."""
        return float(bool(self.focus) and not self.focus & present)

    def asked_absent(self, focus_answered: bool = False) -> str | None:
        """The question's focus word or name that no passage of the index contains, if any: the question
        asks about something the documents never mention ("the height of", "Lisbon"; translated: 法国).
        `focus_answered`: a field line's label answers the focus ("Phone:" for "the phone number"), so only
        names count."""
        asked = (set() if focus_answered else set(self.focus)) | set(stem(sorted(self.names)))
        asked |= set(self.names) & set(self.synonyms)
        return next((self.unstemmed.get(t, t) for t in self.absent if t in asked), None)

    def names_missing(self, text: str) -> float:
        """Share of the question's names and numbers that `text` lacks (0 when it has none)."""
        if not self.names:
            return 0.0
        present = set(words(text))
        stems = stems_of(text) if self.synonyms else set()  # a translated name is present in English words
        missing = [n for n in self.names if n not in present and not (n in self.synonyms and self.found(n, stems))]
        return len(missing) / len(self.names)

    def bigram_share(self, text: str) -> float:
        """Share of the question's consecutive salient-stem pairs that occur, in order, in `text`."""
        if not self.bigrams:
            return 0.0
        stems = stem(query_terms_ordered(text))
        return len(self.bigrams & set(zip(stems, stems[1:], strict=False))) / len(self.bigrams)

    def coverage(self, present: set[str]) -> float:
        """IDF-weighted share of the question's terms among `present` stems."""
        total = sum(self.weights.values())
        return sum(w for t, w in self.weights.items() if self.found(t, present)) / total if total else 0.0

    def missing_idf(self, present: set[str]) -> float:
        """The largest normalized IDF of a question term absent from `present` (0 when none is)."""
        return max((w for t, w in self.weights.items() if not self.found(t, present)), default=0.0)


def question_terms(question: str, frequencies: DocumentFrequencies) -> QuestionTerms:
    terms = query_terms(question)
    counts, n = frequencies(terms) if terms else ({}, 0)
    top = idf(0, n) if n else 1.0
    weights: dict[str, float] = {}
    unstemmed: dict[str, str] = {}
    absent: list[str] = []
    for term, stemmed in zip(terms, stem(terms), strict=True):
        weight = idf(counts.get(term, 0), n) / top if n else 0.0
        if weight >= weights.get(stemmed, -1.0):
            weights[stemmed], unstemmed[stemmed] = weight, term
        if counts.get(term, 0) == 0 and stemmed not in absent:
            absent.append(stemmed)
    question_words = frozenset(words(question))
    names = frozenset(m.group(0).lower() for m in _CAPITALISED.finditer(question.strip())) | frozenset(
        re.findall(r"\d+", question)
    )
    ordered = stem(query_terms_ordered(question))
    bigrams = frozenset(zip(ordered, ordered[1:], strict=False))
    focus = frozenset(stem(question_focus(question)))
    negated = bool(_NEGATION.search(question))
    return QuestionTerms(weights, unstemmed, tuple(absent), question_words, names, bigrams, negated, focus)


def translated_terms(question: str, frequencies: DocumentFrequencies) -> QuestionTerms:
    """`question_terms` of a Chinese question about documents in English: its words are the Chinese words
    the dictionary translates (glossary.py), each weighted by the IDF of its most frequent translation
    and absent when none of its translations occurs in any passage; its names are its numbers, its Latin
    words and the proper nouns among its words (法国: France); no focus or word pairs (those read English
    word order)."""
    from .glossary import translations

    found = translations(question)
    english = sorted({w for t in found for w in t.english})
    counts, n = frequencies(english) if english else ({}, 0)
    top = idf(0, n) if n else 1.0
    weights: dict[str, float] = {}
    synonyms: dict[str, frozenset[str]] = {}
    absent: list[str] = []
    for t in found:
        df = max((counts.get(w, 0) for w in t.english), default=0)
        weights[t.word] = idf(df, n) / top if n else 0.0
        synonyms[t.word] = frozenset(stem(list(t.english)))
        if df == 0:
            absent.append(t.word)
    latin = [t for t in query_terms(question) if not has_cjk(t)]
    names = (
        frozenset(re.findall(r"\d+", question))
        | frozenset(t for t in latin if not t.isdigit())
        | frozenset(t.word for t in found if t.name)
    )
    return QuestionTerms(
        weights=weights,
        unstemmed={w: w for w in weights},
        absent=tuple(absent),
        words=frozenset(words(question)),
        names=names,
        bigrams=frozenset(),
        negated=False,
        focus=frozenset(),
        synonyms=synonyms,
    )


# "how often/long/far..." is the question word itself: "often" is not what the question is about.
_WH = re.compile(
    r"\b(?:how (?:many|much|often|long|far|old|big|large|tall|high|fast|soon)|what|which|who|whom|whose|when|where|why|how)\b"
)
_SKIP = frozenset(
    ["is", "are", "was", "were", "did", "does", "do", "has", "have", "had", "the", "a", "an", "of", "kind", "type", "name"]
)


def question_focus(question: str) -> list[str]:
    """What the question asks about: the salient words right after its question word, before the next
    stop word ("What is the height of X" -> height; "How many river ports does" -> river, ports)."""
    lowered = question.lower()
    m = _WH.search(lowered)
    if not m:
        return []
    focus: list[str] = []
    for word in re.findall(r"\w+", lowered[m.end() :]):
        if not focus and word in _SKIP:
            continue
        if word in STOPWORDS or word in _SKIP:
            break
        focus.append(word)
        if len(focus) == 3:
            break
    return focus


_CJK_CHAR = re.compile(f"[{CJK_RANGES}]")
CJK_CHARS_PER_WORD = 1.6  # Chinese words average about 1.6 characters (segmented corpora such as the PKU one)


def word_count(text: str) -> int:
    """Words of a sentence as the layout features count them: whitespace-separated, and for CJK text
    (no spaces) its characters over the average word length, so a Chinese sentence is not one word."""
    cjk = len(_CJK_CHAR.findall(text))
    if not cjk:
        return len(text.split())
    return len(_CJK_CHAR.sub(" ", text).split()) + round(cjk / CJK_CHARS_PER_WORD)


def query_terms_ordered(text: str) -> list[str]:
    """The salient words of `text` in order, repeats kept (for word pairs)."""
    return [w for w in words(text) if salient(w)]


def stems_of(text: str) -> set[str]:
    return set(stem(query_terms(text)))


@dataclass(frozen=True)
class Candidates:
    """Every answer candidate of the fixed passage set, one feature row each."""

    hit_index: tuple[int, ...]  # which of the hits the sentence is in
    spans: tuple[tuple[int, int], ...]  # [start, end) in that hit's passage text
    features: np.ndarray  # (candidates, len(SENTENCE_FEATURES)) float64
    terms: QuestionTerms
    passage_stems: tuple[frozenset[str], ...]  # per hit: stems of its title and text
    kind: str | None  # what the question asks for
    cross_script: tuple[bool, ...] = ()  # per hit: written in another script than the question (CJK or not)
    context_starts: tuple[int, ...] = ()  # per candidate: where its context (the sentence before it) starts
    translated: bool = False  # a Chinese question, English passages: `terms` are translated_terms

    def window(self, i: int, hits: Sequence[Hit]) -> tuple[str, int]:
        """Candidate i with the sentence before it, and where the candidate starts in that text."""
        start, end = self.spans[i]
        first = self.context_starts[i]
        return hits[self.hit_index[i]].passage.text[first:end], start - first

    def __post_init__(self) -> None:
        if self.features.shape != (len(self.spans), len(SENTENCE_FEATURES)):
            raise ValueError(f"{self.features.shape} features for {len(self.spans)} candidates")


def candidate_features(
    question: str,
    query: np.ndarray,
    hits: Sequence[Hit],
    sentences: SentenceRows,
    frequencies: DocumentFrequencies,
    scale: CosineScale = IDENTITY,
) -> Candidates:
    """Features of each sentence of `hits` (the fixed set of top passages) for `question`.

    `scale` puts the encoder's cosines on the scale of the one the answer model was fitted with.
    """
    cross_script = tuple(is_cjk_text(h.passage.text) != is_cjk_text(question) for h in hits)
    translated = bool(hits) and all(cross_script) and is_cjk_text(question)  # a Chinese question, English passages
    terms = translated_terms(question, frequencies) if translated else question_terms(question, frequencies)
    passage_stems = tuple(frozenset(stems_of(h.passage.title + "\n" + h.passage.text)) for h in hits)
    kind = question_type(question)
    by_id = {h.passage.id: i for i, h in enumerate(hits)}
    rows = [r for r in sentences([h.passage.id for h in hits]) if r[0] in by_id]
    if not rows:
        return Candidates((), (), np.zeros((0, len(SENTENCE_FEATURES))), terms, passage_stems, kind)
    own = np.frombuffer(b"".join(r[4] for r in rows), dtype=np.float16).reshape(len(rows), -1).astype(np.float32)
    context = np.frombuffer(b"".join(r[5] for r in rows), dtype=np.float16).reshape(len(rows), -1).astype(np.float32)
    s_cos = scale(own @ query)
    c_cos = scale(context @ query)
    base = np.maximum(s_cos, c_cos)
    order = np.argsort(-base, kind="stable")
    rank = np.empty(len(rows))
    rank[order] = np.arange(1, len(rows) + 1)
    best_other = np.where(np.arange(len(rows)) == order[0], base[order[1]] if len(rows) > 1 else base[order[0]], base[order[0]])
    features = np.zeros((len(rows), len(SENTENCE_FEATURES)))
    passage_names = [terms.names_missing(h.passage.title + "\n" + h.passage.text) for h in hits]
    for i, (pid, start, end, context_start, _, _) in enumerate(rows):
        h = by_id[pid]
        hit = hits[h]
        text = hit.passage.text[start:end]
        present = stems_of(text)
        novel = [w for w in words(text) if w not in terms.words and (len(w) > 2 or has_cjk(w))]
        length = word_count(text)
        found = type_count(kind, text, terms.words) if kind else 0
        matched = found > 0
        values = {
            "sentence_cosine": float(s_cos[i]),
            "context_cosine": float(c_cos[i]),
            "passage_cosine": float(scale(hit.dense_score or 0.0)),
            "fused_score": float(hit.score),
            "passage_rank": 1.0 / (h + 1),
            "sentence_coverage": terms.coverage(present),
            "context_coverage": terms.coverage(present | stems_of(hit.passage.text[context_start:start])),
            "passage_coverage": terms.coverage(passage_stems[h]),
            "passage_missing_idf": terms.missing_idf(passage_stems[h]),
            "novel_words": math.log1p(len(novel)),
            "context_bigrams": terms.bigram_share(hit.passage.text[context_start:end]),
            "context_names_missing": terms.names_missing(hit.passage.text[context_start:end]),
            "passage_names_missing": passage_names[h],
            "negation_mismatch": float(terms.negated != bool(_NEGATION.search(text))),
            "focus_missing_sentence": terms.focus_missing(present | stems_of(hit.passage.text[context_start:start])),
            "focus_missing_passage": terms.focus_missing(passage_stems[h]),
            "type_match": float(matched),
            "type_miss": float(kind is not None and not matched),
            "type_count": math.log1p(found),
            "sentence_rank": 1.0 / rank[i],
            "sentence_margin": float(base[i] - best_other[i]),
            "label_line": float(bool(_LABEL.match(text))),
            "short_line": float(length < 6),
            "log_words": math.log1p(length),
        }
        features[i] = [values[name] for name in SENTENCE_FEATURES]
    return Candidates(
        tuple(by_id[r[0]] for r in rows),
        tuple((r[1], r[2]) for r in rows),
        features,
        terms,
        passage_stems,
        kind,
        cross_script,
        tuple(r[3] for r in rows),
        translated,
    )


# Per question, from the chosen sentence and the whole candidate set: the confidence model's input.
CONFIDENCE_FEATURES: tuple[str, ...] = (
    "best_share",
    "logit_margin",
    "best_sentence_coverage",
    "best_passage_coverage",
    "best_passage_missing_idf",
    "all_passages_missing_idf",
    "corpus_missing",
    "best_type_miss",
    "best_context_names_missing",
    "best_passage_names_missing",
    "best_negation_mismatch",
    "best_focus_missing_sentence",
    "best_focus_missing_passage",
    "all_focus_missing",
    "best_context_bigrams",
    "best_sentence_cosine",
    "top_passage_cosine",
    *BEST_ALIGNMENT,
)
CONFIDENCE_GROUPS: dict[str, tuple[str, ...]] = {
    "scorer": ("best_share", "logit_margin"),
    "coverage": (
        "best_sentence_coverage",
        "best_passage_coverage",
        "best_passage_missing_idf",
        "all_passages_missing_idf",
        "corpus_missing",
        "best_context_bigrams",
    ),
    "answer_type": ("best_type_miss",),
    "names": ("best_context_names_missing", "best_passage_names_missing", "best_negation_mismatch"),
    "focus": ("best_focus_missing_sentence", "best_focus_missing_passage", "all_focus_missing"),
    "dense": ("best_sentence_cosine", "top_passage_cosine"),
    "alignment": BEST_ALIGNMENT,
}


CONFIDENCE_WORD_EVIDENCE = (*CONFIDENCE_GROUPS["coverage"], *CONFIDENCE_GROUPS["names"], *CONFIDENCE_GROUPS["focus"])


def question_evidence(candidates: Candidates) -> tuple[float, float, float]:
    """(largest normalized IDF of a question term no candidate passage holds, 1 if a term is in no passage
    at all, 1 if no candidate passage holds what the question asks about)."""
    union: set[str] = set().union(*candidates.passage_stems) if candidates.passage_stems else set()
    terms = candidates.terms
    return terms.missing_idf(union), float(bool(terms.absent)), terms.focus_missing(union)


def confidence_features(
    features: np.ndarray, logits: np.ndarray, best: int, evidence: tuple[float, ...], alignment: Sequence[float] | None = None
) -> np.ndarray:
    """The confidence model's input for the chosen candidate `best`.

    `features` and `logits` are every candidate's (the scorer's: their softmax says who answers);
    `evidence` is `question_evidence`; `alignment` the chosen one's `alignment_features` (zeros without
    a second stage, where the confidence fitted without it, which gives them no weight, is used).
    """
    col = {name: i for i, name in enumerate(SENTENCE_FEATURES)}
    others = np.delete(logits, best)
    values = {
        "best_share": float(1.0 / np.exp(logits - logits[best]).sum()),
        "logit_margin": float(logits[best] - others.max()) if len(others) else 5.0,
        "best_sentence_coverage": features[best, col["sentence_coverage"]],
        "best_passage_coverage": features[best, col["passage_coverage"]],
        "best_passage_missing_idf": features[best, col["passage_missing_idf"]],
        "all_passages_missing_idf": evidence[0],
        "corpus_missing": evidence[1],
        "best_type_miss": features[best, col["type_miss"]],
        "best_context_names_missing": features[best, col["context_names_missing"]],
        "best_passage_names_missing": features[best, col["passage_names_missing"]],
        "best_negation_mismatch": features[best, col["negation_mismatch"]],
        "best_focus_missing_sentence": features[best, col["focus_missing_sentence"]],
        "best_focus_missing_passage": features[best, col["focus_missing_passage"]],
        "all_focus_missing": evidence[2],
        "best_context_bigrams": features[best, col["context_bigrams"]],
        "best_sentence_cosine": features[best, col["sentence_cosine"]],
        "top_passage_cosine": float(features[:, col["passage_cosine"]].max()),
    }
    aligned = alignment if alignment is not None else [0.0] * len(ALIGNMENT_FEATURES)
    values.update(zip(BEST_ALIGNMENT, aligned, strict=True))
    return np.array([values[name] for name in CONFIDENCE_FEATURES], dtype=np.float64)
