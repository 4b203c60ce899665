"""`modelctl audit`: every state change, who made it, and what it was before and after."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from modelctl.cli.common import JsonOption, emit, print_table, store_from


def audit(
    ctx: typer.Context,
    since: Annotated[str | None, typer.Option("--since", help="24h, 7d, 30m, today, yesterday, "
                                              "or an ISO date/time.")] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, max=100_000, help="Newest entries to show.")] = 50,
    as_json: JsonOption = False,
) -> None:
    """Show the audit log, newest first (imports, status changes, init).

    \b
    Example:
      modelctl audit --since yesterday --limit 20
    """
    from modelctl.services.audit import audit_entries

    entries = audit_entries(store_from(ctx), since=since, limit=limit)

    def short(value: object) -> str:
        text = "" if value is None else json.dumps(value, sort_keys=True, default=str)
        return text if len(text) <= 80 else text[:77] + "..."

    emit(entries, as_json=as_json, table=lambda: print_table(
        ["time", "actor", "action", "target", "before", "after"],
        [(f"{e['ts']:%Y-%m-%d %H:%M:%S}", e["actor"], e["action"], e["target"], short(e["before"]),
          short(e["after"])) for e in entries],
        drop_first=("before", "actor"),
    ))
