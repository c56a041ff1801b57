"""`clusterqa docs`, `clusterqa show` and `clusterqa shell`: what the index holds, a cited span with
its context, question after question.

Registered on the app in cli/app.py; the work is done in browse.py and shell.py.
"""

# No `from __future__ import annotations` in the CLI modules: see cli/app.py.

from typing import Annotated

import typer

from .options import ColorOpt, IndexOpt, ModelOpt, NoIgnoreOpt, SeedsOpt, check_mode, settings, use_color, warn


def docs(
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object: documents and skipped files.")] = False,
    color: ColorOpt = "auto",
    seeds: SeedsOpt = None,
    index: IndexOpt = None,
    model: ModelOpt = None,
    no_ignore: NoIgnoreOpt = False,
) -> None:
    """List the indexed documents (path, date, passages, title) and the files skipped, with the reason."""
    from . import browse
    from .render import print_json

    use_color(color)
    listing = browse.list_documents(settings(seeds, index, model, no_ignore))
    if listing.stale:
        warn("the documents changed since the index was built; `clusterqa index` updates it")
    if as_json:
        print_json(browse.listing_json(listing))
    else:
        browse.print_listing(listing)


def show(
    span: Annotated[
        str, typer.Argument(help="FILE, FILE:LINE or FILE:START-END, as `ask` cites it (a PDF: FILE:PAGE).", show_default=False)
    ],
    context: Annotated[int, typer.Option("--context", "-C", help="Lines of context either side.", min=0, max=1000)] = 2,
    color: ColorOpt = "auto",
    seeds: SeedsOpt = None,
    index: IndexOpt = None,
) -> None:
    """Print the cited lines of a document (grep style: `12:` cited, `11-` context), or a PDF's page."""
    from ..config import resolve_index, resolve_seeds
    from ..errors import ClusterQAError
    from . import browse

    use_color(color)
    try:
        folder = resolve_seeds(seeds)
    except ClusterQAError:
        folder = None  # a path that exists as given needs no documents folder
    # The index caches the text of PDF, HTML and DOCX files: shown from there, not parsed again.
    index_folder = resolve_index(index, folder) if folder is not None else index
    browse.print_span(browse.parse_span(span, folder, index_folder), context)


def shell(
    top_k: Annotated[int, typer.Option("--top-k", "-k", help="How many passages to show (:k N changes it).", min=1, max=50)] = 3,
    mode: Annotated[str, typer.Option("--mode", help="Retrieval: hybrid, dense or lexical (:mode changes it).")] = "hybrid",
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object a line (:json on|off changes it).")] = False,
    color: ColorOpt = "auto",
    seeds: SeedsOpt = None,
    index: IndexOpt = None,
    model: ModelOpt = None,
    no_ignore: NoIgnoreOpt = False,
) -> None:
    """Ask question after question with everything loaded once (history with the arrow keys; :help inside)."""
    from .shell import run_shell

    check_mode(mode)
    use_color(color)
    run_shell(settings(seeds, index, model, no_ignore), top_k, warn, mode=mode, as_json=as_json)
