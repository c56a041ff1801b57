"""Issue 12 item 1: `clusterqa mcp` as a real subprocess, spoken to with the MCP SDK's own stdio client."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path

import anyio
import pytest
from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client
from mcp.shared.exceptions import MCPError

from clusterqa.reading.documents import normalize
from conftest import clone_workspace, marker, run_cli, synthetic_text

QUESTION = "Which Zhejiang clusters were among the 2020 finalists?"
FINALISTS_000 = "000_7aa0c03ee5abb184.txt"
TOOLS = {"ask", "search", "show", "list_documents", "index_status"}


@pytest.fixture(scope="module")
def served(built_seeds_index: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """One built index for the module's read-only tests (a copy: the seeds index is shared)."""
    return clone_workspace(built_seeds_index, tmp_path_factory.mktemp("mcp") / "ws")


def server_env() -> dict[str, str]:
    # The SDK's stdio client passes only a few variables (PATH, HOME...): the rest must be named.
    keep = ("XDG_CACHE_HOME", "PYTHONPATH", "CLUSTERQA_MAX_FILE_MB")
    return {"HF_HUB_OFFLINE": "1", **{k: os.environ[k] for k in keep if k in os.environ}}


def session(ws: dict[str, Path], scenario: Callable[[ClientSession], Awaitable[None]]) -> str:
    """Run `scenario` against `clusterqa mcp --seeds --index` of `ws`; returns the server's stderr."""
    params = StdioServerParameters(
        command=sys.executable,
        args=["-m", "clusterqa", "mcp", "--seeds", str(ws["seeds"]), "--index", str(ws["index"])],
        env=server_env(),
        cwd=str(ws["root"]),
    )
    errlog = ws["root"] / "server-stderr.log"

    async def main() -> None:
        with open(errlog, "w", encoding="utf-8") as err:
            async with stdio_client(params, errlog=err) as (read, write), ClientSession(read, write) as client:
                await client.initialize()
                with anyio.fail_after(240):
                    await scenario(client)

    anyio.run(main)
    stderr = errlog.read_text("utf-8")
    assert "Traceback" not in stderr, stderr
    return stderr


async def call(client: ClientSession, tool: str, **arguments) -> dict:
    """A successful call's JSON; the text content and the structured content are the same object."""
    result = await client.call_tool(tool, arguments)
    assert not result.is_error, result.content[0].text
    data = json.loads(result.content[0].text)
    assert result.structured_content == data
    return data


async def call_error(client: ClientSession, tool: str, **arguments) -> str:
    result = await client.call_tool(tool, arguments)
    assert result.is_error, result
    message = result.content[0].text
    assert "\n" not in message and "Traceback" not in message, message
    return message


def file_lines(ws: dict[str, Path], source: str) -> list[str]:
    return (ws["seeds"] / source).read_text("utf-8").split("\n")


def words(text: str) -> str:
    return " ".join(text.split())


def check_cites_its_lines(ws: dict[str, Path], passage: dict) -> None:
    """Exact: char_start..char_end slices the file to the passage's text, and line_start..line_end are
    the lines of that slice, counted in the file itself."""
    original = (ws["seeds"] / passage["source"]).read_text("utf-8")
    start, end = passage["char_start"], passage["char_end"]
    assert normalize(original[start:end]) == passage["text"], passage
    assert passage["line_start"] == 1 + original.count("\n", 0, start), passage
    assert passage["line_end"] == 1 + original.count("\n", 0, end - 1), passage
    lines = original.split("\n")[passage["line_start"] - 1 : passage["line_end"]]
    assert words(normalize(passage["text"])) in words(normalize("\n".join(lines))), passage


def test_tools_are_listed_with_typed_input_schemas(served: dict[str, Path]) -> None:
    seen = {}

    async def scenario(client: ClientSession) -> None:
        seen["tools"] = {t.name: t for t in (await client.list_tools()).tools}

    session(served, scenario)
    tools = seen["tools"]
    assert set(tools) == TOOLS
    ask = tools["ask"].input_schema
    assert ask["required"] == ["question"]
    assert ask["properties"]["question"]["type"] == "string"
    assert (ask["properties"]["top_k"]["minimum"], ask["properties"]["top_k"]["maximum"]) == (1, 50)
    assert ask["properties"]["mode"]["enum"] == ["hybrid", "dense", "lexical"]
    assert tools["search"].input_schema["properties"]["min_score"]["type"] == "number"
    assert tools["show"].input_schema["required"] == ["citation"]
    for tool in tools.values():
        assert len(tool.description) > 80, tool.name
        assert tool.annotations.read_only_hint is True


