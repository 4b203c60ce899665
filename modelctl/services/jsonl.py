"""Reading JSON lines from a file or stdin, with errors that name the line.

orjson, not the json module: parsing is the largest cost of a million-line import.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import IO, Any

import orjson

from modelctl.errors import InvalidInput

loads = orjson.loads
MAX_LINE_BYTES = 1_000_000


def iter_json_lines(lines: Iterable[bytes], source: str, *, start: int = 1) -> Iterator[tuple[int, Any, str | None]]:
    """(line number, parsed object or None, error or None) for every non-blank line."""
    for number, raw in enumerate(lines, start=start):
        if len(raw) > MAX_LINE_BYTES:
            yield number, None, f"{source}:{number}: line longer than {MAX_LINE_BYTES:,} bytes"
            continue
        if not raw.strip():
            continue
        try:
            yield number, loads(raw), None
        except orjson.JSONDecodeError as exc:
            # orjson's message names the problem and the column; it also covers bad UTF-8 and nesting
            yield number, None, f"{source}:{number}: not valid JSON: {exc.msg} (column {exc.colno})"


@contextmanager
def open_input(path: str) -> Iterator[tuple[IO[bytes], str]]:
    """The file (or stdin for `-`) as bytes, and its name for messages."""
    if path == "-":
        yield sys.stdin.buffer, "<stdin>"
        return
    try:
        stream = open(path, "rb")  # noqa: SIM115 - closed below
    except FileNotFoundError:
        raise InvalidInput(f"{path}: no such file") from None
    except IsADirectoryError:
        raise InvalidInput(f"{path}: is a directory, not a JSON-lines file") from None
    except OSError as exc:
        raise InvalidInput(f"{path}: cannot read: {exc.strerror}") from None
    with stream:
        yield stream, path
