"""The `clusterqa` command: parse options, call the services, map errors to exit codes."""

# No `from __future__ import annotations`: typer would then eval every parameter's annotation string
# (compiling it) on each run; evaluated at import they come from the .pyc (-30 M instructions per `--help`).

import functools
import gc
import os
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from ..errors import EXIT_ERROR, EXIT_NOT_CONFIDENT, ClusterQAError
from .options import ColorOpt, IndexOpt, ModelOpt, NoIgnoreOpt, SeedsOpt, StoreOpt, check_mode, use_color, warn
from .options import settings as settings_from_options

app = typer.Typer(
    add_completion=True,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    help="Ask questions about a folder of documents; get cited passages. Offline.",
)


def _settings(  # noqa: ANN202
    seeds: Optional[Path], index: Optional[Path], model: Optional[str], no_ignore: bool = False, store: Optional[str] = None
):
    return settings_from_options(seeds, index, model, no_ignore, store)


def _version(value: bool) -> None:
    if value:
        from .. import __version__

        sys.stdout.write(f"clusterqa {__version__}\n")
        raise typer.Exit()


@app.callback()
def _main_options(
    version: Annotated[
        bool, typer.Option("--version", help="Print the version and exit.", callback=_version, is_eager=True)
    ] = False,
) -> None:
    """Ask questions about a folder of documents; get cited passages. Offline."""


def _command(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
    """app.command, with a closed pipe (`clusterqa ask ... | head -1`) ending the command quietly.

    click turns a BrokenPipeError into exit code 1; raised as _ReaderLeft it reaches `_run`, which exits 0.
    The command runs with the garbage collector on: `clusterqa.cli.main` pauses it while the CLI starts.
    """

    def register(function):  # noqa: ANN001, ANN202
        @functools.wraps(function)
        def guarded(*a, **k):  # noqa: ANN002, ANN003, ANN202
            gc.enable()
            try:
                return function(*a, **k)
            except BrokenPipeError:
                raise _ReaderLeft from None

        return app.command(*args, **kwargs)(guarded)

    return register


class _ReaderLeft(Exception):
    """The reader of stdout went away; nothing is wrong."""


_warn = warn


class _Progress:
    """A rich progress bar on stderr while a build reads (cuts passages) and embeds: one bar per stage."""

    def __init__(self) -> None:
        self.bar = None  # the rich Progress once a stage starts; False where stderr is no terminal
        self.task = None
        self.stage = ""

    def __call__(self, stage: str, done: int, total: int) -> None:
        if self.bar is False:
            return
        if self.bar is None:
            from rich.console import Console
            from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeRemainingColumn

            console = Console(stderr=True)
            if not console.is_terminal:  # a log or a pipe gets the summary line, not a bar
                self.bar = False
                return

            self.bar = Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                TaskProgressColumn(),
                TextColumn("{task.fields[amount]}"),
                TimeRemainingColumn(),
                console=console,
                transient=True,
            )
            self.bar.start()
        if stage != self.stage:  # a new stage gets its own bar, so its time estimate is its own
            if self.task is not None:
                self.bar.remove_task(self.task)
            self.task = self.bar.add_task(stage, total=total, amount=_amount(stage, done, total))
            self.stage = stage
        self.bar.update(self.task, completed=done, total=total, amount=_amount(stage, done, total))

    def close(self) -> None:
        if self.bar:
            self.bar.stop()


def _amount(stage: str, done: int, total: int) -> str:
    if stage == "reading":  # characters of text: shown in MB, as the files' sizes are
        return f"{done / 1e6:.1f}/{total / 1e6:.1f} MB"
    return f"{done:,}/{total:,} passages"


@_command()
def ask(
    question: Annotated[
        Optional[list[str]], typer.Argument(help="The question (quotes optional; - reads it from stdin).", show_default=False)
    ] = None,
    top_k: Annotated[int, typer.Option("--top-k", "-k", help="How many passages to show.", min=1, max=50)] = 3,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print one JSON object (schema in the README); with --file, one a line.")
    ] = False,
    file: Annotated[
        Optional[Path], typer.Option("--file", "-f", help="Answer each line of FILE as a question (- reads stdin).")
    ] = None,
    no_refresh: Annotated[
        bool, typer.Option("--no-refresh", help="Answer from the index as it is, even if documents changed.")
    ] = False,
    mode: Annotated[str, typer.Option("--mode", help="Retrieval: hybrid, dense or lexical.")] = "hybrid",
    color: ColorOpt = "auto",
    seeds: SeedsOpt = None,
    index: IndexOpt = None,
    model: ModelOpt = None,
    no_ignore: NoIgnoreOpt = False,
    store: StoreOpt = None,
) -> None:
    """Answer QUESTION with the best passages and their citations (path:line).

    Exit codes: 0 answered, 1 error, 2 usage, 3 no confident answer (to any of the questions).
    """
    from ..models import Retrieval
    from ..service import ask as run_ask
    from ..service import open_index
    from .questions import gather_questions

    check_mode(mode)
    use_color(color)
    questions = gather_questions(question or [], file)
    settings = _settings(seeds, index, model, no_ignore, store)
    progress = _Progress()
    try:
        searcher = open_index(settings, refresh=not no_refresh, warn=_warn, progress=progress)
    finally:
        progress.close()
    from ..result_json import result_json
    from . import render

    code = 0
    for number, text in enumerate(questions):
        result = run_ask(searcher, text, top_k, Retrieval(mode=mode))
        if as_json:
            render.print_json(result_json(result), one_line=file is not None)
        else:
            if file is not None:
                render.print_question(text, first=number == 0)
            render.print_result(result, settings.seeds)
        sys.stdout.flush()
        if not result.confident:
            code = EXIT_NOT_CONFIDENT
    if code:
        raise typer.Exit(code)