def test_ask_is_the_json_of_ask_cli_and_cites_the_right_lines(served: dict[str, Path]) -> None:
    got = {}

    async def scenario(client: ClientSession) -> None:
        got["ask"] = await call(client, "ask", question=QUESTION, top_k=4)
        got["dense"] = await call(client, "ask", question=QUESTION, top_k=2, mode="dense")

    session(served, scenario)
    cli = run_cli("ask", QUESTION, "--json", "-k", "4", "--seeds", str(served["seeds"]), "--index", str(served["index"]))
    assert cli.returncode == 0, cli.stderr
    assert got["ask"] == json.loads(cli.stdout)

    answer = got["ask"]["answer"]
    assert got["ask"]["confident"] and answer["source"] == FINALISTS_000
    assert words(answer["text"]) in words(file_lines(served, answer["source"])[answer["line"] - 1])
    passages = got["ask"]["passages"]
    assert [p["rank"] for p in passages] == [1, 2, 3, 4]
    assert passages[0]["source"] == FINALISTS_000
    for p in passages + got["dense"]["passages"]:
        assert {"source", "title", "date", "section", "line_start", "line_end", "text"} <= set(p)
        check_cites_its_lines(served, p)
    assert len(got["dense"]["passages"]) == 2


def test_search_show_documents_and_status(served: dict[str, Path]) -> None:
    got = {}

    async def scenario(client: ClientSession) -> None:
        got["all"] = await call(client, "search", question="electrical cluster product models", top_k=10)
        scores = sorted(p["score"] for p in got["all"]["passages"])
        threshold = (scores[4] + scores[5]) / 2  # between two shown scores: their rounding cannot move a passage across
        got["threshold"] = threshold
        got["some"] = await call(client, "search", question="electrical cluster product models", top_k=10, min_score=threshold)
        top = got["all"]["passages"][0]
        got["top"] = top
        got["show"] = await call(client, "show", citation=f"{top['source']}:{top['line_start']}-{top['line_end']}", context=1)
        got["show_line"] = await call(client, "show", citation=f"{FINALISTS_000}:9", context=0)
        got["docs"] = await call(client, "list_documents")
        got["status"] = await call(client, "index_status")

    session(served, scenario)
    everything = got["all"]["passages"]
    assert len(everything) == 10
    assert [p["score"] for p in everything] == sorted((p["score"] for p in everything), reverse=True)
    kept = [p for p in everything if p["score"] >= got["threshold"]]
    assert got["some"]["passages"] == kept and 0 < len(kept) < 10
    for p in everything:
        check_cites_its_lines(served, p)

    top, shown = got["top"], got["show"]
    lines = file_lines(served, top["source"])
    first, last = max(1, top["line_start"] - 1), min(len(lines), top["line_end"] + 1)
    assert shown["source"] == top["source"]
    assert (shown["line_start"], shown["line_end"]) == (top["line_start"], top["line_end"])
    assert [row["line"] for row in shown["lines"]] == list(range(first, last + 1))
    assert [row["text"] for row in shown["lines"]] == lines[first - 1 : last]
    assert [row["cited"] for row in shown["lines"]] == [top["line_start"] <= n <= top["line_end"] for n in range(first, last + 1)]
    assert got["show_line"]["lines"] == [{"line": 9, "text": lines_of_000(served)[8], "cited": True}]

    cli = run_cli("docs", "--json", "--seeds", str(served["seeds"]), "--index", str(served["index"]), cwd=served["root"])
    assert cli.returncode == 0, cli.stderr
    assert got["docs"] == json.loads(cli.stdout)
    assert len(got["docs"]["documents"]) == 5

    status = got["status"]
    assert status["state"] == "ready" and status["error"] is None
    assert (status["documents"], status["up_to_date"], status["updating"]) == (5, True, False)
    assert status["seeds"] == str(served["seeds"]) and status["index"] == str(served["index"])
    assert status["generation"] == status["latest_generation"] == (served["index"] / "CURRENT").read_text("utf-8").strip()


def lines_of_000(ws: dict[str, Path]) -> list[str]:
    return file_lines(ws, FINALISTS_000)


