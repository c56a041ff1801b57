"""Where `ask` takes its questions from: the words on the command line, stdin (`-`), or a file."""

from __future__ import annotations

import sys
from pathlib import Path

from ..errors import UsageError
from ..service import check_question


def gather_questions(words: list[str], file: Path | None) -> list[str]:
    """The questions to answer, each checked (empty, punctuation only, too long) before anything loads.

    Several words are one question (`clusterqa ask which clusters won`); `-` reads one question
    from stdin; `--file FILE` reads one question a line (blank lines and `#` comments are skipped).
    """
    if file is not None:
        if words:
            raise UsageError("give a question or --file FILE, not both")
        return _from_file(file)
    if words == ["-"]:
        return [check_question(" ".join(sys.stdin.read().split()))]
    return [check_question(" ".join(words))]


def _from_file(file: Path) -> list[str]:
    try:
        text = sys.stdin.read() if str(file) == "-" else file.read_text("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = getattr(exc, "strerror", None) or exc
        raise UsageError(
            f"cannot read the question file {file} ({reason}); pass a UTF-8 text file, one question a line"
        ) from None
    questions = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        try:
            questions.append(check_question(line))
        except UsageError as exc:
            raise UsageError(f"{file} line {number}: {exc}") from None
    if not questions:
        raise UsageError(f"{file} holds no questions; write one question a line")
    return questions
