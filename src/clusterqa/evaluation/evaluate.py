"""Measuring retrieval and answers on a question file against the index.

Question files and the matching rule are defined in the shared eval README: a passage
answers a question when it comes from one of the question's `sources` (basename) and one
of its `answers` occurs in it after both are NFKC-normalized, whitespace-collapsed,
stripped and lower-cased. The measures come from `metrics`; BEIR folders are `beir`'s.
"""

from __future__ import annotations

import json
import unicodedata
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

from ..answering.search import Searcher
from ..errors import ClusterQAError, UsageError
from ..models import Answer, AskResult, Hit, Retrieval
from .metrics import mean, reliability_curve, roc_auc, rounded, trec_measures

if TYPE_CHECKING:
    from ..index.indexer import Progress

ANSWER_TOP_K = 3  # `clusterqa ask`'s default --top-k (the answer itself comes from a fixed set of top passages)
RETRIEVED_AT = 5  # answer accuracy is also reported on the questions whose answer is in the top 5 passages


# --- what `beir` shares: the error and the JSON-lines reader ---------------------------


class EvalDataError(ClusterQAError):
    """A question file or a BEIR folder is missing or malformed."""


def json_objects(path: Path, lines: Iterable[str], expected: str) -> Iterator[tuple[str, dict]]:
    """(`path:line`, object) for each non-blank line; bad JSON or a non-object names its line."""
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        where = f"{path}:{number}"
        try:
            row = json.loads(line)
        except ValueError as exc:
            raise EvalDataError(f"{where} is not valid JSON ({exc})") from None
        if not isinstance(row, dict):
            raise EvalDataError(f"{where} must be {expected}")
        yield where, row


# --- the matching rule ---------------------------------------------------------------


def normalize_text(text: str) -> str:
    """NFKC, every run of whitespace collapsed to one space, stripped, lower-cased."""
    return " ".join(unicodedata.normalize("NFKC", text).split()).lower()


def contains_answer(text: str, answers: Iterable[str]) -> bool:
    """True when any (non-empty) answer is a substring of `text` under `normalize_text`."""
    haystack = normalize_text(text)
    return any((needle := normalize_text(a)) and needle in haystack for a in answers)


# --- question files ------------------------------------------------------------------


@dataclass(frozen=True)
class Question:
    id: str
    question: str
    answers: tuple[str, ...]
    sources: tuple[str, ...]  # basenames
    unanswerable: bool = False

    def __post_init__(self) -> None:
        if self.unanswerable and (self.answers or self.sources):
            raise ValueError(f"question {self.id!r} is unanswerable but lists answers or sources")
        if not self.unanswerable and not (self.answers and self.sources):
            raise ValueError(f'question {self.id!r} needs answers and sources, or "unanswerable": true')


def load_questions(path: Path) -> list[Question]:
    """Read a question file (one JSON object a line); errors name the file and line."""
    try:
        lines = path.read_text("utf-8").splitlines()
    except FileNotFoundError:
        raise EvalDataError(f"question file {path} does not exist; pass a .jsonl file of questions") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise EvalDataError(f"question file {path} cannot be read ({exc})") from None
    questions: list[Question] = []
    seen: set[str] = set()
    for where, row in json_objects(path, lines, "a JSON object with id, question, answers, sources"):
        try:
            q = Question(
                id=_string(row, "id"),
                question=_string(row, "question"),
                answers=_strings(row, "answers"),
                sources=tuple(PurePosixPath(s).name for s in _strings(row, "sources")),
                unanswerable=_flag(row, "unanswerable"),
            )
        except ValueError as exc:
            raise EvalDataError(f"{where}: {exc}") from None
        if q.id in seen:
            raise EvalDataError(f"{where}: id {q.id!r} is used twice; ids must be unique")
        seen.add(q.id)
        questions.append(q)
    if not questions:
        raise EvalDataError(f"question file {path} holds no questions")
    return questions


def _string(row: dict, key: str) -> str:
    value = row.get(key)
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{key!r} must be a non-empty string")
    return value


def _flag(row: dict, key: str) -> bool:
    value = row.get(key, False)
    if not isinstance(value, bool):
        raise ValueError(f"{key!r} must be true or false")
    return value


def _strings(row: dict, key: str) -> tuple[str, ...]:
    value = row.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ValueError(f"{key!r} must be a list of strings")
    return tuple(value)


