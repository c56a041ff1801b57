"""Near-duplicate statements: the same fact reported in other words is recognized, other text is not."""

from __future__ import annotations

from clusterqa.answering.duplicates import content_words, share_a_statement

WINNERS_000 = (
    "The five winners in Zhejiang are the Hangzhou Digital Security and Protection Industrial Cluster, the Ningbo New "
    "Material Industrial Cluster, the Wenzhou Yueqing Electrical Industrial Cluster, the Shaoxing Modern Textile "
    "Industrial Cluster, and the Jinhua Modern Hardware Industrial Cluster."
)
WINNERS_003 = (
    "According to reports, the five advanced manufacturing clusters selected in Zhejiang are the Hangzhou digital "
    "security industrial clusters, Ningbo new material industrial clusters, Wenzhou Yueqing electrical industry cluster, "
    "Shaoxing modern textile industry cluster and Jinhua modern hardware industry cluster."
)
OTHER = (
    "Haichen Precision Machinery, established in 1998, specializes in the production of core functional components "
    "for high-end precision CNC machine tools in the Pinghu industrial cluster."
)


def test_a_fact_reported_in_other_words_is_the_same_statement() -> None:
    assert share_a_statement(content_words("Intro line here. " + WINNERS_000), content_words(WINNERS_003))


def test_different_facts_about_clusters_are_not() -> None:
    assert not share_a_statement(content_words(WINNERS_000), content_words(OTHER))


def test_short_lines_never_count_as_the_same_statement() -> None:
    assert not share_a_statement(content_words("Post a Comment."), content_words("Post a Comment."))
