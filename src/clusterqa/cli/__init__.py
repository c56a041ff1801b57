"""The command line: typer commands, the shell, the MCP server and terminal rendering. Thin: it calls `service`."""
