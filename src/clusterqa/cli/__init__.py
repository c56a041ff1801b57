"""The command line: typer commands, the shell, the MCP server and terminal rendering. Thin: it calls `service`."""


def main() -> None:
    """The `clusterqa` command (the console script, and `python -m clusterqa`).

    The cyclic garbage collector is paused while the command line starts: importing typer and rich, building
    the commands and printing --help allocate some 27,000 objects that live as long as the process and make no
    garbage, yet the collector would walk them about 60 times (23 M of 615 M instructions of `clusterqa --help`:
    benchmarks/help_instructions.py). A command turns it back on as it starts (`app._command`).
    """
    import gc

    gc.disable()
    from .app import main as run

    run()