@dataclass(frozen=True)
class QuestionOutcome:
    """One question: the ranking the metrics read, which of it is relevant, and what `ask` answered."""

    question: Question
    ranking: tuple[Hit, ...]  # top-k, near-duplicates not folded
    relevant: tuple[bool, ...]  # per ranking entry
    result: AskResult  # the normal `ask` path (folded, answer picked, confidence)
    answer_correct: bool | None  # None for unanswerable questions
    best_correct: bool  # the best sentence, confident or not, contains an answer (False for unanswerable ones)
    relevant_in_index: int  # passages of the index that answer it (the qrels)

    def __post_init__(self) -> None:
        if len(self.ranking) != len(self.relevant):
            raise ValueError(f"{len(self.ranking)} ranked passages but {len(self.relevant)} relevance flags")

    @property
    def first_relevant(self) -> int | None:
        """1-based rank of the first passage that answers the question, None when none in the top k."""
        return next((i for i, r in enumerate(self.relevant, start=1) if r), None)

    def hit_at(self, k: int) -> bool:
        return any(self.relevant[:k])

    @property
    def problems(self) -> tuple[str, ...]:
        """What went wrong, in words; empty for a question handled right."""
        found: list[str] = []
        if self.question.unanswerable:
            if self.result.confident:
                found.append("answered an unanswerable question")
            return tuple(found)
        if self.relevant_in_index == 0:
            found.append("no indexed passage of its sources contains an answer")
        rank = self.first_relevant
        if rank is None:
            found.append(f"no answering passage in the top {len(self.ranking)}")
        elif rank > 1:
            found.append(f"first answering passage at rank {rank}")
        if not self.result.confident:
            found.append("abstained")
        elif not self.answer_correct:
            found.append("answer sentence lacks the answer")
        return tuple(found)


@dataclass(frozen=True)
class Summary:
    questions: int
    answerable: int
    unanswerable: int
    hit_at_1: float | None
    hit_at_3: float | None
    mrr_at_10: float | None
    ndcg_at_10: float | None
    recall_at_10: float | None
    answer_accuracy: float | None
    abstention_precision: float | None  # of the questions flagged not confident, how many are unanswerable
    abstention_recall: float | None  # of the unanswerable questions, how many were flagged
    answer_accuracy_retrieved: float | None = None  # best sentence right, answerable with an answer in the top 5
    answerable_flagged: float | None = None  # share of answerable questions flagged not confident
    confidence_auc: float | None = None  # ROC AUC of the confidence, answerable vs unanswerable
    reliability: tuple[dict, ...] = ()  # per confidence bin: predicted vs observed share answered right

    def as_dict(self) -> dict[str, Any]:
        return {
            "questions": self.questions,
            "answerable": self.answerable,
            "unanswerable": self.unanswerable,
            "hit@1": rounded(self.hit_at_1),
            "hit@3": rounded(self.hit_at_3),
            "mrr@10": rounded(self.mrr_at_10),
            "ndcg@10": rounded(self.ndcg_at_10),
            "recall@10": rounded(self.recall_at_10),
            "answer_accuracy": rounded(self.answer_accuracy),
            "abstention_precision": rounded(self.abstention_precision),
            "abstention_recall": rounded(self.abstention_recall),
            "answer_accuracy_top5": rounded(self.answer_accuracy_retrieved),
            "answerable_flagged": rounded(self.answerable_flagged),
            "confidence_auc": rounded(self.confidence_auc),
            "reliability": [{k: rounded(v) if isinstance(v, float) else v for k, v in b.items()} for b in self.reliability],
        }


@dataclass(frozen=True)
class QuestionSetReport:
    summary: Summary
    outcomes: tuple[QuestionOutcome, ...]
    top_k: int
    retrieval: Retrieval

    @property
    def misses(self) -> tuple[QuestionOutcome, ...]:
        return tuple(o for o in self.outcomes if o.problems)


def evaluate_questions(
    searcher: Searcher,
    questions: Sequence[Question],
    top_k: int = 10,
    retrieval: Retrieval = Retrieval(),
    answer_top_k: int = ANSWER_TOP_K,
    progress: Progress | None = None,
) -> QuestionSetReport:
    """Ranking metrics over the unfolded top-k; answers and abstention from `service.ask`."""
    from ..service import ask

    if top_k < 1:
        raise UsageError(f"--top-k must be at least 1, not {top_k}")
    relevant_ids = _PassageQrels(searcher)
    outcomes: list[QuestionOutcome] = []
    for done, q in enumerate(questions):
        if progress:
            progress("questions", done, len(questions))
        ranking, _ = searcher.retrieve(q.question, top_k, retrieval, fold_duplicates=False)
        qrels = relevant_ids.of(q)
        result = ask(searcher, q.question, answer_top_k, retrieval)
        correct = None if q.unanswerable else result.answer is not None and _right(result.answer, q)
        best_correct = not q.unanswerable and result.best is not None and _right(result.best, q)
        outcomes.append(
            QuestionOutcome(
                question=q,
                ranking=tuple(ranking),
                relevant=tuple(h.passage.id in qrels for h in ranking),
                result=result,
                answer_correct=correct,
                best_correct=best_correct,
                relevant_in_index=len(qrels),
            )
        )
    if progress:
        progress("questions", len(questions), len(questions))
    return QuestionSetReport(_summarize(outcomes, relevant_ids), tuple(outcomes), top_k, retrieval)


