"""Terminal output of results (JSON shapes: result_json.py). Only this module and cli/app.py touch rich."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

from ..models import AskResult, Hit, Passage
from ..result_json import pages


def print_json(data: dict[str, Any], one_line: bool = False) -> None:
    """Pretty JSON, or one object per line (`one_line`) for a stream of results."""
    indent = None if one_line else 2
    sys.stdout.write(json.dumps(data, ensure_ascii=False, indent=indent) + "\n")


COLOR_CHOICES = ("auto", "always", "never")
_color = "auto"


def set_color(choice: str) -> None:
    """--color: auto (colour on a terminal unless NO_COLOR is set), always, never."""
    global _color
    _color = choice


def console(stderr: bool = False):  # noqa: ANN201 - rich.console.Console, imported lazily
    """A rich console for results: styled on a terminal (or with --color always), never hard-wrapped
    or padded when the output goes to a file or a pipe, so each sentence stays on one greppable line."""
    from rich.console import Console

    class PipeConsole(Console):
        def on_broken_pipe(self) -> None:
            """rich exits 1 when the reader of a pipe leaves (`| head -1`); that is not an error."""
            self.quiet = True
            os.dup2(os.open(os.devnull, os.O_WRONLY), stream.fileno())  # later writes and the final flush go nowhere
            raise BrokenPipeError

    stream = sys.stderr if stderr else sys.stdout
    tty = stream.isatty()
    no_color = _color == "never" or (_color == "auto" and bool(os.environ.get("NO_COLOR")))
    return PipeConsole(
        file=stream,
        highlight=False,
        force_terminal=True if _color == "always" else None,
        color_system=None if no_color else "auto",
        soft_wrap=not tty,
    )


def display_path(seeds: Path | None, source: str) -> str:
    """Where a document is, as a terminal or an editor opens it: relative to the current folder
    when the documents folder is under it, else absolute."""
    if seeds is None:
        return source
    path = seeds / source
    try:
        return path.relative_to(Path.cwd()).as_posix()
    except ValueError:
        return str(path)


def _where(p: Passage, seeds: Path | None) -> str:
    """`guide.md:40 § Install › Linux, lines 40-52`; `notes.txt:3  lines 3-9` outside any section;
    `report.pdf p. 12 § Results, lines 3-9` for a paged document (lines within the page)."""
    if p.page_start is not None:
        cite = f"{display_path(seeds, p.source)} {pages(p)}"
        return cite + (f" § {p.section}" if p.section else "") + f", lines {p.line_start}-{p.line_end}"
    cite = f"{display_path(seeds, p.source)}:{p.line_start}"
    if p.section:
        return f"{cite} § {p.section}, lines {p.line_start}-{p.line_end}"
    return f"{cite}  lines {p.line_start}-{p.line_end}"


def print_question(question: str, first: bool = True) -> None:
    """The question before its answer, when several are answered in one run (`ask --file`, a piped shell)."""
    from rich.text import Text

    out = console()
    if not first:
        out.print()
    out.print(Text.assemble(("? ", "bold magenta"), (question, "bold")))


def print_result(result: AskResult, seeds: Path | None = None) -> None:
    """The answer and the passages; citations are `path:line` (paths as `display_path` gives them)."""
    from rich.padding import Padding
    from rich.text import Text

    out = console()
    dim = not result.confident
    if result.answer is not None:
        a = result.answer
        out.print(Text.assemble(("Answer  ", "bold green"), (" ".join(a.text.split()), "bold")))
        where = f"p. {a.page}, line {a.line}" if a.page is not None else f":{a.line}"
        out.print(Text(f"        {display_path(seeds, a.source)}{' ' if a.page is not None else ''}{where}", style="cyan"))
    else:
        out.print(
            Text(f"No passage in {result.documents} documents answers this confidently. Nearest passages:", style="bold yellow")
        )
        if result.reason:
            out.print(Text(f"        ({result.reason})", style="yellow"))
    for hit in result.hits:
        p = hit.passage
        out.print()
        out.print(
            Text.assemble(
                (f"[{hit.rank}] ", "bold"),
                (_where(p, seeds), "dim cyan" if dim else "cyan"),
                (f"  {p.title}", "dim italic" if dim else "italic"),
                (f"  {p.date}" if p.date else "", "dim"),
                (f"  (similarity {hit.dense_score:.2f})" if hit.dense_score is not None else "", "dim"),
            )
        )
        body = _passage_text(hit, dim)
        out.print(Padding(body, (0, 0, 0, 4), expand=False) if out.is_terminal and not out.soft_wrap else Text("    ") + body)
        for twin in hit.also_in:
            at = f" {pages(twin)}" if twin.page_start is not None else f":{twin.line_start}"
            out.print(Text(f"    also reported in {display_path(seeds, twin.source)}{at}", style="dim"))


def _passage_text(hit: Hit, dim: bool):  # noqa: ANN202 - rich.text.Text, imported lazily
    from rich.text import Text

    text = hit.passage.text
    body = Text(style="dim" if dim else "")
    if hit.highlight is None:
        body.append(" ".join(text.split()))
        return body
    start, end = hit.highlight
    parts = [(text[:start], None), (text[start:end], "dim" if dim else "bold yellow"), (text[end:], None)]
    for chunk, style in parts:
        words = " ".join(chunk.split())
        if words:
            body.append((" " if body.plain else "") + words, style=style)
    return body
