"""Ignore rules: `.gitignore` and `.clusterqaignore` files in the documents folder, in gitignore syntax.

As in git and ripgrep, a file's rules apply to the folder it sits in and everything below it,
and rules deeper down win over rules higher up; within one folder `.clusterqaignore` comes
after `.gitignore`, so it can take back (`!pattern`) what git ignores. An ignored file is simply
not a document: it is not read, not indexed and not listed as skipped. `--no-ignore` turns
the rules off. pathspec (the gitignore matcher black, hatch and many linters use) is imported
only where an ignore file exists.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pathspec import GitIgnoreSpec

    from ..config import Settings
    from .documents import Scan

IGNORE_FILES = (".gitignore", ".clusterqaignore")  # later files win within a folder


class IgnoreRules:
    """Decides whether a path under `root` (posix, relative to it) is ignored."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._specs: dict[str, GitIgnoreSpec | None] = {}

    def _spec(self, folder: str) -> GitIgnoreSpec | None:
        """The rules of one folder ("" for the root), read once."""
        if folder not in self._specs:
            lines: list[str] = []
            for name in IGNORE_FILES:
                try:
                    lines += (self.root / folder / name).read_text("utf-8", errors="replace").splitlines()
                except OSError:  # absent or unreadable: no rules from it
                    continue
            spec = None
            if any(line.strip() and not line.lstrip().startswith("#") for line in lines):
                from pathspec import GitIgnoreSpec

                spec = GitIgnoreSpec.from_lines(lines)
            self._specs[folder] = spec
        return self._specs[folder]

    def __call__(self, path: str, is_dir: bool) -> bool:
        """True when the rules of the folders above `path` ignore it (the deepest rule that matches decides)."""
        parts = path.split("/")
        verdict = False
        for depth in range(len(parts)):
            spec = self._spec("/".join(parts[:depth]))
            if spec is None:
                continue
            relative = "/".join(parts[depth:]) + ("/" if is_dir else "")
            result = spec.check_file(relative)
            if result.include is not None:
                verdict = result.include
        return verdict


def scan_documents(settings: Settings) -> Scan:
    """The documents folder's files as `documents.scan` lists them, less the ignored ones."""
    from .documents import scan

    return scan(settings.seeds, IgnoreRules(settings.seeds) if settings.use_ignore_files else None)
