"""Issue 10 item 7: shell completion for bash, zsh and fish through typer's own mechanism."""

from __future__ import annotations

import pytest

from conftest import run_cli


@pytest.mark.parametrize("shell", ["bash", "zsh", "fish"])
def test_completion_scripts_name_the_command(shell: str) -> None:
    # typer's switch to take the shell from the option's value instead of detecting the parent shell
    result = run_cli("--show-completion", shell, env={"_TYPER_COMPLETE_TEST_DISABLE_SHELL_DETECTION": "1"})
    assert result.returncode == 0, result.stderr
    assert "_CLUSTERQA_COMPLETE" in result.stdout and "clusterqa" in result.stdout


@pytest.mark.parametrize(
    ("words", "cword", "expected"),
    [
        ("clusterqa sh", "1", ["shell", "show"]),
        ("clusterqa ask --co", "2", ["--color"]),
        ("clusterqa index --re", "2", ["--rebuild"]),
    ],
)
def test_completion_answers_what_bash_asks(words: str, cword: str, expected: list[str]) -> None:
    result = run_cli(env={"_CLUSTERQA_COMPLETE": "complete_bash", "COMP_WORDS": words, "COMP_CWORD": cword})
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == expected