def test_a_bad_call_is_a_one_line_tool_error_and_the_server_keeps_serving(served: dict[str, Path]) -> None:
    got = {}

    async def scenario(client: ClientSession) -> None:
        got["empty"] = await call_error(client, "ask", question="   ")
        got["mode"] = await call_error(client, "ask", question=QUESTION, mode="fuzzy")
        got["top_k"] = await call_error(client, "search", question=QUESTION, top_k=0)
        got["missing"] = await call_error(client, "ask")
        got["unknown"] = await call_error(client, "show", citation="no-such-file.txt:3")
        got["outside"] = await call_error(client, "show", citation=f"{Path(sys.executable).resolve()}:1")
        got["past"] = await call_error(client, "show", citation=f"{FINALISTS_000}:900")
        got["range"] = await call_error(client, "show", citation=f"{FINALISTS_000}:9-3")
        got["after"] = await call(client, "ask", question=QUESTION)

    session(served, scenario)
    assert got["empty"].startswith("the question is empty")
    assert got["mode"] == "bad arguments: mode: input should be 'hybrid', 'dense' or 'lexical' (got 'fuzzy')"
    assert got["top_k"] == "bad arguments: top_k: input should be greater than or equal to 1 (got 0)"
    assert got["missing"] == "bad arguments: question: field required"
    assert got["unknown"].startswith("no-such-file.txt:3: no such document")
    assert "is not a document of the index" in got["outside"]  # only indexed documents are readable
    assert got["past"] == f"{served['seeds'] / FINALISTS_000} has 25 lines; line 900 is past its end"
    assert "START <= END" in got["range"]
    assert got["after"]["answer"]["source"] == FINALISTS_000


def test_documents_are_resources(served: dict[str, Path]) -> None:
    got = {}

    async def scenario(client: ClientSession) -> None:
        got["list"] = (await client.list_resources()).resources
        got["read"] = (await client.read_resource(f"clusterqa://{FINALISTS_000}")).contents
        with pytest.raises(MCPError) as missing:
            await client.read_resource("clusterqa://no-such-file.txt")
        got["missing"] = str(missing.value)
        got["after"] = await call(client, "index_status")

    session(served, scenario)
    sources = sorted(p.name for p in served["seeds"].iterdir())
    assert sorted(str(r.uri) for r in got["list"]) == [f"clusterqa://{s}" for s in sources]
    assert {r.name for r in got["list"]} == set(sources)
    assert all(r.mime_type == "text/plain" and r.title for r in got["list"])
    (content,) = got["read"]
    assert content.text == (served["seeds"] / FINALISTS_000).read_text("utf-8")
    assert "no such document" in got["missing"]
    assert got["after"]["state"] == "ready"


def test_changed_documents_are_indexed_between_calls(served: dict[str, Path], tmp_path: Path) -> None:
    ws = clone_workspace(served, tmp_path / "ws")
    added = ws["seeds"] / "report900.txt"
    got = {}

    async def scenario(client: ClientSession) -> None:
        got["before"] = await call(client, "search", question=marker(900, 0), mode="lexical")
        added.write_text(synthetic_text(900), "utf-8")  # a small change: indexed before the next answer
        (ws["seeds"] / FINALISTS_000).unlink()
        got["after"] = await call(client, "search", question=marker(900, 0), mode="lexical")
        got["docs"] = await call(client, "list_documents")
        got["resources"] = {str(r.uri) for r in (await client.list_resources()).resources}
        got["gone"] = await call_error(client, "show", citation=f"{FINALISTS_000}:1")

    stderr = session(ws, scenario)
    assert all(p["source"] != "report900.txt" for p in got["before"]["passages"])
    assert got["after"]["passages"][0]["source"] == "report900.txt"
    check_cites_its_lines(ws, got["after"]["passages"][0])
    sources = {d["source"] for d in got["docs"]["documents"]}
    assert "report900.txt" in sources and FINALISTS_000 not in sources
    assert "clusterqa://report900.txt" in got["resources"] and f"clusterqa://{FINALISTS_000}" not in got["resources"]
    assert "no such document" in got["gone"]
    assert "documents changed since the index was built: updating it first" in stderr


