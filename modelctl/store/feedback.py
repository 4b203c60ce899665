"""A user's score on the attempt that answered a request (`modelctl feedback`).

The score lands in `usage.quality` of that one row and in the hourly and daily roll-ups the row
was counted in, in the caller's transaction, so `stats`, `models show` and the gates see it at
once; a second score for the same request replaces the first instead of counting twice.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from modelctl.errors import StoreError
from modelctl.store.catalog import as_datetime
from modelctl.store.db import sql_ts
from modelctl.store.maintenance import _exclude_usage_writers, midnight
from modelctl.store.usage import hour_of

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection

# Attempts the user never saw: duplicated calls for a rollout's evidence, and the judge's own calls.
UNSERVED_ARMS = ("shadow", "judge")


@dataclass(frozen=True, slots=True)
class ServedAttempt:
    """The usage row that answered a request, as it was before the score: `quality` is the old one."""

    usage_id: int
    ts: datetime
    model_id: str
    provider: str
    segment: str | None
    arm: str
    attempt: int
    quality: float | None


def score_served_attempt(conn: Connection, *, request_id: str, score: float,
                         keep_existing: bool = False) -> ServedAttempt | None:
    """Set the served attempt's quality to `score`, roll-ups included; None when nothing was served.
    With `keep_existing` (the judge's scores), a quality already set (a user's) is left as it is.

    The served attempt is the request's last successful call outside UNSERVED_ARMS (control,
    canary, or the incumbent's rescue after a failed canary call).
    """
    from sqlalchemy import text

    # Taken before the read, so two scores of one request never both see "no score yet".
    _exclude_usage_writers(conn)
    marks = ", ".join(f":arm{i}" for i in range(len(UNSERVED_ARMS)))
    row = conn.execute(
        text("SELECT id, ts, model_id, provider, segment, arm, attempt, quality FROM usage "
             f"WHERE request_id = :request_id AND success AND arm NOT IN ({marks}) "
             "ORDER BY attempt DESC LIMIT 1"),
        {"request_id": request_id, **{f"arm{i}": arm for i, arm in enumerate(UNSERVED_ARMS)}},
    ).first()
    if row is None:
        return None
    ts = as_datetime(row[1])
    assert ts is not None  # usage.ts is NOT NULL
    served = ServedAttempt(int(row[0]), ts, row[2], row[3], row[4], row[5], int(row[6]),
                           None if row[7] is None else float(row[7]))
    if keep_existing and served.quality is not None:
        return served
    conn.execute(text("UPDATE usage SET quality = :score WHERE id = :id"), {"score": score, "id": served.usage_id})
    _shift_quality_sums(conn, served, added=score - (served.quality or 0.0), counted=served.quality is None)
    return served


def recorded_attempts(conn: Connection, request_id: str) -> int:
    """How many usage rows a request has, served or not: what a refusal to score can tell the user."""
    from sqlalchemy import text

    return int(conn.execute(text("SELECT COUNT(*) FROM usage WHERE request_id = :r"), {"r": request_id}).scalar_one())


def _shift_quality_sums(conn: Connection, served: ServedAttempt, *, added: float, counted: bool) -> None:
    """Move the roll-up rows `served` was counted in by its change of score. An old day's hourly
    rows may have been compacted into one row at midnight (`usage prune`): that one is moved then."""
    from sqlalchemy import text

    day = midnight(served.ts.date())
    group: dict[str, Any] = {"model": served.model_id, "provider": served.provider, "segment": served.segment or "",
                             "arm": served.arm, "added": added, "counted": int(counted)}
    for table, column, periods in (("usage_rollup", "hour", (hour_of(served.ts), day)),
                                   ("usage_rollup_daily", "day", (day,))):
        update = text(
            f"UPDATE {table} SET quality_sum = quality_sum + :added, quality_n = quality_n + :counted "
            f"WHERE {column} = :period AND model_id = :model AND provider = :provider "
            "AND segment = :segment AND arm = :arm"
        )
        if not any(conn.execute(update, {**group, "period": sql_ts(period)}).rowcount for period in periods):
            raise StoreError(f"usage row {served.usage_id} is missing from {table}; "
                             "`modelctl db check` shows which roll-ups disagree with the raw rows")
