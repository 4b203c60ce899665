"""The audit log: every state change, who made it, and what it was before and after."""

from __future__ import annotations

from typing import Any

from modelctl import clock
from modelctl.store.catalog import read_audit
from modelctl.store.db import Store


def audit_entries(store: Store, *, since: str | None = None, limit: int) -> list[dict[str, Any]]:
    """The newest `limit` entries, newest first; `since` is a window (24h, 7d, yesterday) or an ISO date/time."""
    start = clock.parse_window(since, option="--since", now=clock.now()) if since else None
    return read_audit(store, since=start, limit=limit)
