"""Options shared by the commands, and the one place they become Settings."""

# No `from __future__ import annotations` in the CLI modules: see cli/app.py.

import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

SeedsOpt = Annotated[
    Optional[Path],
    typer.Option("--seeds", help="Folder of .txt/.md documents (env CLUSTERQA_SEEDS; default ./seeds when it exists)"),
]
IndexOpt = Annotated[
    Optional[Path],
    typer.Option(
        "--index",
        help="Index folder (env CLUSTERQA_INDEX; default ./index for ./seeds, else one per documents folder in the user cache)",
    ),
]
ModelOpt = Annotated[
    Optional[str],
    typer.Option(
        "--model",
        help="sentence-transformers model name or path, or multilingual-e5-small for Chinese and other languages "
        "(env CLUSTERQA_MODEL; default all-MiniLM-L6-v2)",
    ),
]
NoIgnoreOpt = Annotated[
    bool, typer.Option("--no-ignore", help="Index every .txt/.md file, even those .clusterqaignore or .gitignore name.")
]
StoreOpt = Annotated[
    Optional[str],
    typer.Option(
        "--store",
        help="A team's shared index in PostgreSQL + pgvector, postgresql://USER@HOST/DATABASE "
        "(env CLUSTERQA_STORE; default: the local --index folder)",
        show_default=False,
    ),
]
ColorOpt = Annotated[str, typer.Option("--color", help="auto (a terminal, unless NO_COLOR is set), always or never.")]


def settings(  # noqa: ANN201
    seeds: Optional[Path], index: Optional[Path], model: Optional[str], no_ignore: bool = False, store: Optional[str] = None
):
    from ..config import resolve_settings

    return resolve_settings(seeds, index, model, use_ignore_files=not no_ignore, store=store)


MODES = ("hybrid", "dense", "lexical")


def check_mode(mode: str) -> None:
    """--mode of ask, shell and eval."""
    if mode not in MODES:
        raise typer.BadParameter(f"--mode must be hybrid, dense or lexical, not {mode!r}")


def use_color(choice: str) -> None:
    from .render import COLOR_CHOICES, set_color

    if choice not in COLOR_CHOICES:
        raise typer.BadParameter(f"--color must be auto, always or never, not {choice!r}")
    set_color(choice)


def warn(message: str) -> None:
    sys.stderr.write(f"clusterqa: {message}\n")
