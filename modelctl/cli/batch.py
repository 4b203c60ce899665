"""`--batch FILE|-` and `--workers N` for classify and route: their options, and the output.

The answering (chunks, worker processes, spool files) is services/batch.py's.
"""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from modelctl.services.batch import Decide

BatchOption = Annotated[
    str | None,
    typer.Option("--batch", metavar="FILE|-", help='JSON lines in ({"id", "query", "attachments": [...]}), '
                 "one JSON line out per input line, same order. Blank lines are skipped and get no output "
                 'line: match answers to questions by "id" (errors name the input line number).'),
]
WorkersOption = Annotated[
    int | None,
    typer.Option("--workers", min=1, max=64, help="Processes for --batch (default: the number of CPUs)."),
]

def run_batch(path: str, decide: Decide, *, workers: int | None = None) -> None:
    """Answer lines to stdout, each failed line's error to stderr; exit with the highest line's code.
    Ctrl-C reaches the CLI's edge (cli/common.py) after the workers and spool files are cleaned up:
    `interrupted`, exit 130."""
    from modelctl.services.batch import answer_batch

    exit_code = answer_batch(path, decide, out=sys.stdout.buffer, workers=workers,
                             report=lambda error: print(f"error: {error}", file=sys.stderr))
    if exit_code:
        raise typer.Exit(exit_code)
