"""Tables as a person sees them: the real program on a real pseudo-terminal of 80 and 120 columns."""

from __future__ import annotations

import fcntl
import json
import os
import pty
import re
import struct
import subprocess
import sys
import termios

import pytest

COMMANDS = [
    ("route", "Compare the causes of the 1929 and 2008 crashes in depth, for research", "--explain"),
    ("models", "list"),
    ("stats",),
    ("upgrade", "status"),
    ("health",),
    ("providers", "list"),
    ("candidates",),
    ("audit",),
]
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
BOX = re.compile(r"[\u2500-\u257f]")


def on_terminal(args: tuple[str, ...], columns: int) -> str:
    """What `modelctl ARGS` prints to a terminal `columns` wide (the width rich reads from the tty)."""
    master, child_side = pty.openpty()
    fcntl.ioctl(child_side, termios.TIOCSWINSZ, struct.pack("HHHH", 50, columns, 0, 0))
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES")}
    process = subprocess.Popen([sys.executable, "-m", "modelctl", *args], stdin=subprocess.DEVNULL,
                               stdout=child_side, stderr=subprocess.DEVNULL, env={**env, "TERM": "xterm"})
    os.close(child_side)
    chunks = []
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError:  # EIO: the program closed its side
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(master)
    assert process.wait(timeout=120) == 0
    return ANSI.sub("", b"".join(chunks).decode()).replace("\r", "")


def words(text: str) -> set[str]:
    return set(BOX.sub(" ", text).split())


@pytest.fixture
def history(cli):
    lines = [{"model_id": model, "latency_ms": 700, "tokens_in": 1200, "tokens_out": 300, "segment": "research"}
             for model in ("gpt-4o-2024-08-06", "claude-sonnet-5-5", "gpt-6-luna")]
    cli("usage", "import", "-", input="".join(json.dumps(line) + "\n" for line in lines))
    cli("promote", "gpt-6.1-sol", "--segments", "technical")  # against claude-sonnet-5-5, its head


@pytest.mark.parametrize("args", COMMANDS, ids=" ".join)
def test_tables_fit_the_terminal_and_break_lines_only_between_words(history, args):
    whole = words(on_terminal(args, 250))
    for columns in (80, 120):
        shown = on_terminal(args, columns)
        too_wide = [line for line in shown.splitlines() if len(line) > columns]
        assert not too_wide, f"{' '.join(args)} at {columns} columns:\n{shown}"
        broken = words(shown) - whole
        assert not broken, f"{' '.join(args)} at {columns} columns breaks {sorted(broken)}:\n{shown}"
