"""The start path: `clusterqa.cli.main` pauses the garbage collector while the command line starts (imports,
building the commands, --help); every command turns it back on before it does its work."""

from __future__ import annotations

import gc
from pathlib import Path

from typer.testing import CliRunner


def test_a_command_runs_with_the_garbage_collector_on(tmp_path: Path) -> None:
    from clusterqa.cli.app import app

    note = tmp_path / "note.txt"
    note.write_text("first line\nsecond line\n", "utf-8")
    gc.disable()  # as clusterqa.cli.main leaves it for the command
    try:
        result = CliRunner().invoke(app, ["show", f"{note}:2", "--context", "0"])
        assert result.exit_code == 0, result.output
        assert "second line" in result.output and "first line" not in result.output
        assert gc.isenabled()
    finally:
        gc.enable()


def test_help_leaves_it_paused_and_shows_every_command() -> None:
    from clusterqa.cli.app import app

    gc.disable()
    try:
        result = CliRunner().invoke(app, ["--help"])
        assert result.exit_code == 0, result.output
        for command in ("ask", "index", "status", "eval", "shell", "docs", "show", "mcp"):
            assert f" {command} " in result.output
        assert "--install-completion" in result.output and "--version" in result.output
        assert not gc.isenabled()
    finally:
        gc.enable()