def test_stdout_carries_only_the_protocol(served: dict[str, Path], tmp_path: Path) -> None:
    """Warnings (here: the refresh notice of a stale index) go to stderr; every stdout line is JSON-RPC."""
    ws = clone_workspace(served, tmp_path / "ws")
    (ws["seeds"] / "report901.txt").write_text(synthetic_text(901), "utf-8")
    messages = [
        {
            "jsonrpc": "2.0",
            "id": 1,
            "method": "initialize",
            "params": {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "raw", "version": "0"}},
        },
        {"jsonrpc": "2.0", "method": "notifications/initialized"},
        {"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {"name": "ask", "arguments": {"question": QUESTION}}},
        {"jsonrpc": "2.0", "id": 3, "method": "tools/call", "params": {"name": "ask", "arguments": {"question": ""}}},
    ]
    server = subprocess.Popen(
        [sys.executable, "-m", "clusterqa", "mcp", "--seeds", str(ws["seeds"]), "--index", str(ws["index"])],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "HF_HUB_OFFLINE": "1"},
    )
    replies = {}
    try:
        for message in messages:
            server.stdin.write(json.dumps(message) + "\n")
            server.stdin.flush()
            if "id" in message:
                line = server.stdout.readline()
                reply = json.loads(line)  # anything else on stdout fails here
                assert reply["jsonrpc"] == "2.0" and reply["id"] == message["id"], line
                replies[reply["id"]] = reply
        rest, stderr = server.communicate(timeout=60)  # closes stdin: the client is done, the server ends
    finally:
        if server.poll() is None:
            server.kill()
    assert rest == ""
    assert server.returncode == 0, stderr
    assert replies[1]["result"]["serverInfo"]["name"] == "clusterqa"
    assert replies[2]["result"]["isError"] is False
    assert json.loads(replies[2]["result"]["content"][0]["text"])["answer"]["source"] == FINALISTS_000
    assert replies[3]["result"]["isError"] is True
    assert "documents changed since the index was built" in stderr and "Traceback" not in stderr


def test_ask_and_help_do_not_import_the_mcp_sdk(served: dict[str, Path]) -> None:
    for args in (["--help"], ["ask", QUESTION, "--seeds", str(served["seeds"]), "--index", str(served["index"])]):
        loaded = subprocess.run(
            [sys.executable, "-X", "importtime", "-m", "clusterqa", *args],
            capture_output=True,
            text=True,
            timeout=120,
            env={**os.environ, "HF_HUB_OFFLINE": "1"},
        )
        assert loaded.returncode == 0, loaded.stderr[-2000:]
        imported = {line.rsplit("|", 1)[-1].strip() for line in loaded.stderr.splitlines() if line.startswith("import time:")}
        assert "clusterqa.cli.app" in imported
        assert not {name.split(".")[0] for name in imported} & {"mcp", "mcp_types", "pydantic", "anyio"}
        assert "clusterqa.cli.mcp_server" not in imported and "clusterqa.cli.live_index" not in imported


def test_no_documents_yet_is_an_error_until_they_arrive_then_the_index_is_built(tmp_path: Path, encoder_dir: Path) -> None:
    """A server started before its folder exists answers each call with the reason, keeps serving,
    and builds the index once the folder holds documents."""
    ws = {"seeds": tmp_path / "later", "index": tmp_path / "index", "root": tmp_path}
    got = {}

    async def scenario(client: ClientSession) -> None:
        got["error"] = await call_error(client, "ask", question="Which report counted zone units?")
        got["status_error"] = await call(client, "index_status")
        ws["seeds"].mkdir()
        ws["seeds"].joinpath("report902.txt").write_text(synthetic_text(902), "utf-8")
        got["found"] = await call(client, "search", question=marker(902, 0), mode="lexical", top_k=1)
        got["status"] = await call(client, "index_status")

    stderr = session(ws, scenario)
    assert str(ws["seeds"]) in got["error"]
    assert got["status_error"]["state"] == "error" and got["status_error"]["error"] == got["error"]
    (passage,) = got["found"]["passages"]
    assert passage["source"] == "report902.txt"
    check_cites_its_lines(ws, passage)
    assert (got["status"]["state"], got["status"]["documents"], got["status"]["error"]) == ("ready", 1, None)
    assert f"no index in {ws['index']} yet: building it" in stderr


def test_a_pdf_is_cited_by_page_and_shown_by_page(tmp_path: Path, encoder_dir: Path) -> None:
    """A PDF's passages carry their page; `show` with FILE:PAGE returns that page's extracted lines."""
    from test_formats import write_design_pdf

    seeds = tmp_path / "seeds"
    seeds.mkdir()
    write_design_pdf(seeds / "design.pdf")
    ws = {"seeds": seeds, "index": tmp_path / "index", "root": tmp_path}
    got = {}

    async def scenario(client: ClientSession) -> None:
        got["ask"] = await call(client, "ask", question="How many replicas does each shard keep?", top_k=1)
        got["show"] = await call(client, "show", citation="design.pdf:2", context=0)

    session(ws, scenario)
    top = got["ask"]["passages"][0]
    assert (top["source"], top["page_start"], top["page_end"]) == ("design.pdf", 2, 2)
    shown = " ".join(line["text"] for line in got["show"]["lines"])
    assert "Each shard keeps three replicas" in shown
    assert "Zstandard" not in shown  # page 1 is not shown