@_command("index")
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
    no_ignore: NoIgnoreOpt = False,
    store: StoreOpt = None,
    dense_index: Annotated[
        Optional[str],
        typer.Option(
            "--dense-index",
            help="auto (exact search for small folders, IVF from the size measured in data/dense_index.json), "
            "flat or ivf; kept by later builds until changed (env CLUSTERQA_DENSE_INDEX). Changing it embeds nothing again.",
        ),
    ] = None,
) -> None:
    """Build or update the index from the documents folder."""
    from ..errors import UsageError

    if dry_run and (rebuild or watch):
        other = "--rebuild" if rebuild else "--watch"
        raise UsageError(f"--dry-run only shows what `index` would change; it cannot be combined with {other}: drop one")
    settings = _settings(seeds, index, model, no_ignore, store)
    if dense_index is not None:
        from dataclasses import replace

        from ..index.ann import check_kind

        settings = replace(settings, dense_index=check_kind(dense_index))
    if dry_run:
        _show_plan(settings)
        return
    _index_once(settings, rebuild, wait)
    if watch:
        from ..index.watch import watch_and_index

        watch_and_index(settings, lambda: _index_once(settings, False, wait, quiet_when_unchanged=True), _warn)


def _index_once(settings, rebuild: bool, wait: float, quiet_when_unchanged: bool = False) -> None:  # noqa: ANN001
    from ..index.indexer import build

    progress = _Progress()
    try:
        report = build(settings, rebuild=rebuild, progress=progress, warn=_warn, lock_wait=wait)
    finally:
        progress.close()
    p = report.plan
    if rebuild and report.published:  # built from scratch: every document counts as added, say what it did
        sys.stderr.write(
            f"rebuilt the index: {report.documents} documents, {report.passages} passages "
            f"({report.embedded} embedded, the rest from the cache) in {report.seconds:.1f} s\n"
        )
        return
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


@_command()
def status(
    seeds: SeedsOpt = None, index: IndexOpt = None, model: ModelOpt = None, no_ignore: NoIgnoreOpt = False, store: StoreOpt = None
) -> None:
    """Show what `clusterqa index` would change, without changing anything."""
    _show_plan(_settings(seeds, index, model, no_ignore, store))


def _show_plan(settings) -> None:  # noqa: ANN001
    from .browse import print_plan

    print_plan(settings, _warn)


@_command("eval")
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
    store: StoreOpt = None,
) -> None:
    """Measure hit@k, MRR, answer accuracy and abstention on a question file, or compare retrievers on --beir DIR."""
    from ..evaluation import beir as beir_eval
    from ..evaluation import evaluate
    from ..models import Retrieval
    from ..service import open_index
    from . import render_eval
    from .render import print_json

    check_mode(mode)
    if (questions is None) == (beir is None):
        raise typer.BadParameter("give either a question FILE or --beir DIR")
    settings = _settings(seeds, index, model, store=store)
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


from . import browse_commands  # noqa: E402 - registered after the commands above, in this order in --help

_command("shell")(browse_commands.shell)
_command("docs")(browse_commands.docs)
_command("show")(browse_commands.show)


@_command("mcp")
def mcp_command(seeds: SeedsOpt = None, index: IndexOpt = None, model: ModelOpt = None, no_ignore: NoIgnoreOpt = False) -> None:
    """Serve the index to AI agents over MCP (stdio): tools ask, search, show, list_documents, index_status."""
    from .live_index import LiveIndex

    live = LiveIndex(_settings(seeds, index, model, no_ignore), _warn)
    if (live.settings.index / "CURRENT").exists():
        live.start()  # a built index opens while the MCP SDK loads (~1 s); a first build waits for the stdio claim
    from .mcp_server import serve  # the MCP SDK (pydantic, anyio) loads for this command only

    serve(live)


def main() -> None:
    """Run the command line: foreseeable errors become one line on stderr and an exit code.

    The garbage collector stays paused until a command starts (see `clusterqa.cli.main`, the entry point, which
    also pauses it while this module is imported; a console script made before it was, calls this directly).
    """
    gc.disable()
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
        app(prog_name="clusterqa")
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else EXIT_ERROR)
    except ClusterQAError as exc:
        _warn(f"error: {exc}")
        return exc.exit_code
    except KeyboardInterrupt:
        return 130
    except (BrokenPipeError, _ReaderLeft):  # the reader of our output left early (`| head`): not an error
        return 0
    except Exception as exc:  # a bug: still one line unless asked for the traceback
        if os.environ.get("CLUSTERQA_DEBUG"):
            raise
        _warn(f"internal error: {type(exc).__name__}: {exc} (set CLUSTERQA_DEBUG=1 for the traceback)")
        return EXIT_ERROR
    return 0
