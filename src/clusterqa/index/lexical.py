"""Turning a question into FTS5 queries for the catalog's BM25 indexes, and text into words.

The BM25 scoring itself is SQLite's FTS5 `bm25()` over a Porter-stemmed unicode61 index
(built in index/catalog.py); this module only chooses which words to search for.

Chinese, Japanese and Korean text: overlapping character pairs (bigrams).

Written without spaces, a CJK sentence is one token to FTS5's unicode61 tokenizer, so no question
word ever matches inside it. FTS5's `trigram` tokenizer matches substrings, but no term shorter than
three characters, and most Chinese words have two (集群 cluster, 乐清 Yueqing, 产值 output).
Overlapping bigrams are the segmenter-free index of CJK retrieval (Kwok 1997, "Comparing
representations in Chinese information retrieval"; Lucene's CJKAnalyzer): every two-character word
is found, a longer word is found through its pairs, and no dictionary has to be imported.
"""

from __future__ import annotations

import re
import unicodedata
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
# Hiragana, katakana, CJK unified ideographs (extension A and the main block), Hangul syllables,
# compatibility ideographs.
CJK_RANGES = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff"
_RUN = re.compile(f"[{CJK_RANGES}]+")
_ANY = re.compile(f"[{CJK_RANGES}]")


CJK_TEXT_SHARE = 0.3  # a text is CJK text when at least this share of its letters are CJK characters


def is_cjk_text(text: str) -> bool:
    """Written in Chinese, Japanese or Korean, not merely quoting a name in it ("the Yuan dynasty (元朝)")."""
    cjk = len(_ANY.findall(text))
    return cjk > 0 and cjk >= CJK_TEXT_SHARE * sum(c.isalpha() for c in text)


def has_cjk(text: str) -> bool:
    return _ANY.search(text) is not None


def split_word(word: str) -> list[str]:
    """A \\w+ word with its CJK runs replaced by their bigrams, in order ("2020年7月31日" -> 2020, 7, 31;
    "产业集群" -> 产业, 业集, 集群). A lone CJK character between other characters is dropped: as a
    term it would match almost every passage."""
    if not has_cjk(word):
        return [word]
    parts: list[str] = []
    cursor = 0
    for m in _RUN.finditer(word):
        if m.start() > cursor:
            parts.append(word[cursor : m.start()])
        run = m.group(0)
        parts.extend(run[i : i + 2] for i in range(len(run) - 1))
        cursor = m.end()
    if cursor < len(word):
        parts.append(word[cursor:])
    return parts


def bigram_text(text: str) -> str:
    """What the catalog's CJK table indexes of `text`, space-separated: the pieces of its words that hold
    CJK characters (split_word): character pairs, and the numbers and Latin words written inside CJK
    text ("到2025年将" -> 2025), which unicode61 reads as part of one long token."""
    return " ".join(part for word in _WORD.findall(text.lower()) if has_cjk(word) for part in split_word(word))


# Chinese question words and fillers, as the bigrams a question is split into (see split_word).
CJK_STOPWORDS = frozenset(
    [
        "什么",
        "哪些",
        "哪个",
        "哪里",
        "哪家",
        "多少",
        "怎么",
        "如何",
        "是否",
        "为什",
        "时候",
        "是什",
        "么时",
        "有多",
        "一个",
        "这个",
        "我们",
    ]
)
_WORD = re.compile(r"\w+", re.UNICODE)


def words(text: str) -> list[str]:
    """Lower-cased words of `text` in order, with CJK runs read as overlapping character pairs (split_word)."""
    return [part for word in _WORD.findall(text.lower()) for part in split_word(word)]


def salient(word: str) -> bool:
    return word not in STOPWORDS and word not in CJK_STOPWORDS and (len(word) > 1 or word.isdigit())


def query_terms(question: str) -> list[str]:
    """Distinct lower-cased words of the question, without stop words."""
    return list(dict.fromkeys(w for w in words(question) if salient(w)))


def stem(tokens: list[str]) -> list[str]:
    """English Snowball stems (PyStemmer), to match words across inflections ("cluster", "clusters")."""
    return _stemmer().stemWords(tokens)


@cache
def _stemmer():  # noqa: ANN202 - a Stemmer.Stemmer; imported only by the code that compares words
    import Stemmer

    return Stemmer.Stemmer("english")


def fts_expression(question: str, max_terms: int = 64) -> str | None:
    """`"w1" OR "w2" ...`: any term may match, BM25 ranks passages matching more and rarer terms first.

    Only the words the stemmed unicode61 table holds; CJK pairs go to `cjk_expression`.
    """
    return _any_of([t for t in query_terms(question) if not has_cjk(t)][:max_terms])


def cjk_expression(question: str, max_terms: int = 64) -> str | None:
    """Every term of the question for the catalog's CJK table (its character pairs, and its numbers and
    words, which CJK text may hold inside a run: "2025年"); None without any."""
    return _any_of(query_terms(question)[:max_terms])


def _any_of(terms: list[str]) -> str | None:
    return " OR ".join('"' + t.replace('"', '""') + '"' for t in terms) if terms else None


# --- what FTS5's `porter unicode61 remove_diacritics 2` table does to a word ---------------------
# (the large-catalog query bound in lexical_budget and the PostgreSQL store's words in pg_schema)
_QUOTED = re.compile(r'"((?:[^"]|"")*)"')


def quoted_terms(expression: str) -> list[str]:
    """The quoted terms of an FTS5 expression as `fts_expression` writes it (`"a" OR "b"`), unquoted."""
    return [t.replace('""', '"') for t in _QUOTED.findall(expression)]


def fold(text: str) -> str:
    """As unicode61 with remove_diacritics 2 reads text: lower case, no combining marks."""
    return "".join(c for c in unicodedata.normalize("NFKD", text.lower()) if not unicodedata.combining(c))


@cache
def porter():  # noqa: ANN201 - a Stemmer.Stemmer
    """The original Porter algorithm, as FTS5's porter tokenizer runs it (`stem` is English Snowball)."""
    import Stemmer

    return Stemmer.Stemmer("porter")
