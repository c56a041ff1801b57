"""`clusterqa mcp`: the index as a Model Context Protocol server over stdio, for AI agents.

Tools return the JSON of the matching command (`ask --json`, `docs --json`) through render and
browse, so every passage field they gain reaches agents unchanged. A bad call is a tool error
with the one-line message `ask` would print; the server keeps serving. stdout is the protocol:
the SDK points fd 1 at stderr while it serves, so warnings and stray prints land there.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from typing import Annotated, Any, Literal
from urllib.parse import quote, unquote

from mcp.server.lowlevel.helper_types import ReadResourceContents
from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ResourceError, ResourceNotFoundError, ToolError
from mcp.types import CallToolResult, TextContent, ToolAnnotations
from mcp.types import Resource as MCPResource
from pydantic import Field, ValidationError

from .. import __version__
from ..config import Settings
from ..errors import ClusterQAError, UsageError
from .live_index import LiveIndex

URI_SCHEME = "clusterqa://"
Warn = Callable[[str], None]

Question = Annotated[
    str, Field(description="The question, in plain words (at most 2,000 characters), e.g. 'Which clusters won in 2020?'")
]
TopK = Annotated[int, Field(ge=1, le=50, description="How many passages to return (1-50).")]
Mode = Annotated[
    Literal["hybrid", "dense", "lexical"],
    Field(description="Retrieval: hybrid (meaning and keywords, best in general), dense (meaning) or lexical (BM25 keywords)."),
]
MinScore = Annotated[
    float,
    Field(
        ge=0.0,
        le=1.0,
        description="Drop passages scoring below this (0-1). In hybrid mode the score is half the question's cosine "
        "similarity and half its BM25 score, each min-max normalized over the candidates; 0 keeps all.",
    ),
]
Citation = Annotated[
    str,
    Field(
        description="FILE, FILE:LINE or FILE:START-END as passages cite them, e.g. 'notes/report.md:12-18'; "
        "FILE is a passage's source (relative to the documents folder)."
    ),
]
ContextLines = Annotated[int, Field(ge=0, le=1000, description="Lines to add before and after the cited lines.")]


READ_ONLY = ToolAnnotations(read_only_hint=True, destructive_hint=False, idempotent_hint=True, open_world_hint=False)

PASSAGE_FIELDS = (
    "Each passage has source (path relative to the documents folder), title, date, section (heading path), "
    "line_start/line_end (1-based lines of the file: cite as source:line_start-line_end), char_start/char_end, "
    "text, score and also_in (near-duplicate passages in other documents)."
)

ASK_DESCRIPTION = (
    "Answer a question from the indexed documents, with citations. Returns the JSON of `clusterqa ask --json`: "
    "answer {text, source, line, score, reason} (text, source, line and score are null when no passage answers "
    "confidently; reason then says why), confident, confidence (0-1) and the top_k passages, best first. " + PASSAGE_FIELDS
)
SEARCH_DESCRIPTION = (
    "Find the passages that best match a question or keywords, best first, without picking an answer "
    "(faster than ask when only passages are needed). Returns {question, passages}. " + PASSAGE_FIELDS
)


class _Server(MCPServer):
    """MCPServer whose tool errors are the one-line messages the CLI prints, and whose resources are
    the documents of the live index (listed per call, so added and removed files show up)."""

    def __init__(self, live: LiveIndex, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.live = live

    async def call_tool(self, name: str, arguments: dict[str, Any], context: Any = None) -> Any:
        try:
            return await super().call_tool(name, arguments, context)
        except ToolError as exc:
            cause = exc.__cause__
            if isinstance(cause, ValidationError):
                raise ToolError(_one_line(cause)) from None
            if isinstance(cause, ToolError):  # ours, wrapped by the SDK as "Error executing tool NAME: ..."
                raise ToolError(str(cause)) from None
            raise

    async def list_resources(self) -> list[MCPResource]:
        import anyio.to_thread

        manifest = await anyio.to_thread.run_sync(lambda: _manifest(self.live))
        return [
            MCPResource(
                uri=URI_SCHEME + quote(source, safe="/"),
                name=source,
                title=entry.get("title") or source,
                description=f"{entry['passages']} passages" + (f", dated {entry['date']}" if entry.get("date") else ""),
                mime_type=_mime_type(source),
            )
            for source, entry in manifest["documents"].items()
        ]

    async def read_resource(self, uri: Any, context: Any = None) -> Iterable[ReadResourceContents]:
        import anyio.to_thread

        uri = str(uri)
        if not uri.startswith(URI_SCHEME):
            raise ResourceNotFoundError(f"{uri} is not a clusterqa:// document; list the resources for their URIs")
        source = unquote(uri[len(URI_SCHEME) :])
        text = await anyio.to_thread.run_sync(lambda: _document_text(self.live, source))
        return [ReadResourceContents(content=text, mime_type=_mime_type(source))]


def build_server(live: LiveIndex) -> _Server:
    """The server with its tools, over `live` (opened by `serve` if not yet started)."""
    settings = live.settings
    server = _Server(
        live,
        name="clusterqa",
        version=__version__,
        log_level="WARNING",
        instructions=(
            f"Answers questions about the documents in {settings.seeds} with exact citations, offline. "
            "Call `ask` with a question: it returns an answer sentence when one is confident, and the passages "
            "it comes from; cite them as source:line_start-line_end. `show` reads the lines around a citation, "
            "`search` returns passages only, `list_documents` says what is indexed, and each document is a "
            "resource clusterqa://<source>."
        ),
    )

    @server.tool(annotations=READ_ONLY, description=ASK_DESCRIPTION)
    def ask(question: Question, top_k: TopK = 3, mode: Mode = "hybrid") -> CallToolResult:
        from ..models import Retrieval
        from ..result_json import result_json
        from ..service import ask as run_ask

        return _call(live, lambda searcher: _result(result_json(run_ask(searcher, question, top_k, Retrieval(mode=mode)))))

    @server.tool(annotations=READ_ONLY, description=SEARCH_DESCRIPTION)
    def search(question: Question, top_k: TopK = 5, mode: Mode = "hybrid", min_score: MinScore = 0.0) -> CallToolResult:
        from ..models import Retrieval
        from ..result_json import passage_json
        from ..service import check_question

        def work(searcher) -> CallToolResult:  # noqa: ANN001
            text = check_question(question)
            hits, _ = searcher.retrieve(text, top_k, Retrieval(mode=mode))
            return _result({"question": text, "passages": [passage_json(h) for h in hits if h.score >= min_score]})

        return _call(live, work)

    @server.tool(annotations=READ_ONLY)
    def show(citation: Citation, context: ContextLines = 2) -> CallToolResult:
        """Read the cited lines of a document, with `context` lines either side (as `clusterqa show`).

        Returns {"source", "line_start", "line_end", "line_count", "lines": [{"line", "text", "cited"}]}; cited is
        true for the lines of the citation, false for context lines.
        """
        return _call(live, lambda searcher: _result(_span_json(searcher, live.settings, citation, context)))

    @server.tool(annotations=READ_ONLY)
    def list_documents() -> CallToolResult:
        """List the indexed documents and the files skipped (as `clusterqa docs --json`).

        Returns {"documents": [{"source", "path", "title", "date", "passages"}], "skipped": [{"source", "reason"}],
        "up_to_date"}.
        """
        from .browse import list_documents as listing
        from .browse import listing_json

        return _call(live, lambda searcher: _result(listing_json(listing(live.settings))))

    @server.tool(annotations=READ_ONLY)
    def index_status() -> CallToolResult:
        """Say which documents folder and index this server serves and whether the index is ready and current.

        Returns {"state": "opening" | "ready" | "error", "error", "seeds", "index", "model", "generation", "built",
        "documents", "passages", "up_to_date", "updating", "update_log"}. Never waits for the index.
        """
        return _result(_status(live))

    return server


def serve(live: LiveIndex) -> None:
    """Serve over stdio until the client closes stdin; the index opens (or builds) in the background."""
    import anyio

    server = build_server(live)

    async def run() -> None:
        live.start()  # unless already started: a build (model export, readers) starts only once stdout is claimed
        try:
            await server.run_stdio_async()
        finally:
            server.live.close()

    anyio.run(run)


def _call(live: LiveIndex, work: Callable[[Any], Any]) -> Any:
    """work(searcher) on the live index; a foreseeable problem becomes a tool error with its one-line message."""
    try:
        return live.run(work)
    except ClusterQAError as exc:
        raise ToolError(str(exc)) from None
    except Exception as exc:  # a bug: one line for the agent and on stderr, the server goes on
        raise ToolError(f"internal error: {type(exc).__name__}: {exc}") from None


def _result(data: dict[str, Any]) -> CallToolResult:
    """The JSON as text (what every client shows the model) and as structured content."""
    return CallToolResult(content=[TextContent(type="text", text=json.dumps(data, ensure_ascii=False))], structured_content=data)


def _one_line(error: ValidationError) -> str:
    """pydantic's multi-line report as one line: `top_k: input should be less than or equal to 50 (got 99)`."""
    parts = []
    for item in error.errors():
        field = ".".join(str(part) for part in item["loc"]) or "arguments"
        message = item["msg"][:1].lower() + item["msg"][1:]
        got = "" if item["type"] == "missing" else f" (got {_short(item['input'])})"
        parts.append(f"{field}: {message}{got}")
    return "bad arguments: " + "; ".join(parts)


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _indexed_source(searcher, settings: Settings, name: str) -> str:  # noqa: ANN001
    """The source (relative path) of an indexed document named by its source or its path; only indexed
    documents are served, so an agent cannot read other files through this server."""
    import os

    documents = searcher.generation.manifest["documents"]
    if name in documents:
        return name
    seeds = os.path.realpath(settings.seeds)
    real = os.path.realpath(os.path.join(settings.seeds, os.path.expanduser(name)))
    relative = os.path.relpath(real, seeds).replace(os.sep, "/")
    if relative in documents:
        return relative
    raise UsageError(f"{name} is not a document of the index of {settings.seeds}; list_documents names them")


