"""Reading JSON lines from a file or stdin, with errors that name the line."""

from __future__ import annotations

import json
import shutil
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import IO, Any

from modelctl.errors import InvalidInput

MAX_LINE_BYTES = 1_000_000


def iter_json_lines(stream: IO[bytes], source: str) -> Iterator[tuple[int, Any, str | None]]:
    """(line number, parsed object or None, error or None) for every non-blank line."""
    for number, raw in enumerate(stream, start=1):
        if len(raw) > MAX_LINE_BYTES:
            yield number, None, f"{source}:{number}: line longer than {MAX_LINE_BYTES:,} bytes"
            continue
        if not raw.strip():
            continue
        try:
            yield number, json.loads(raw), None
        except UnicodeDecodeError:
            yield number, None, f"{source}:{number}: not UTF-8 text"
        except json.JSONDecodeError as exc:
            yield number, None, f"{source}:{number}: not valid JSON: {exc.msg}"
        except RecursionError:
            yield number, None, f"{source}:{number}: not valid JSON: nested too deeply"


@contextmanager
def open_input(path: str, *, rereadable: bool = False) -> Iterator[tuple[IO[bytes], str]]:
    """The file (or stdin for `-`) as bytes, and its name for messages.

    `rereadable` copies stdin to a temporary file first, for callers that read twice.
    """
    if path == "-":
        if not rereadable:
            yield sys.stdin.buffer, "<stdin>"
            return
        import tempfile

        with tempfile.TemporaryFile() as spool:
            shutil.copyfileobj(sys.stdin.buffer, spool)
            spool.seek(0)
            yield spool, "<stdin>"
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
