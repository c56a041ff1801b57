"""The `clusterqa` command: parse options, call the services, map errors to exit codes."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from .errors import EXIT_ERROR, EXIT_NOT_CONFIDENT, ClusterQAError

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    help="Ask questions about a folder of documents; get cited passages. Offline.",
)

SeedsOpt = Annotated[
    Optional[Path], typer.Option("--seeds", help="Folder of .txt/.md documents (env CLUSTERQA_SEEDS; default ./seeds)")
]
IndexOpt = Annotated[Optional[Path], typer.Option("--index", help="Index folder (env CLUSTERQA_INDEX; default ./index)")]
ModelOpt = Annotated[
    Optional[str],
    typer.Option("--model", help="sentence-transformers model name or path (env CLUSTERQA_MODEL; default all-MiniLM-L6-v2)"),
]


def _settings(seeds: Optional[Path], index: Optional[Path], model: Optional[str]):  # noqa: ANN202
    from .config import resolve_settings

    return resolve_settings(seeds, index, model)


def _warn(message: str) -> None:
    sys.stderr.write(f"clusterqa: {message}\n")


class _Progress:
    """A rich progress bar on stderr, shown only while embedding."""

    def __init__(self) -> None:
        self.bar = None  # the rich Progress once embedding starts; False where stderr is no terminal
        self.task = None

    def __call__(self, stage: str, done: int, total: int) -> None:
        if self.bar is False:
            return
        if self.bar is None:
            from rich.console import Console
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

            console = Console(stderr=True)
            if not console.is_terminal:  # a log or a pipe gets the summary line, not a bar
                self.bar = False
                return

            self.bar = Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeRemainingColumn(),
                console=console,
                transient=True,
            )
            self.bar.start()
            self.task = self.bar.add_task(stage, total=total)
        self.bar.update(self.task, completed=done, total=total)

    def close(self) -> None:
        if self.bar:
            self.bar.stop()


@app.command()
def ask(
    question: Annotated[str, typer.Argument(help="The question, in quotes.")],
    top_k: Annotated[int, typer.Option("--top-k", "-k", help="How many passages to show.", min=1, max=50)] = 3,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object (schema in the README).")] = False,
    no_refresh: Annotated[
        bool, typer.Option("--no-refresh", help="Answer from the index as it is, even if documents changed.")
    ] = False,
    mode: Annotated[str, typer.Option("--mode", help="Retrieval: hybrid, dense or lexical.")] = "hybrid",
    seeds: SeedsOpt = None,
    index: IndexOpt = None,
    model: ModelOpt = None,
) -> None:
    """Answer QUESTION with the best passages and their citations.

    Exit codes: 0 answered, 1 error, 2 usage, 3 no confident answer.
    """
    from .models import Retrieval
    from .service import ask as run_ask
    from .service import check_question, open_index

    if mode not in ("hybrid", "dense", "lexical"):
        raise typer.BadParameter(f"--mode must be hybrid, dense or lexical, not {mode!r}")
    check_question(question)
    progress = _Progress()
    try:
        searcher = open_index(_settings(seeds, index, model), refresh=not no_refresh, warn=_warn, progress=progress)
    finally:
        progress.close()
    result = run_ask(searcher, question, top_k, Retrieval(mode=mode))
    from . import render

    if as_json:
        render.print_json(render.result_json(result))
    else:
        render.print_result(result)
    if not result.confident:
        raise typer.Exit(EXIT_NOT_CONFIDENT)


@app.command("index")
def index_command(
    rebuild: Annotated[
        bool, typer.Option("--rebuild", help="Re-read and re-chunk everything (cached vectors are still reused).")
    ] = False,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Only show what would change (same as `status`).")] = False,
    watch: Annotated[bool, typer.Option("--watch", help="Keep the index current while files change (Ctrl-C stops).")] = False,
    wait: Annotated[float, typer.Option("--wait", help="Seconds to wait for another process's rebuild.")] = 30.0,
    seeds: SeedsOpt = None,
    index: IndexOpt = None,
    model: ModelOpt = None,
) -> None:
    """Build or update the index from the documents folder."""
    settings = _settings(seeds, index, model)
    if dry_run:
        _show_plan(settings)
        return
    _index_once(settings, rebuild, wait)
    if watch:
        from .watch import watch_and_index

        watch_and_index(settings, lambda: _index_once(settings, False, wait, quiet_when_unchanged=True), _warn)


def _index_once(settings, rebuild: bool, wait: float, quiet_when_unchanged: bool = False) -> None:  # noqa: ANN001
    from .indexer import build

    progress = _Progress()
    try:
        report = build(settings, rebuild=rebuild, progress=progress, warn=_warn, lock_wait=wait)
    finally:
        progress.close()
    p = report.plan
    if not report.published:
        if not quiet_when_unchanged:
            _warn(f"index is up to date: {report.documents} documents, {report.passages} passages ({report.seconds:.2f} s)")
        return
    changes = ", ".join(
        f"{n} {label}"
        for n, label in (
            (len(p.added), "added"),
            (len(p.changed), "changed"),
            (len(p.deleted), "deleted"),
            (len(p.renamed), "renamed"),
        )
        if n
    )
    sys.stderr.write(
        f"indexed {report.documents} documents, {report.passages} passages "
        f"({report.embedded} embedded{', ' + changes if changes else ''}) in {report.seconds:.1f} s\n"
    )


@app.command()
def status(seeds: SeedsOpt = None, index: IndexOpt = None, model: ModelOpt = None) -> None:
    """Show what `clusterqa index` would change, without changing anything."""
    _show_plan(_settings(seeds, index, model))


def _show_plan(settings) -> None:  # noqa: ANN001
    from .planning import plan

    p = plan(settings, warn=_warn)
    from rich.console import Console
    from rich.markup import escape

    out = Console(highlight=False)
    if p.settings_change:
        out.print("[bold yellow]full rebuild needed:[/] " + escape(p.settings_change))
    rows = [("added", p.added), ("changed", p.changed), ("deleted", p.deleted)]
    for label, sources in rows:
        for s in sources:
            out.print(f"  {label:8} {s}", markup=False)
    for old, new in p.renamed:
        out.print(f"  renamed  {old} -> {new}", markup=False)
    for s in p.skipped:
        out.print(f"  skipped  {s.source}: {s.reason}", markup=False)
    embed = "unknown (model not exported yet)" if p.passages_to_embed is None else str(p.passages_to_embed)
    out.print(
        f"{len(p.unchanged) + len(p.touched)} unchanged, {len(p.added)} added, {len(p.changed)} changed, "
        f"{len(p.deleted)} deleted, {len(p.renamed)} renamed; passages to embed: {embed}"
    )
    if not p.content_changes:
        out.print("index is up to date")


@app.command()
def shell(
    top_k: Annotated[int, typer.Option("--top-k", "-k", min=1, max=50)] = 3,
    seeds: SeedsOpt = None,
    index: IndexOpt = None,
    model: ModelOpt = None,
) -> None:
    """Ask question after question with everything loaded once (history with the arrow keys)."""
    from .shell import run_shell

    run_shell(_settings(seeds, index, model), top_k, _warn)


@app.command("eval")
def eval_command(
    questions: Annotated[
        Optional[Path], typer.Argument(help="Question file (.jsonl: id, question, answers, sources, unanswerable).")
    ] = None,
    beir: Annotated[
        Optional[Path],
        typer.Option("--beir", help="Compare retrievers on a BEIR folder (corpus.jsonl, queries.jsonl, qrels/test.tsv)."),
    ] = None,
    work: Annotated[
        Optional[Path],
        typer.Option("--work", help="Where --beir writes documents and their index (default: .beir-NAME beside --index)."),
    ] = None,
    top_k: Annotated[
        int, typer.Option("--top-k", "-k", help="Passages ranked per question for the metrics.", min=1, max=100)
    ] = 10,
    mode: Annotated[str, typer.Option("--mode", help="Retrieval for a question file: hybrid, dense or lexical.")] = "hybrid",
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object: summary and per-question results.")] = False,
    no_refresh: Annotated[
        bool, typer.Option("--no-refresh", help="Evaluate the index as it is, even if documents changed.")
    ] = False,
    seeds: SeedsOpt = None,
    index: IndexOpt = None,
    model: ModelOpt = None,
) -> None:
    """Measure hit@k, MRR, answer accuracy and abstention on a question file, or compare retrievers on --beir DIR."""
    from . import beir as beir_eval
    from . import evaluate, render_eval
    from .models import Retrieval
    from .render import print_json
    from .service import open_index

    if mode not in ("hybrid", "dense", "lexical"):
        raise typer.BadParameter(f"--mode must be hybrid, dense or lexical, not {mode!r}")
    if (questions is None) == (beir is None):
        raise typer.BadParameter("give either a question FILE or --beir DIR")
    settings = _settings(seeds, index, model)
    progress = _Progress()
    try:
        if beir is not None:
            data = beir_eval.load_beir(beir, warn=_warn)
            folder = (work or beir_eval.default_work_dir(settings.index, beir)).expanduser().absolute()
            beir_settings, mapping = beir_eval.prepare_beir_index(data, folder, settings, warn=_warn, progress=progress)
            searcher = open_index(beir_settings, refresh=False, warn=_warn)
        else:
            loaded = evaluate.load_questions(questions)
            searcher = open_index(settings, refresh=not no_refresh, warn=_warn, progress=progress)
    finally:
        progress.close()
    progress = _Progress()
    try:
        if beir is not None:
            beir_report = beir_eval.evaluate_beir(searcher, data, mapping, progress=progress)
        else:
            report = evaluate.evaluate_questions(searcher, loaded, top_k, Retrieval(mode=mode), progress=progress)
    finally:
        progress.close()
        searcher.close()
    if beir is not None and as_json:
        print_json(beir_eval.beir_report_json(beir_report))
    elif beir is not None:
        render_eval.print_beir_report(beir_report)
    elif as_json:
        print_json(evaluate.question_report_json(report))
    else:
        render_eval.print_question_report(report)


def main() -> None:
    """Console entry point: foreseeable errors become one line on stderr and an exit code."""
    code = _run()
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except BrokenPipeError:  # `clusterqa ask ... | head`: the reader left, nothing is lost
        pass
    # Every file we write is complete and fsync'd before this point; skipping the interpreter's
    # teardown (onnxruntime's and faiss's destructors) saves ~35 ms of a 0.3 s question.
    os._exit(code)


def _run() -> int:
    try:
        app()
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else EXIT_ERROR)
    except ClusterQAError as exc:
        _warn(f"error: {exc}")
        return exc.exit_code
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # the reader of our output left early (`| head`): not an error
        return 0
    except Exception as exc:  # a bug: still one line unless asked for the traceback
        if os.environ.get("CLUSTERQA_DEBUG"):
            raise
        _warn(f"internal error: {type(exc).__name__}: {exc} (set CLUSTERQA_DEBUG=1 for the traceback)")
        return EXIT_ERROR
    return 0