def _span_json(searcher, settings: Settings, citation: str, context: int) -> dict[str, Any]:  # noqa: ANN001
    import os

    from .browse import Span, parse_span, span_lines

    # A relative FILE is a passage's source: relative to the documents folder, whatever the server's cwd.
    absolute = os.path.isabs(os.path.expanduser(citation.strip()))
    try:
        span = parse_span(
            citation.strip() if absolute else str(settings.seeds / citation.strip()), settings.seeds, settings.index
        )
    except UsageError as exc:
        if str(exc).startswith("no file "):  # worded for the shell; an agent names documents by source
            message = f"{citation.strip()}: no such document; list_documents names them (cite as SOURCE:START-END)"
            raise UsageError(message) from None
        raise
    source = _indexed_source(searcher, settings, str(span.path))
    rows, count = span_lines(Span(settings.seeds / source, span.start, span.end, settings.index), context)
    cited = [n for n, _, is_cited in rows if is_cited]
    return {
        "source": source,
        "line_start": cited[0],
        "line_end": cited[-1],
        "line_count": count,
        "lines": [{"line": n, "text": text, "cited": is_cited} for n, text, is_cited in rows],
    }


def _manifest(live: LiveIndex) -> dict[str, Any]:
    from mcp.shared.exceptions import MCPError
    from mcp.types import INTERNAL_ERROR

    try:
        return live.run(lambda searcher: searcher.generation.manifest)
    except ClusterQAError as exc:
        raise MCPError(code=INTERNAL_ERROR, message=str(exc)) from None


