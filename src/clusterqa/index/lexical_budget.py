"""A bounded any-word query for large catalogs.

FTS5 ranks `"w1" OR "w2" ...` by computing bm25() for every passage that holds any of the words, then
sorting: on a million passages a question with one common word ("year", "cell") scores a few hundred
thousand rows. The words a question shares with that many passages are the ones BM25 weighs least
(idf = ln((N - df + 0.5) / (df + 0.5)) falls towards 0 as df grows; Robertson & Zaragoza 2009, "The
Probabilistic Relevance Framework: BM25 and Beyond"), so the query keeps the rarest words while their
document frequencies sum to at most a budget of postings, and drops the rest: the work per question is
bounded whatever the catalog's size. The rarest word is always kept. The budget applies to catalogs of more
than `applies_from_passages` (50,000) passages only, where the dense index is approximate too: smaller
folders, every folder the answer thresholds were fitted on and BEIR SciFact among them, keep the exact ranking.
The idea is that of MaxScore (Turtle & Flood 1995): the frequent terms'
contributions are too small to lift a passage that holds none of the rare terms into the candidates.

Document frequencies come from FTS5's own vocabulary (an `fts5vocab` table in the connection's temp
schema, so a read-only catalog needs no change): a lookup of each word's Porter stem, the stemmer
FTS5's `porter` tokenizer runs. A word whose stem is not found counts as rare, so it is kept.
"""

from __future__ import annotations

import json
import re
import sqlite3
from functools import cache
from pathlib import Path

from ..errors import ClusterQAError
from .lexical import fold, porter, quoted_terms

BUDGET_PATH = Path(__file__).resolve().parent.parent / "data" / "lexical_budget.json"
_ANY_OF = re.compile(r'"(?:[^"]|"")*"(?: OR "(?:[^"]|"")*")*')


def postings_budget() -> int:
    return _budget()[0]


def applies(passages: int) -> bool:
    """Whether a catalog of this many passages is large enough for the budget."""
    return passages > _budget()[1]


@cache
def _budget() -> tuple[int, int]:
    try:
        data = json.loads(BUDGET_PATH.read_text("utf-8"))
        return int(data["postings_budget"]), int(data["applies_from_passages"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ClusterQAError(f"{BUDGET_PATH} cannot be read ({exc}); reinstall clusterqa") from None


def bounded_expression(db: sqlite3.Connection, expression: str, passages: int, budget: int | None = None) -> str:
    """`expression` (an any-word query of lexical.fts_expression) without its most frequent words, when
    their postings pass the budget; any other expression, or a small catalog, is returned unchanged."""
    budget = postings_budget() if budget is None else budget
    if passages <= budget or not applies(passages) or not _ANY_OF.fullmatch(expression):
        return expression
    words = quoted_terms(expression)
    if len(words) < 2:
        return expression
    kept = rarest_within(words, document_frequencies(db, words), budget)
    if len(kept) == len(words):
        return expression
    return " OR ".join('"' + w.replace('"', '""') + '"' for w in kept)


def rarest_within(words: list[str], frequency: dict[str, int], budget: int) -> list[str]:
    """The rarest of `words` while their document frequencies sum to at most `budget` (the rarest one
    always), in the question's order. Shared by the local catalog and the PostgreSQL store."""
    kept, total = set(), 0
    for word in sorted(words, key=lambda w: frequency[w]):  # stable: ties keep the question's order
        if kept and total + frequency[word] > budget:
            break
        kept.add(word)
        total += frequency[word]
    return [w for w in words if w in kept]


def document_frequencies(db: sqlite3.Connection, words: list[str]) -> dict[str, int]:
    """Passages holding each word, from FTS5's vocabulary (0 for a word whose stem it lacks)."""
    db.execute("CREATE VIRTUAL TABLE IF NOT EXISTS temp.passages_vocab USING fts5vocab(main, 'passages_fts', 'row')")
    stems = porter().stemWords([fold(w) for w in words])
    out = {}
    for word, stem in zip(words, stems, strict=True):
        row = db.execute("SELECT doc FROM temp.passages_vocab WHERE term = ?", (stem,)).fetchone()
        out[word] = int(row[0]) if row else 0
    return out
