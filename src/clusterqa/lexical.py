"""Turning a question into an FTS5 query for the catalog's BM25 index.

The BM25 scoring itself is SQLite's FTS5 `bm25()` over a Porter-stemmed unicode61 index
(built in catalog.py); this module only chooses which words to search for.
"""

from __future__ import annotations

import re
from functools import cache

# Lucene's English stop words plus common question words: they carry no evidence of
# which passage answers, and FTS5 has no stop-word list of its own.
STOPWORDS = frozenset(
    [
        "a",
        "an",
        "and",
        "are",
        "as",
        "at",
        "be",
        "but",
        "by",
        "for",
        "if",
        "in",
        "into",
        "is",
        "it",
        "no",
        "not",
        "of",
        "on",
        "or",
        "such",
        "that",
        "the",
        "their",
        "then",
        "there",
        "these",
        "they",
        "this",
        "to",
        "was",
        "will",
        "with",
        "what",
        "which",
        "who",
        "whom",
        "whose",
        "when",
        "where",
        "why",
        "how",
        "does",
        "do",
        "did",
        "can",
        "could",
        "would",
        "should",
        "many",
        "much",
        "about",
        "from",
        "has",
        "have",
        "had",
        "its",
        "been",
        "being",
        "were",
        "than",
        "any",
        "some",
        "our",
        "your",
        "my",
        "we",
        "you",
        "i",
        "he",
        "she",
        "his",
        "her",
        "them",
        "those",
        "also",
        "all",
        "more",
        "most",
        "other",
    ]
)
_WORD = re.compile(r"\w+", re.UNICODE)


def query_terms(question: str) -> list[str]:
    """Distinct lower-cased words of the question, without stop words."""
    seen: dict[str, None] = {}
    for word in _WORD.findall(question.lower()):
        if word not in STOPWORDS and (len(word) > 1 or word.isdigit()):
            seen.setdefault(word, None)
    return list(seen)


def stem(words: list[str]) -> list[str]:
    """English Snowball stems (PyStemmer), to match words across inflections ("cluster", "clusters")."""
    return _stemmer().stemWords(words)


@cache
def _stemmer():  # noqa: ANN202 - a Stemmer.Stemmer; imported only by the code that compares words
    import Stemmer

    return Stemmer.Stemmer("english")


def fts_expression(question: str, max_terms: int = 64) -> str | None:
    """`"w1" OR "w2" ...`: any term may match, BM25 ranks passages matching more and rarer terms first."""
    terms = query_terms(question)[:max_terms]
    if not terms:
        return None
    return " OR ".join('"' + t.replace('"', '""') + '"' for t in terms)
