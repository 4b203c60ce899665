"""Health state of models and providers: consecutive failures and cooldowns, shared through the database.

Counters are updated in SQL (`x = x + 1`) inside the caller's write transaction, so two processes
failing the same model at once both count.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from modelctl.core import histogram
from modelctl.store.catalog import as_datetime
from modelctl.store.db import Store, sql_ts

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection


def _run(conn: Connection, sql: str, *params: Any) -> None:
    """Straight to the driver (`?` or `%s` marks): on the run path SQLAlchemy's text() compile
    per statement costs more than the statement."""
    if conn.dialect.name != "sqlite":
        sql = sql.replace("?", "%s")
    conn.exec_driver_sql(sql, params)


def mark_success(conn: Connection, *, provider: str, model_id: str | None, now: datetime) -> None:
    """A call that worked ends the streaks and cooldowns of its model and provider."""
    if model_id is not None:
        _run(conn, "UPDATE model SET consecutive_failures = 0, cooldown_until = NULL "
                   "WHERE model_id = ? AND (consecutive_failures <> 0 OR cooldown_until IS NOT NULL)", model_id)
    _run(conn, "UPDATE provider SET health = 'ok', consecutive_failures = 0, cooldown_until = NULL, "
               "last_check = ? WHERE name = ?", sql_ts(now), provider)


def mark_failure(
    conn: Connection,
    *,
    provider: str,
    model_id: str | None,
    now: datetime,
    counts: bool,
    threshold: int,
    streak_cooldown: timedelta,
    model_until: datetime | None = None,
    provider_until: datetime | None = None,
) -> None:
    """Record one failure.

    `counts`: the failure says something about the model (not about the request), so it extends
    the streak; reaching `threshold` rests the model for `streak_cooldown`. `model_until` and
    `provider_until` force a cooldown at once (429; refused key or connection failure).
    """
    if model_id is not None and counts:
        _run(conn, "UPDATE model SET consecutive_failures = consecutive_failures + 1 WHERE model_id = ?", model_id)
        _run(conn, "UPDATE model SET cooldown_until = ? WHERE model_id = ? AND consecutive_failures >= ?",
             sql_ts(now + streak_cooldown), model_id, threshold)
    if model_id is not None and model_until is not None:
        until = sql_ts(model_until)
        _run(conn, "UPDATE model SET cooldown_until = ? WHERE model_id = ? "
                   "AND (cooldown_until IS NULL OR cooldown_until < ?)", until, model_id, until)
    streak = "consecutive_failures + 1" if counts else "consecutive_failures"
    if provider_until is not None:
        _run(conn, f"UPDATE provider SET health = 'down', consecutive_failures = {streak}, "
                   "cooldown_until = ?, last_check = ? WHERE name = ?", sql_ts(provider_until), sql_ts(now), provider)
    else:
        _run(conn, f"UPDATE provider SET health = 'degraded', consecutive_failures = {streak}, "
                   "last_check = ? WHERE name = ?", sql_ts(now), provider)


def model_health(store: Store) -> list[dict[str, Any]]:
    """Models with a failure streak or a cooldown on record (expired cooldowns included)."""
    rows = store.read(
        "SELECT model_id, provider, consecutive_failures, cooldown_until FROM model "
        "WHERE consecutive_failures > 0 OR cooldown_until IS NOT NULL ORDER BY provider, model_id"
    )
    return [
        {"model_id": m, "provider": p, "consecutive_failures": n, "cooldown_until": as_datetime(until)}
        for m, p, n, until in rows
    ]


def recent_usage_by_provider(store: Store, *, since: datetime) -> dict[str, dict[str, Any]]:
    """Calls, success rate and p95 latency per provider from the hourly roll-ups since `since`."""
    groups: dict[str, list] = {}
    for provider, calls, ok, hist in store.read(
        "SELECT provider, calls, successes, latency_hist FROM usage_rollup WHERE hour >= :since",
        {"since": sql_ts(since.replace(minute=0, second=0, microsecond=0))},
    ):
        group = groups.setdefault(provider, [0, 0, {}])
        group[0] += calls
        group[1] += ok
        histogram.merge(group[2], histogram.loads(hist))
    return {
        provider: {
            "calls": calls,
            "success_rate": round(ok / calls, 4) if calls else None,
            "p95_latency_ms": histogram.percentile(hist, 0.95),
        }
        for provider, (calls, ok, hist) in groups.items()
    }
