"""One error family. Every message says what went wrong and what to do next."""

from __future__ import annotations

# Exit codes, documented in the README.
EXIT_OK = 0
EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_NOT_CONFIDENT = 3


class ClusterQAError(Exception):
    """A foreseeable problem; the CLI prints the message as one line and exits with `exit_code`."""

    exit_code = EXIT_ERROR


class UsageError(ClusterQAError):
    """The user asked for something malformed (empty question, bad option value)."""

    exit_code = EXIT_USAGE


class NoDocumentsError(ClusterQAError):
    """The seeds folder is missing or holds nothing indexable."""


class IndexMissingError(ClusterQAError):
    """No index has been built yet."""


class IndexCorruptError(ClusterQAError):
    """An index file is unreadable, truncated or inconsistent."""


class IndexOutdatedError(IndexCorruptError):
    """The index was written by an older clusterqa: `index` rebuilds it."""


class IndexFormatError(ClusterQAError):
    """The index was written by another format version or another tool."""


class SettingsMismatchError(ClusterQAError):
    """The index was built with another model or chunking settings."""


class LockBusyError(ClusterQAError):
    """Another process is rebuilding the index."""


class ModelLoadError(ClusterQAError):
    """The embedding model cannot be found or loaded offline."""


class EncoderFidelityError(ClusterQAError):
    """The exported ONNX encoder disagrees with sentence-transformers."""


class EncoderMismatchError(ClusterQAError):
    """The index was built with another export of the encoder than the one in the user cache."""


def first_line(exc: BaseException, limit: int | None = None, default: str | None = None) -> str:
    """The first line of an exception's message (C++ and server errors run to many lines), at most
    `limit` characters; `default` (else the exception's type name) when it has none."""
    text = str(exc).strip()
    line = text.splitlines()[0] if text else default or type(exc).__name__
    return line[:limit] if limit is not None else line
