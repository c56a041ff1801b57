"""Issue 10 item 4: `clusterqa shell` keys through a real pseudo-terminal (stdlib pty), its `:commands`,
and questions echoed when its input is a pipe."""

from __future__ import annotations

import json
import os
import pty
import re
import select
import signal
import sys
import time
from pathlib import Path

from conftest import run_cli

QUESTION = "How many product models does the Yueqing electrical cluster offer?"
PROMPT = "clusterqa> "
READS = 1200  # bounded waits: up to READS reads of at most 0.25 s each, never a time limit on the result


class Terminal:
    """`clusterqa shell` on the child side of a pty, as under a terminal emulator (or tmux)."""

    def __init__(self, *args: str, home: Path) -> None:
        env = {**os.environ, "HF_HUB_OFFLINE": "1", "NO_COLOR": "1", "COLUMNS": "200", "HOME": str(home), "TERM": "xterm"}
        self.pid, self.fd = pty.fork()
        if self.pid == 0:  # the child: a new session whose controlling terminal is the pty
            # As in a terminal: Ctrl-C interrupts. A test run started in the background (`cmd &` in a script,
            # nohup) ignores SIGINT, and Python keeps an ignored SIGINT ignored across exec.
            signal.signal(signal.SIGINT, signal.SIG_DFL)
            os.execve(sys.executable, [sys.executable, "-m", "clusterqa", "shell", *args], env)
        self.seen = ""

    def read_until(self, text: str) -> str:
        """Output (with \\r\\n as \\n) up to and including the first `text` after what was read so far."""
        for _ in range(READS):
            index = self.seen.find(text)
            if index >= 0:
                out, self.seen = self.seen[: index + len(text)], self.seen[index + len(text) :]
                return out
            ready, _, _ = select.select([self.fd], [], [], 0.25)
            if ready:
                try:
                    data = os.read(self.fd, 65536)
                except OSError:  # the child closed the terminal
                    data = b""
                if not data:
                    break
                self.seen += data.decode("utf-8", "replace").replace("\r\n", "\n")
        raise AssertionError(f"no {text!r} in the shell's output:\n{self.seen}")

    def send(self, keys: str) -> None:
        os.write(self.fd, keys.encode("utf-8"))

    def wait(self) -> int:
        for _ in range(READS):
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                self.pid = 0
                os.close(self.fd)
                return os.waitstatus_to_exitcode(status)
            time.sleep(0.05)
        raise AssertionError("the shell did not exit")

    def kill(self) -> None:
        """End the shell if a failed assertion left it running (our own child, by its pid)."""
        if self.pid:
            os.kill(self.pid, signal.SIGKILL)
            os.waitpid(self.pid, 0)
            os.close(self.fd)


def test_shell_keys_and_commands_in_a_terminal(built_seeds_index: dict[str, Path], tmp_path: Path) -> None:
    term = Terminal("--seeds", str(built_seeds_index["seeds"]), "--index", str(built_seeds_index["index"]), home=tmp_path)
    try:
        term.read_until(PROMPT)
        # Ctrl-C on a half-typed line clears it: a fresh prompt, no answer, the shell still there.
        term.send("What is the capital of Fr")
        term.read_until("capital of Fr")
        term.send("\x03")
        cleared = term.read_until(PROMPT)
        assert "Answer" not in cleared and "No passage" not in cleared
        term.send("help\r")  # a word that means help is not searched
        shown = term.read_until(PROMPT)
        assert ":k N" in shown and ":show N" in shown and "Answer" not in shown
        term.send(":k 1\r")
        assert "showing 1 passage" in term.read_until(PROMPT)
        term.send(f"{QUESTION}\r")
        answer = term.read_until(PROMPT)
        assert "Answer  The Wenzhou Yueqing Electrical Industrial Cluster" in answer
        assert re.findall(r"^\[(\d)\] ", answer, re.M) == ["1"]
        assert "--no-refresh" not in answer
        term.send(":show 1\r")
        lines = (built_seeds_index["seeds"] / "000_7aa0c03ee5abb184.txt").read_text("utf-8").split("\n")
        shown = term.read_until(PROMPT)
        assert f"13:{lines[12]}" in shown and f"9-{lines[8]}" in shown and f"17-{lines[16]}" in shown
        term.send(":json on\r")
        term.read_until(PROMPT)
        term.send(f"{QUESTION}\r")
        row = json.loads(term.read_until(PROMPT).split("\n")[1])
        assert row["question"] == QUESTION and len(row["passages"]) == 1
        term.send(":mode sideways\r")
        assert ":mode takes hybrid, dense or lexical" in term.read_until(PROMPT)
        # Ctrl-D leaves, and the terminal's next line starts on a line of its own.
        term.send("\x04")
        rest = term.read_until("\n")
        assert rest == "\n", rest
        assert term.wait() == 0
    finally:
        term.kill()


def test_piped_shell_echoes_each_question(built_seeds_index: dict[str, Path]) -> None:
    lines = [QUESTION, ":k 1", ":docs", "What is the capital of France?", ":quit", "never asked"]
    result = run_cli(
        "shell",
        "--seeds",
        str(built_seeds_index["seeds"]),
        "--index",
        str(built_seeds_index["index"]),
        input="\n".join(lines) + "\n",
    )
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert out.startswith(f"? {QUESTION}\nAnswer  The Wenzhou Yueqing")
    assert "\n? What is the capital of France?\nNo passage in 5 documents" in out
    assert "5 documents, " in out  # :docs
    assert "never asked" not in out and PROMPT not in out
    assert "showing 1 passage" in result.stderr