def _document_text(live: LiveIndex, source: str) -> str:
    from ..reading.documents import parse_document

    def work(searcher) -> str:  # noqa: ANN001
        if source not in searcher.generation.manifest["documents"]:
            raise ResourceNotFoundError(f"{URI_SCHEME}{source}: no such document in the index; list the resources")
        path = live.settings.seeds / source
        try:
            if path.stat().st_size > live.settings.max_file_bytes:
                raise ResourceError(f"{source} is larger than the {live.settings.max_file_bytes:,}-byte limit")
            return parse_document(source, path.read_bytes(), live.settings.max_file_bytes).original
        except (OSError, ValueError) as exc:
            raise ResourceError(f"{source} cannot be read ({getattr(exc, 'strerror', None) or exc})") from None

    try:
        return live.run(work)
    except ClusterQAError as exc:
        raise ResourceError(str(exc)) from None


def _mime_type(source: str) -> str:
    return "text/markdown" if source.lower().endswith((".md", ".markdown")) else "text/plain"


def _status(live: LiveIndex) -> dict[str, Any]:
    from ..index.freshness import is_stale
    from ..index.store import Store
    from ..lock import is_locked

    settings = live.settings
    data: dict[str, Any] = {
        "state": live.state(),
        "error": live.last_error,
        "seeds": str(settings.seeds),
        "index": str(settings.index),
        "model": settings.model,
    }
    serving = live.serving()
    if serving is not None:
        from ..index.store import Generation

        generation = Generation(settings.index / "generations" / serving["generation"], serving)
        try:
            stale = is_stale(generation, settings)
        except ClusterQAError:
            stale = True
        data |= {
            "generation": serving["generation"],
            "built": serving.get("created"),
            "documents": len(serving["documents"]),
            "passages": serving["passages"],
            "up_to_date": not stale,
        }
    data["updating"] = is_locked(settings.index) if (settings.index / "CURRENT").exists() else False
    data["update_log"] = str(settings.index / "update.log")
    try:
        data["latest_generation"] = Store(settings.index).current().name
    except ClusterQAError:
        data["latest_generation"] = None
    return data
