"""Terminal output of `clusterqa eval`: the summary, the misses, the BEIR comparison table."""

from __future__ import annotations

from ..evaluation.beir import BEIR_MEASURES, BeirReport
from ..evaluation.evaluate import QuestionSetReport

# Column headers of the BEIR table, by trec_eval measure name.
BEIR_HEADERS = {"nDCG@10": "nDCG@10", "R@10": "Recall@10", "RR@10": "MRR@10", "R@100": "Recall@100"}


def _number(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def _short(text: str, limit: int = 70) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def print_question_report(report: QuestionSetReport) -> None:
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    console = Console(highlight=False)
    s = report.summary
    console.print(f"[bold]{s.questions} questions[/]: {s.answerable} answerable, {s.unanswerable} unanswerable")
    summary = Table()
    summary.add_column("measure")
    summary.add_column("value", justify="right")
    rows = [
        ("hit@1", s.hit_at_1),
        ("hit@3", s.hit_at_3),
        ("MRR@10", s.mrr_at_10),
        ("nDCG@10", s.ndcg_at_10),
        ("Recall@10", s.recall_at_10),
        ("answer accuracy", s.answer_accuracy),
        ("abstention precision", s.abstention_precision),
        ("abstention recall", s.abstention_recall),
        ("answer accuracy, answer in top 5", s.answer_accuracy_retrieved),
        ("answerable flagged", s.answerable_flagged),
        ("confidence ROC AUC", s.confidence_auc),
    ]
    for name, value in rows:
        summary.add_row(name, _number(value))
    console.print(summary)
    if s.reliability:
        curve = Table(title="reliability: confidence vs share answered right")
        for column in ("confidence", "questions", "predicted", "observed"):
            curve.add_column(column, justify="right")
        for b in s.reliability:
            curve.add_row(f"{b['low']:.1f}-{b['high']:.1f}", str(b["count"]), f"{b['predicted']:.3f}", f"{b['observed']:.3f}")
        console.print(curve)
    console.print(
        f"[dim]ranking: top {report.top_k} passages, mode {report.retrieval.mode}, near-duplicates not folded; "
        "answers: the `ask` path[/]"
    )
    misses = report.misses
    if not misses:
        console.print("[bold green]no misses[/]")
        return
    table = Table(title=f"{len(misses)} misses")
    table.add_column("id", style="bold")
    table.add_column("question")
    table.add_column("rank", justify="right")
    table.add_column("answer")
    table.add_column("top passage", style="cyan")
    table.add_column("problem", style="yellow")
    for o in misses:
        rank = o.first_relevant
        answer = o.result.answer
        top = o.ranking[0].passage if o.ranking else None
        cells = (
            o.question.id,
            _short(o.question.question, 60),
            "–" if rank is None else str(rank),
            "(abstained)" if answer is None else _short(answer.text, 60),
            "" if top is None else f"{top.source}:{top.line_start}",
            "; ".join(o.problems),
        )
        table.add_row(*(Text(cell) for cell in cells))  # user text: brackets are not rich markup
    console.print(table)


def print_beir_report(report: BeirReport) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console(highlight=False)
    table = Table(title=f"BEIR {report.name}: {report.queries} queries, {report.documents} documents, {report.passages} passages")
    table.add_column("run", style="bold")
    for m in BEIR_MEASURES:
        table.add_column(BEIR_HEADERS[m], justify="right")
    best = {m: max((r.mean(m) or 0.0) for r in report.runs) for m in BEIR_MEASURES}
    for r in report.runs:
        cells = []
        for m in BEIR_MEASURES:
            value = r.mean(m)
            text = _number(value)
            cells.append(f"[green]{text}[/]" if value is not None and value == best[m] else text)
        label = r.name
        if r.name == "hybrid":
            label += f" ({'rrf' if r.retrieval.fusion == 'rrf' else f'convex α={r.retrieval.alpha:.1f}'}, default)"
        table.add_row(label, *cells)
    console.print(table)
    console.print(f"[dim]a document ranks where its best passage does; no folding; {report.seconds:.0f} s[/]")
