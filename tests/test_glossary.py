"""English glosses of a Chinese question's words (CC-CEDICT), for lexical search across scripts."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

import pytest

from clusterqa.answering import glossary
from clusterqa.answering.answer_features import translated_terms
from clusterqa.answering.cross_lingual import lexical_expression
from clusterqa.index.lexical import is_cjk_text
from conftest import ask_json


@pytest.fixture
def fresh_dictionary(private_user_cache: Path):  # noqa: ANN201
    """The glossary's connection opened anew in the tests' user cache, and dropped afterwards."""
    glossary._database.cache_clear()
    yield private_user_cache / "clusterqa" / "dictionaries"
    glossary._database.cache_clear()


def test_a_chinese_question_is_searched_with_the_english_words_of_its_own(fresh_dictionary: Path) -> None:
    found = {t.word: t for t in glossary.translations("东北地区入选了几个国家级集群？")}
    assert "northeast" in found["东北"].english and "region" in found["地区"].english
    assert "几个" not in found and "several" not in glossary.glosses("东北地区入选了几个国家级集群？")  # question words
    france = glossary.translations("法国的首都是哪里？")
    assert [(t.word, t.name) for t in france] == [("法国", True), ("首都", False)] and "capital" in france[1].english
    assert glossary.translations("深圳")[0].english == ("shenzhen",)  # a name's description is not its translation
    assert '"northeast"' in lexical_expression("东北地区有几个集群？", translate=True)
    assert "northeast" not in lexical_expression("东北地区有几个集群？")  # a folder with Chinese text: its own words
    assert glossary.translations("How many clusters?") == []
    assert len(list(fresh_dictionary.glob("*.sqlite"))) == 1  # written once, then only read


def test_an_english_question_is_searched_with_the_chinese_words_of_its_own(fresh_dictionary: Path) -> None:
    assert "蒸汽机" in glossary.chinese_words("Who invented the steam engine?")  # a two-word sense
    found = glossary.chinese_words("How many enterprises does the cluster have?")
    assert "企业" in found and "几个" not in found  # "enterprises" is a stem of a sense; "how many" brings nothing
    assert glossary.chinese_words("What is it?") == []


def test_a_translated_word_counts_as_present_where_any_of_its_translations_is(fresh_dictionary: Path) -> None:
    corpus = {"enterprise": 3, "firm": 1}

    def frequencies(terms: list[str]) -> tuple[dict[str, int], int]:
        return {t: corpus[t] for t in terms if t in corpus}, 10

    terms = translated_terms("法国有多少家企业？", frequencies)
    assert set(terms.weights) == {"法国", "企业"} and terms.absent == ("法国",)
    assert terms.asked_absent() == "法国"  # a name no passage mentions, as "Lisbon" is in English
    assert terms.coverage({"enterpris"}) == pytest.approx(terms.weights["企业"] / sum(terms.weights.values()))


def test_a_damaged_or_unwritable_dictionary_cache_still_translates(
    fresh_dictionary: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    shutil.rmtree(fresh_dictionary, ignore_errors=True)
    fresh_dictionary.mkdir(parents=True)
    (fresh_dictionary / "cedict-glosses-0000000000000000.sqlite").write_bytes(b"an older release's")
    assert glossary.glosses("企业")  # writes the cache file, and removes the older one
    (path,) = fresh_dictionary.glob("*.sqlite")
    glossary._database.cache_clear()
    path.write_bytes(b"not a database" * 100)
    assert "enterprise" in glossary.glosses("企业")
    sqlite3.connect(path).execute("SELECT count(*) FROM glosses").fetchone()  # written again, whole
    glossary._database.cache_clear()
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    monkeypatch.setattr(glossary, "user_cache_dir", lambda: blocker)  # no folder can be made under it
    assert "enterprise" in glossary.glosses("企业")


def test_a_chinese_question_finds_an_english_passage_through_the_dictionary(built_seeds_index: dict[str, Path]) -> None:
    # No name, no number: before the glosses, BM25 found nothing for it (and MiniLM reads no Chinese).
    code, data, stderr = ask_json(built_seeds_index, "数控机床产业集群吸引了哪些重大项目？", "--mode", "lexical", "--top-k", "1")
    assert data is not None, stderr
    top = data["passages"][0]
    assert top["source"] == "002_741e1901b211ff40.txt" and "DMG Mori Seiki project" in top["text"], top


def test_an_english_text_quoting_a_chinese_name_is_still_english() -> None:
    # Such a folder is searched by translation (the test in test_postgres_store.py, both stores).
    assert not is_cjk_text("The Yuan dynasty (元朝) was founded by Kublai Khan.") and is_cjk_text("黄岩被誉为“中国模具之乡”。")
