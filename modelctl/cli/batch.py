"""`--batch FILE|-` for classify and route: JSON lines in, one JSON line out per input, same order."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import typer

from modelctl.errors import InvalidInput, ModelctlError

_FIELDS = frozenset({"id", "query", "attachments", "segment"})


@dataclass(frozen=True, slots=True)
class BatchItem:
    id: Any
    query: str
    attachments: tuple[str, ...]
    segment: str | None


def _item(data: Any) -> BatchItem:
    if not isinstance(data, dict):
        raise InvalidInput("each line must be a JSON object")
    unknown = sorted(data.keys() - _FIELDS)
    if unknown:
        raise InvalidInput(f"{unknown[0]}: unknown field; valid: {', '.join(sorted(_FIELDS))}")
    query, attachments, segment = data.get("query"), data.get("attachments") or [], data.get("segment")
    if not isinstance(query, str):
        raise InvalidInput("query: required, a string")
    if not isinstance(attachments, list) or not all(isinstance(a, str) for a in attachments):
        raise InvalidInput("attachments: must be a list of paths or URLs")
    if segment is not None and (not isinstance(segment, str) or not segment.strip()):
        raise InvalidInput("segment: must be a non-empty string")
    return BatchItem(data.get("id"), query, tuple(attachments), segment)


def run_batch(path: str, decide: Callable[[BatchItem], dict[str, Any]]) -> None:
    """Answer every line; a failed line gets {"id", "error", "exit_code"}, and the command exits
    with the highest such code at the end."""
    from modelctl.services.jsonl import iter_json_lines, open_input

    exit_code = 0
    out = sys.stdout
    dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), default=str).encode
    with open_input(path) as (stream, source):
        for number, data, error in iter_json_lines(stream, source):
            item_id = data.get("id") if isinstance(data, dict) else None
            code = 2
            if error is None:
                try:
                    result = decide(_item(data))
                    out.write(dumps({"id": item_id, **result}) + "\n")
                    continue
                except ModelctlError as exc:
                    error, code = f"{source}:{number}: {exc}", exc.exit_code
            exit_code = max(exit_code, code)
            out.write(dumps({"id": item_id, "error": error, "exit_code": code}) + "\n")
            print(f"error: {error}", file=sys.stderr)
    out.flush()
    if exit_code:
        raise typer.Exit(exit_code)