def _right(answer: Answer, q: Question) -> bool:
    """The sentence comes from one of the question's sources and contains one of its answers."""
    return PurePosixPath(answer.source).name in q.sources and contains_answer(answer.text, q.answers)


class _PassageQrels:
    """Which indexed passages answer a question: from one of its sources and containing an answer."""

    def __init__(self, searcher: Searcher) -> None:
        self.catalog = searcher.catalog
        self.by_name: dict[str, list[str]] = {}
        for source in searcher.generation.manifest["documents"]:
            self.by_name.setdefault(PurePosixPath(source).name, []).append(source)
        self.texts: dict[str, dict[int, str]] = {}
        self.qrels: dict[str, frozenset[int]] = {}

    def _passages(self, source: str) -> dict[int, str]:
        if source not in self.texts:
            passages = self.catalog.passages(self.catalog.ids_of(source))
            self.texts[source] = {pid: p.text for pid, p in passages.items()}
        return self.texts[source]

    def of(self, q: Question) -> frozenset[int]:
        if q.id not in self.qrels:
            ids = {
                pid
                for name in q.sources
                for source in self.by_name.get(name, ())
                for pid, text in self._passages(source).items()
                if contains_answer(text, q.answers)
            }
            self.qrels[q.id] = frozenset(ids)
        return self.qrels[q.id]


def _summarize(outcomes: Sequence[QuestionOutcome], qrels: _PassageQrels) -> Summary:
    answerable = [o for o in outcomes if not o.question.unanswerable]
    unanswerable = [o for o in outcomes if o.question.unanswerable]
    flagged = [o for o in outcomes if not o.result.confident]
    measured = trec_measures(
        {o.question.id: {str(pid): 1 for pid in qrels.of(o.question)} for o in answerable},
        {o.question.id: [str(h.passage.id) for h in o.ranking] for o in answerable},
        ("RR@10", "nDCG@10", "R@10"),
    )
    true_flags = sum(1 for o in flagged if o.question.unanswerable)
    retrieved = [o for o in answerable if o.hit_at(RETRIEVED_AT)]
    return Summary(
        questions=len(outcomes),
        answerable=len(answerable),
        unanswerable=len(unanswerable),
        hit_at_1=mean([o.hit_at(1) for o in answerable]),
        hit_at_3=mean([o.hit_at(3) for o in answerable]),
        mrr_at_10=measured["RR@10"].mean,
        ndcg_at_10=measured["nDCG@10"].mean,
        recall_at_10=measured["R@10"].mean,
        answer_accuracy=mean([bool(o.answer_correct) for o in answerable]),
        abstention_precision=true_flags / len(flagged) if flagged else None,
        abstention_recall=true_flags / len(unanswerable) if unanswerable else None,
        answer_accuracy_retrieved=mean([o.best_correct for o in retrieved]),
        answerable_flagged=mean([not o.result.confident for o in answerable]),
        confidence_auc=roc_auc([o.result.confidence for o in answerable], [o.result.confidence for o in unanswerable]),
        reliability=tuple(reliability_curve([o.result.confidence for o in outcomes], [o.best_correct for o in outcomes])),
    )


# --- JSON ---------------------------------------------------------------------------------


def question_report_json(report: QuestionSetReport) -> dict[str, Any]:
    """{"summary": ..., "questions": [...]}; each question carries `ask --json`'s fields."""
    from ..result_json import passage_json, result_json

    questions = []
    for o in report.outcomes:
        item = {"id": o.question.id, **result_json(o.result)}
        item.update(
            {
                "unanswerable": o.question.unanswerable,
                "answer_correct": o.answer_correct,
                "first_relevant_rank": o.first_relevant,
                "problems": list(o.problems),
                "ranking": [{**passage_json(h), "relevant": r} for h, r in zip(o.ranking, o.relevant, strict=True)],
            }
        )
        questions.append(item)
    return {
        "summary": {
            **report.summary.as_dict(),
            "top_k": report.top_k,
            "mode": report.retrieval.mode,
            "answer_top_k": ANSWER_TOP_K,
        },
        "questions": questions,
    }
