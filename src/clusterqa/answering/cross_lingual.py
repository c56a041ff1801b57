"""What lexical search can still match when the question and the documents are written in different scripts.

A Chinese question about English documents shares few words with them: its numbers and Latin words
(`fts_expression` already searches those), and the names that English text writes in pinyin
(平湖 → Pinghu, 海宸 → Haichen, 乐清 → Yueqing). `transliterations` spells each two-to-four character
run of the question in toneless pinyin, every reading of a character with several (乐: le, yue), so
that the lexical query also asks for those names; a spelling that no passage holds matches nothing.

Such a lexical list rests on one to three shared terms. Min-max normalization (`convex_fusion`) sets
its weakest match, a passage that does hold the name or the number, to 0, the score of a passage
holding none of them; `LEXICAL_FLOOR` normalizes it with BM25's theoretical minimum instead
(Bruch, Gai and Ingber 2023, "theoretical min-max"), so every match keeps its share.

The question's Chinese words are also searched by their English translations (glossary.py, CC-CEDICT).

Fusion across scripts, multilingual-e5-small: the lexical list rests on translations and a few names, so
the dense one gets more weight than in English (ACROSS_SCRIPTS_ALPHA against the default 0.5), and an answer
sentence written in the other language matches the question better than its whole passage does
(ACROSS_SCRIPTS_SENTENCE_WEIGHT against 0.5). Both were chosen by `benchmarks/cross_script.py` (mean MRR of
260 Chinese translations of squad2 questions from its fitting articles and the 14 Chinese development questions
about the seeds); on the 60 of its checking articles, with the translations, hit@3 0.850 -> 0.867 (and
0.617 through the search before the translations and these weights). English questions about documents all
in CJK are searched with the Chinese words their words translate to (`cjk_query`) and fused with
INTO_CJK_ALPHA, chosen by benchmarks/english_about_chinese.py.

Readings: pypinyin's character table (MIT), read as data (0.08 s, only for a question with CJK text):
importing pypinyin itself loads its phrase dictionary too, 0.7-1 s of a cold question on 2 shared cores.
"""

from __future__ import annotations

import itertools
import json
import unicodedata
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import ClusterQAError
from ..index.lexical import _RUN, _any_of, bigram_text, cjk_expression, fts_expression, has_cjk, query_terms

if TYPE_CHECKING:
    from ..index.protocol import Catalog

# A lexical list is normalized as (score - LEXICAL_FLOOR) / (max - LEXICAL_FLOOR) across scripts:
# BM25 scores are never negative (its theoretical minimum).
LEXICAL_FLOOR = 0.0
ACROSS_SCRIPTS_ALPHA = 0.6  # dense weight of the convex fusion, a CJK question
INTO_CJK_ALPHA = 0.9  # the same, another question about documents all in CJK (benchmarks/english_about_chinese.py)
ACROSS_SCRIPTS_SENTENCE_WEIGHT = 0.75  # of a passage's best sentence cosine in its dense score
NAME_CHARACTERS = (2, 3, 4)  # names of two to four characters: 平湖 Pinghu, 石家庄 Shijiazhuang
MAX_SPELLINGS = 8  # per 2-4 character run: the readings of polyphonic characters multiply
MAX_TERMS = 256  # of one lexical query: a long question's runs and their spellings


def across_scripts(question: str, catalog: Catalog) -> bool:
    """The question and every document are written in different scripts: a question in Chinese (Japanese,
    Korean) about documents none of which is written in CJK (an English article quoting a name in Chinese
    characters is still English: lexical.is_cjk_text), or another question about documents all in CJK
    (its own fusion weight, INTO_CJK_ALPHA)."""
    return not catalog.has_cjk_passages if has_cjk(question) else catalog.only_cjk_passages


def lexical_expression(question: str, translate: bool = False) -> str | None:
    """`fts_expression` of the question, with the pinyin spellings of its CJK text (`transliterations`)
    and, with `translate` (documents in another script only: in a folder holding Chinese text too, the
    translations outscored the Chinese passages' own words), the English words of its Chinese ones
    (glossary.py)."""
    if not has_cjk(question):
        return fts_expression(question)
    english: list[str] = []
    if translate:
        from .glossary import glosses

        english = glosses(question)
    terms = [t for t in query_terms(question) if not has_cjk(t)]
    return _any_of(list(dict.fromkeys([*terms, *english, *transliterations(question)]))[:MAX_TERMS])


def cjk_query(question: str, translate: bool = False) -> str | None:
    """`cjk_expression` of the question for the CJK table; with `translate` (an English question about
    documents all written in CJK), also the character pairs of the Chinese words its words translate to
    (glossary.chinese_words: "steam engine" -> 蒸汽机 -> 蒸汽 汽机)."""
    if not translate or has_cjk(question):
        return cjk_expression(question)
    from .glossary import chinese_words

    pairs = [pair for word in chinese_words(question) for pair in bigram_text(word).split()]
    return _any_of(list(dict.fromkeys([*query_terms(question), *pairs]))[:MAX_TERMS])


def transliterations(question: str) -> list[str]:
    """Toneless pinyin of each 2-4 character run of the question's CJK text, in order, distinct
    ("平湖数控" -> pinghu, hushu, ..., pinghushukong); empty for a question without CJK text."""
    table = _readings()
    found: dict[str, None] = {}
    for m in _RUN.finditer(question):
        run = m.group(0)
        for size in NAME_CHARACTERS:
            for i in range(len(run) - size + 1):
                options = [_plain(table.get(str(ord(ch)), "")) for ch in run[i : i + size]]
                if not all(options):
                    continue
                for combo in itertools.islice(itertools.product(*options), MAX_SPELLINGS):
                    found["".join(combo)] = None
    return list(found)


@cache
def _plain(readings: str) -> tuple[str, ...]:
    """Readings "lè,yuè" -> ("le", "yue"): tone marks dropped (ü as u, as English text writes it)."""
    out: dict[str, None] = {}
    for reading in readings.split(","):
        plain = "".join(c for c in unicodedata.normalize("NFKD", reading) if not unicodedata.combining(c))
        if plain.isascii() and plain.isalpha() and any(c in "aeiou" for c in plain):  # not n, ng, m, hm
            out[plain.lower()] = None
    return tuple(out)


@cache
def _readings() -> dict[str, str]:
    """pypinyin's table: code point (decimal string) -> comma-separated readings with tone marks."""
    import importlib.util

    spec = importlib.util.find_spec("pypinyin")
    path = Path(spec.origin).with_name("pinyin_dict.json") if spec and spec.origin else None
    try:
        if path is None:
            raise OSError("pypinyin is not installed")
        return json.loads(path.read_text("utf-8"))
    except (OSError, ValueError) as exc:
        raise ClusterQAError(
            f"pinyin readings cannot be read ({exc}); reinstall clusterqa's dependencies (pip install 'pypinyin>=0.50')"
        ) from None
