"""Do two passages report the same thing? (Two seeds cover the same 2020 contest, in other words.)"""

from __future__ import annotations

from ..index.lexical import query_terms, stem
from ..reading.chunking import sentence_spans

DUPLICATE_COSINE = 0.85  # passage embeddings this alike say the same thing overall
SHARED_JACCARD = 0.5  # a sentence pair sharing half its content words states the same fact...
SHARED_MIN_WORDS = 8  # ...when that half is at least this many words (short lines match by chance)


def content_words(text: str) -> list[frozenset[str]]:
    """Stemmed content words of each sentence of `text`."""
    return [frozenset(stem(query_terms(text[s.start : s.end]))) for s in sentence_spans(text)]


def share_a_statement(a: list[frozenset[str]], b: list[frozenset[str]]) -> bool:
    """True when some sentence of `a` and some sentence of `b` state the same fact.

    Word-set resemblance (Broder, "On the resemblance and containment of documents", 1997)
    between sentences: a re-reported fact keeps its names and numbers even when the wording
    around them changes, which a sentence embedding of a long list does not show reliably.
    """
    for x in a:
        for y in b:
            shared = len(x & y)
            if shared >= SHARED_MIN_WORDS and shared / len(x | y) >= SHARED_JACCARD:
                return True
    return False
