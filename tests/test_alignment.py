"""The answer's second stage: word pieces of the question matched inside the candidate sentence (real encoder)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from clusterqa.answering.alignment import ALIGNMENT_FEATURES, alignment_features, salient_pieces
from clusterqa.answering.answer import answer_model
from clusterqa.config import Settings
from clusterqa.embedding.encoder import OnnxEncoder
from clusterqa.service import ask, open_index

QUESTION = "In which year was the Haichen machinery company established?"


def column(name: str) -> int:
    return ALIGNMENT_FEATURES.index(name)


def test_only_the_question_words_that_matter_are_aligned(encoder_dir: Path):
    encoder = OnnxEncoder(encoder_dir)
    ((_, offsets),) = encoder.token_vectors([QUESTION])
    pieces = {QUESTION[a:b].lower() for a, b in offsets[salient_pieces(QUESTION, offsets)]}
    assert {"year", "established"} <= pieces
    assert not pieces & {"in", "which", "was", "the"}


def test_a_sentence_that_says_what_is_asked_aligns_better_than_one_that_does_not(encoder_dir: Path):
    encoder = OnnxEncoder(encoder_dir)
    answering = "Haichen Machinery, established in 1998, makes parts for machine tools."
    other = "The cluster around it counts more than 70 enterprises and exports to Europe."
    features = alignment_features(QUESTION, [(answering, 0), (other, 0)], encoder.token_vectors)
    assert features.shape == (2, len(ALIGNMENT_FEATURES))
    for name in ALIGNMENT_FEATURES:
        assert features[0, column(name)] > features[1, column(name)], name


def test_the_sentence_before_counts_only_for_the_window(encoder_dir: Path):
    encoder = OnnxEncoder(encoder_dir)
    window = "Haichen Machinery was established in 1998. It makes parts for machine tools."
    start = window.index("It makes")
    (features,) = alignment_features(QUESTION, [(window, start)], encoder.token_vectors)
    assert features[column("align_window_mean")] > features[column("align_sentence_mean")]
    assert features[column("align_window_min")] > features[column("align_sentence_min")]


def test_the_second_stage_runs_only_on_the_encoder_it_was_fitted_on(built_seeds_index: dict[str, Path]):
    settings = Settings(seeds=built_seeds_index["seeds"], index=built_seeds_index["index"])
    searcher = open_index(settings, refresh=False, warn=lambda _: None)
    try:
        model = answer_model()
        assert searcher.model == model.rerank_encoder
        assert searcher.token_vectors(model.rerank_encoder) is not None
        assert searcher.token_vectors("another-model") is None
        # -k does not change the candidates the two stages look at: same answer, same confidence.
        one, many = (ask(searcher, "Which company was established in 1998?", k) for k in (1, 10))
        assert (one.best.source, one.best.line, one.confidence) == (many.best.source, many.best.line, many.confidence)
        assert np.isfinite(one.confidence)
    finally:
        searcher.close()
