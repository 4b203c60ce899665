"""Pruning old raw usage, compacting old roll-ups, and whole-database copies (backup, export).

A prune removes a day's raw rows in batches, each committed together with the count it removed
(`usage_pruned`), so at every commit the roll-ups still equal the raw rows plus the pruned ones
and `db check` stays green even when a prune is killed. Then each old day's hourly roll-ups merge
into one row per group at midnight: same sums, merged histograms, so `stats` answers as before.
The daily roll-ups already hold those days whole and stay as they are.
"""

from __future__ import annotations

import json
import os
import sqlite3
import tempfile
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from modelctl.clock import rfc3339
from modelctl.core import histogram
from modelctl.errors import InvalidInput, StoreError
from modelctl.store.catalog import as_datetime
from modelctl.store.db import Store, sql_ts
from modelctl.store.usage import merge_group

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection

_GROUP = ("model_id", "provider", "segment", "arm")
_SUMS = ("calls", "successes", "tokens_in", "tokens_out", "cost_usd", "latency_sum_ms", "quality_sum", "quality_n",
         "latency_n")
_HISTS = ("latency_hist", "ttft_hist")


def midnight(day: date) -> datetime:
    return datetime.combine(day, time())


def _day_window(day: date) -> dict[str, str]:
    return {"start": sql_ts(midnight(day)), "end": sql_ts(midnight(day) + timedelta(days=1))}


# --------------------------------------------------------------------------- prune


def oldest_usage_day(store: Store, *, before: datetime) -> date | None:
    value = store.read("SELECT MIN(ts) FROM usage WHERE ts < :before", {"before": sql_ts(before)})[0][0]
    return None if value is None else as_datetime(value).date()


def prunable(store: Store, *, before: datetime) -> tuple[int, int]:
    """(raw usage rows, roll-up rows) older than `before`: what a prune would touch."""
    params = {"before": sql_ts(before)}
    raw = store.read("SELECT COUNT(*) FROM usage WHERE ts < :before", params)[0][0]
    rolled = store.read("SELECT COUNT(*) FROM usage_rollup WHERE hour < :before", params)[0][0]
    return raw, rolled


def _exclude_usage_writers(conn: Connection) -> None:
    """On PostgreSQL, the advisory lock store.usage.insert_usage takes: a roll-up it read must not be
    merged away under it. (SQLite's BEGIN IMMEDIATE already serialises all writers.)"""
    if conn.dialect.name != "sqlite":
        conn.exec_driver_sql("SELECT pg_advisory_xact_lock(hashtext('modelctl:usage'))")


def delete_usage_batch(conn: Connection, *, day: date, size: int, now: datetime) -> int:
    """Delete up to `size` raw rows of one day and count them as pruned, in the caller's transaction."""
    from sqlalchemy import text

    _exclude_usage_writers(conn)
    deleted = conn.execute(
        text("DELETE FROM usage WHERE id IN "
             "(SELECT id FROM usage WHERE ts >= :start AND ts < :end LIMIT :size)"),
        {**_day_window(day), "size": size},
    ).rowcount
    if deleted:
        conn.execute(
            text("INSERT INTO usage_pruned (day, calls, pruned_at) VALUES (:day, :calls, :now) "
                 "ON CONFLICT (day) DO UPDATE SET calls = usage_pruned.calls + excluded.calls, "
                 "pruned_at = excluded.pruned_at"),
            {"day": day.isoformat(), "calls": deleted, "now": sql_ts(now)},
        )
    return deleted


def hourly_rollup_days(store: Store, *, before: datetime) -> list[date]:
    """Days before `before` that still hold roll-ups finer than one row per group a day."""
    hours = {as_datetime(row[0]) for row in
             store.read("SELECT DISTINCT hour FROM usage_rollup WHERE hour < :before", {"before": sql_ts(before)})}
    return sorted({hour.date() for hour in hours if hour.time() != time()})


