"""`clusterqa shell`: load the index and the encoder once, then answer question after question.

Lines that start with ':' are shell commands (`:help` lists them); anything else is a question.
Ctrl-C clears the line being typed (or stops the question being answered), Ctrl-D leaves.
When input is not a terminal (`clusterqa shell < questions.txt`) each question is echoed before its answer.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from ..config import Settings
from ..errors import ClusterQAError
from ..models import AskResult
from ..service import ask, current_searcher, open_index

PROMPT = "clusterqa> "
QUIT = {":quit", ":q", ":exit", "exit", "quit", "\\q"}
HELP_WORDS = {":help", ":h", ":?", "help", "?"}
MODES = ("hybrid", "dense", "lexical")
HELP = """Type a question and press Enter. Commands:
  :k N                         show N passages (1-50)
  :mode hybrid|dense|lexical   how passages are retrieved
  :json on|off                 print answers as JSON, one object a line
  :docs                        list the indexed documents
  :show N                      passage N of the last answer, with 2 lines of context
  :help                        this list
  :quit                        leave (or Ctrl-D; Ctrl-C clears the line being typed)"""


@dataclass
class ShellState:
    top_k: int = 3
    mode: str = "hybrid"
    as_json: bool = False
    last: AskResult | None = None
    questions: int = field(default=0)


def _history(path: Path):  # noqa: ANN202 - readline is optional (absent on some builds)
    try:
        import readline
    except ImportError:
        return None
    with contextlib.suppress(OSError):
        readline.read_history_file(path)
    readline.set_history_length(1000)
    return readline


def _shell_warn(warn: Callable[[str], None]) -> Callable[[str], None]:
    """The shell has no --no-refresh: drop the hint that `ask` gives with its refresh notice."""
    return lambda message: warn(message.replace(" (--no-refresh skips this)", ""))


def run_shell(settings: Settings, top_k: int, warn: Callable[[str], None], mode: str = "hybrid", as_json: bool = False) -> None:
    warn = _shell_warn(warn)
    searcher = open_index(settings, refresh=True, warn=warn)
    interactive = sys.stdin.isatty()
    history_file = Path.home() / ".clusterqa_history"
    readline = _history(history_file) if interactive else None
    state = ShellState(top_k=top_k, mode=mode, as_json=as_json)
    if interactive:
        sys.stderr.write(f"{searcher.documents} documents loaded. Ask a question; :help lists commands, Ctrl-D leaves.\n")
    try:
        while True:
            try:
                line = input(PROMPT if interactive else "").strip()
            except KeyboardInterrupt:  # Ctrl-C: forget the half-typed line, prompt again
                sys.stdout.write("\n")
                continue
            except EOFError:  # Ctrl-D: leave on a fresh line
                if interactive:
                    sys.stdout.write("\n")
                break
            if not line:
                continue
            if line.lower() in QUIT:
                break
            try:
                if line.startswith(":") or line.lower() in HELP_WORDS:
                    _command(line, state, settings, warn)
                    continue
                searcher = current_searcher(searcher, settings, warn)
                _answer(searcher, line, state, settings, echo=not interactive)
            except ClusterQAError as exc:
                warn(f"error: {exc}")
            except KeyboardInterrupt:  # Ctrl-C while answering: drop this question, keep the shell
                sys.stdout.write("\n")
            sys.stdout.flush()
    finally:
        if readline is not None:
            with contextlib.suppress(OSError):
                readline.write_history_file(history_file)
        searcher.close()


def _answer(searcher, question: str, state: ShellState, settings: Settings, echo: bool) -> None:  # noqa: ANN001
    from ..models import Retrieval
    from ..result_json import result_json
    from . import render

    result = ask(searcher, question, state.top_k, Retrieval(mode=state.mode))
    state.last = result
    state.questions += 1
    if state.as_json:
        render.print_json(result_json(result), one_line=True)
        return
    if echo:
        render.print_question(question, first=state.questions == 1)
    render.print_result(result, settings.seeds)
    sys.stdout.write("\n")


def _command(line: str, state: ShellState, settings: Settings, warn: Callable[[str], None]) -> None:
    """Run one `:command`; a bad one is reported (the shell goes on)."""
    from ..errors import UsageError

    name, _, argument = line.partition(" ")
    name, argument = name.lower(), argument.strip()
    if name in HELP_WORDS:
        sys.stdout.write(HELP + "\n")
    elif name == ":k":
        if not argument.isdigit() or not 1 <= int(argument) <= 50:
            raise UsageError(f":k takes a number of passages from 1 to 50, not {argument!r}")
        state.top_k = int(argument)
        warn(f"showing {state.top_k} passage{'s' if state.top_k > 1 else ''}")
    elif name == ":mode":
        if argument not in MODES:
            raise UsageError(f":mode takes hybrid, dense or lexical, not {argument!r}")
        state.mode = argument
        warn(f"retrieval mode: {argument}")
    elif name == ":json":
        if argument not in ("on", "off"):
            raise UsageError(f":json takes on or off, not {argument!r}")
        state.as_json = argument == "on"
        warn(f"JSON output {argument}")
    elif name == ":docs":
        from . import browse

        browse.print_listing(browse.list_documents(settings))
    elif name == ":show":
        _show(argument, state, settings)
    else:
        raise UsageError(f"unknown command {name}; :help lists the commands")


def _show(argument: str, state: ShellState, settings: Settings) -> None:
    from ..errors import UsageError
    from . import browse

    if state.last is None:
        raise UsageError(":show N shows passage N of the last answer: ask a question first")
    hits = state.last.hits
    if not argument.isdigit() or not 1 <= int(argument) <= len(hits):
        raise UsageError(f":show takes a passage number from 1 to {len(hits)}, not {argument!r}")
    p = hits[int(argument) - 1].passage
    if p.page_start is not None:  # a PDF: its pages
        browse.print_span(browse.Span(settings.seeds / p.source, p.page_start, p.page_end, settings.index), context=2)
    else:
        browse.print_span(browse.Span(settings.seeds / p.source, p.line_start, p.line_end, settings.index), context=2)
