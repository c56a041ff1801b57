"""`clusterqa eval`: the question-file metrics and the BEIR comparison, through the real CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from clusterqa.evaluation.beir import document_filenames
from clusterqa.evaluation.evaluate import contains_answer, normalize_text
from clusterqa.evaluation.metrics import trec_measures
from conftest import QUESTIONS, load_questions, run_cli

BEIR_TINY = Path(__file__).parent / "fixtures" / "beir_tiny"
MEASURES = ("ndcg@10", "recall@10", "mrr@10", "recall@100")


def test_matching_rule_normalizes_nfkc_whitespace_and_case():
    assert normalize_text("  Nearly\u00a014\u2009billion\n YUAN ") == "nearly 14 billion yuan"
    assert contains_answer("output of nearly\u00a014 billion yuan last year", ["Nearly 14 billion yuan"])
    assert contains_answer("ＡＢＣ cluster", ["abc"])  # full-width letters fold under NFKC
    assert not contains_answer("14 billion yuan", ["nearly 14 billion yuan", ""])


def test_document_filenames_are_safe_and_unique():
    names = document_filenames(["4983", "rust/07", "../etc", "A", "a", ""])
    assert names["4983"] == "4983.txt"
    assert names["A"] == "A.txt"
    assert len(set(n.lower() for n in names.values())) == 6
    for doc_id in ("rust/07", "../etc", "a", ""):
        assert "/" not in names[doc_id] and not names[doc_id].startswith(".")
        assert names[doc_id] != f"{doc_id}.txt"


def test_trec_measures_score_the_given_order_and_count_empty_runs_as_zero():
    qrels = {"q1": {"d2": 1}, "q2": {"d9": 1}, "q3": {"d1": 1, "d3": 1}}
    rankings = {"q1": ["d1", "d2", "d3"], "q2": [], "q3": ["d3", "d5", "d1"]}
    got = trec_measures(qrels, rankings, ("RR@10", "R@1", "nDCG@10"))
    assert got["RR@10"].per_query == {"q1": 0.5, "q2": 0.0, "q3": 1.0}
    assert got["RR@10"].mean == pytest.approx(0.5)
    assert got["R@1"].per_query["q3"] == 0.5
    # nDCG@10 of q3: (1 + 1/log2(4)) / (1 + 1/log2(3))
    assert got["nDCG@10"].per_query["q3"] == pytest.approx((1 + 0.5) / (1 + 1 / 1.5849625007211562))


def test_eval_beir_compares_dense_bm25_and_hybrid(tmp_path: Path, workspace: dict[str, Path]):
    work = tmp_path / "beir-work"
    table = run_cli("eval", "--beir", str(BEIR_TINY), "--work", str(work), "--index", str(workspace["index"]))
    assert table.returncode == 0, table.stderr
    assert "exporting model" not in table.stderr  # the encoder was copied from the main index folder
    for row in ("│ dense ", "│ bm25 ", "│ hybrid ", "│ convex α=0.3 "):
        assert row in table.stdout, table.stdout
    assert "6 queries, 12 documents" in table.stdout  # q-unjudged has no qrels and is left out
    mapping = json.loads((work / "ids.json").read_text("utf-8"))
    assert mapping["volc-01.txt"] == "volc-01"
    assert [name for name, doc_id in mapping.items() if doc_id == "rust/07"][0].startswith("rust_07-")
    assert (work / "docs" / "chess-03.txt").read_text("utf-8").startswith("The Velmora gambit\n\nThe Velmora gambit is")

    result = run_cli("eval", "--beir", str(BEIR_TINY), "--work", str(work), "--index", str(workspace["index"]), "--json")
    assert result.returncode == 0, result.stderr
    assert "embedding" not in result.stderr
    data = json.loads(result.stdout)
    assert (data["dataset"], data["documents"], data["queries"]) == ("beir_tiny", 12, 6)
    runs = {r["name"]: r for r in data["runs"]}
    assert {"dense", "bm25", "hybrid"} <= set(runs)
    # Every convex weight is run once; the default hybrid's twin is not repeated under its own name.
    assert sorted(r["alpha"] for r in data["runs"] if r["fusion"] == "convex") == [0.3, 0.4, 0.5, 0.6, 0.7]
    assert len(runs) == len(data["runs"])
    for run in data["runs"]:
        for m in MEASURES:
            assert 0.0 <= run[m] <= 1.0, (run["name"], m, run[m])
        assert set(run["per_query_ndcg@10"]) == {"q1", "q2", "q3", "q4", "q5", "q6"}
    # Every query names a word found only in its document (Kelvaro, Velmora, Qinlan, Tenzor, ...).
    assert runs["bm25"]["mrr@10"] == 1.0
    assert runs["bm25"]["recall@10"] == 1.0
    assert runs["bm25"]["mode"] == "lexical" and runs["dense"]["fusion"] is None


def test_eval_question_file_on_the_seeds(built_seeds_index: dict[str, Path]):
    where = ["--seeds", str(built_seeds_index["seeds"]), "--index", str(built_seeds_index["index"])]
    result = run_cli("eval", str(QUESTIONS), "--json", *where)
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    summary = data["summary"]
    expected = load_questions()
    assert summary["questions"] == len(expected)
    assert summary["unanswerable"] == sum(1 for q in expected if q.get("unanswerable"))
    for key in ("hit@1", "hit@3", "mrr@10", "answer_accuracy", "abstention_precision", "abstention_recall"):
        assert 0.0 <= summary[key] <= 1.0, (key, summary[key])
    assert [q["id"] for q in data["questions"]] == [q["id"] for q in expected]
    first = data["questions"][0]
    assert {"question", "confident", "answer", "passages"} <= set(first)
    assert {"rank", "score", "source", "text", "line_start", "line_end", "also_in"} <= set(first["passages"][0])
    assert len(first["ranking"]) == 10 and [p["rank"] for p in first["ranking"]] == list(range(1, 11))
    for q in data["questions"]:
        if q["unanswerable"]:
            assert q["first_relevant_rank"] is None and not any(p["relevant"] for p in q["ranking"])
    assert summary["hit@3"] == 1.0, [(q["id"], q["first_relevant_rank"]) for q in data["questions"]]
    assert summary["abstention_recall"] == 1.0

    table = run_cli("eval", str(QUESTIONS), "--no-refresh", *where)
    assert table.returncode == 0, table.stderr
    assert "hit@3" in table.stdout and "abstention recall" in table.stdout


def test_eval_usage_errors(tmp_path: Path):
    neither = run_cli("eval", "--index", str(tmp_path / "index"))
    assert neither.returncode == 2 and "--beir" in neither.stderr
    both = run_cli("eval", str(QUESTIONS), "--beir", str(BEIR_TINY), "--index", str(tmp_path / "index"))
    assert both.returncode == 2
    missing = run_cli("eval", str(tmp_path / "nope.jsonl"), "--index", str(tmp_path / "index"))
    assert missing.returncode == 1 and "nope.jsonl does not exist" in missing.stderr
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": "x", "question": "Why?", "answers": ["a"], "sources": []}\n', "utf-8")
    malformed = run_cli("eval", str(bad), "--index", str(tmp_path / "index"))
    assert malformed.returncode == 1 and "bad.jsonl:1" in malformed.stderr
    no_qrels = run_cli("eval", "--beir", str(tmp_path), "--index", str(tmp_path / "index"))
    assert no_qrels.returncode == 1 and "corpus.jsonl does not exist" in no_qrels.stderr