def compact_rollups(conn: Connection, *, day: date) -> tuple[int, int]:
    """Merge one day's hourly roll-ups into one row per group at midnight; (rows before, rows after)."""
    from sqlalchemy import text

    _exclude_usage_writers(conn)
    rows = conn.execute(
        text(f"SELECT {', '.join(_GROUP + _SUMS + _HISTS)} FROM usage_rollup "
             "WHERE hour >= :start AND hour < :end"),
        _day_window(day),
    ).all()
    merged: dict[tuple, list] = {}
    sums_end = len(_GROUP) + len(_SUMS)
    for row in rows:
        merge_group(merged, tuple(row[:4]), (*row[4:sums_end], histogram.loads(row[sums_end]),
                                             histogram.loads(row[sums_end + 1])))
    conn.execute(text("DELETE FROM usage_rollup WHERE hour >= :start AND hour < :end"), _day_window(day))
    columns = ("hour", *_GROUP, *_SUMS, *_HISTS)
    if merged:
        conn.execute(
            text(f"INSERT INTO usage_rollup ({', '.join(columns)}) VALUES ({', '.join(':' + c for c in columns)})"),
            [
                dict(zip(columns, (sql_ts(midnight(day)), *key, *group[:len(_SUMS)],
                                   histogram.dumps(group[-2]), histogram.dumps(group[-1])), strict=True))
                for key, group in merged.items()
            ],
        )
    return len(rows), len(merged)


def pruned_calls(store: Store) -> int:
    return int(store.read("SELECT COALESCE(SUM(calls), 0) FROM usage_pruned")[0][0])


def usage_rows(store: Store) -> int:
    return store.read("SELECT COUNT(*) FROM usage")[0][0]


def rolled_up_calls(store: Store, *, daily: bool) -> int:
    """Calls counted by the hourly (or the daily) usage roll-ups."""
    table = "usage_rollup_daily" if daily else "usage_rollup"
    return store.read(f"SELECT COALESCE(SUM(calls), 0) FROM {table}")[0][0]


def integrity_problems(store: Store) -> list[str]:
    """SQLite's own consistency check: ["ok"], or what it found wrong."""
    return [row[0] for row in store.read("PRAGMA integrity_check")]


# --------------------------------------------------------------------------- backup and export


def backup_sqlite(store: Store, destination: Path, *, force: bool) -> int:
    """A consistent copy through SQLite's online backup API, while others keep writing; its size.

    The copy goes to a private temporary file beside the destination and moves into place only
    when complete and checked, so an interrupted backup never leaves a half-written file there.
    """
    if destination.is_dir():
        raise InvalidInput(f"{destination}: is a directory; give a file path")
    if destination.exists() and not force:
        raise InvalidInput(f"{destination}: already exists; pass --force to overwrite it")
    try:
        fd, partial = tempfile.mkstemp(prefix=f".{destination.name}.", suffix=".partial",
                                       dir=destination.parent)  # mode 0600
    except OSError as exc:
        raise StoreError(f"{destination.parent}: cannot write the backup there ({exc.strerror})") from None
    os.close(fd)
    try:
        source = store.open_sqlite()  # read-only storage too
        target = sqlite3.connect(partial)
        try:
            source.backup(target)
            problems = [row[0] for row in target.execute("PRAGMA integrity_check")]
        finally:
            target.close()
            source.close()
        if problems != ["ok"]:
            raise StoreError(f"{destination}: the copy failed its integrity check ({'; '.join(problems[:3])})")
        if force:
            os.replace(partial, destination)
        else:
            os.link(partial, destination)  # fails rather than overwrite a file created meanwhile
    except sqlite3.Error as exc:
        raise StoreError(f"{store.path}: backup failed: {exc}") from None
    except FileExistsError:
        raise InvalidInput(f"{destination}: already exists; pass --force to overwrite it") from None
    except OSError as exc:
        raise StoreError(f"{destination}: cannot write the backup ({exc.strerror})") from None
    finally:
        if os.path.exists(partial):
            os.unlink(partial)
    return destination.stat().st_size


def _json_ready(value: Any) -> Any:
    if isinstance(value, datetime):
        return rfc3339(value)
    return value.isoformat() if isinstance(value, date) else value


def export_tables(store: Store) -> dict[str, list[dict[str, Any]]]:
    """Every row of the model, provider, rollout, gate_result and audit tables, JSON-ready."""
    from sqlalchemy import inspect, select

    from modelctl.store.tables import AuditRow, GateResultRow, ModelRow, ProviderRow, RolloutRow

    sections = {"models": ModelRow, "providers": ProviderRow, "rollouts": RolloutRow,
                "gate_results": GateResultRow, "audit": AuditRow}
    out: dict[str, list[dict[str, Any]]] = {}
    with store.connection() as conn:
        for name, row_type in sections.items():
            table = inspect(row_type).local_table
            rows = conn.execute(select(table).order_by(*table.primary_key)).mappings()
            out[name] = [{key: _json_ready(value) for key, value in row.items()} for row in rows]
    for entry in out["audit"]:  # stored as JSON text: export the objects themselves
        for key in ("before", "after"):
            if entry[key] is not None:
                entry[key] = json.loads(entry[key])
    return out
