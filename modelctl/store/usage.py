"""Usage rows and their hourly and daily roll-ups.

Every insert also folds the rows it actually added into `usage_rollup` (per hour) and
`usage_rollup_daily` (per day), in the same transaction, so `stats` reads whole days from a few
thousand daily rows and only the hours at the edges of its window from the hourly ones, instead
of scanning millions of raw rows. A repeated (request_id, attempt) is skipped and not counted.

A row's latency is NULL when the call reached no server (services/run.py, `Attempt.measured`):
the row counts as a call, but not as a latency sample. So a roll-up keeps `latency_n`, the
samples behind its `latency_sum_ms` and histogram, and means divide by it, not by `calls`.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import closing, contextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from modelctl.core import histogram
from modelctl.core.usage import UsageRecord
from modelctl.store.db import Store, sql_ts, sqlite_driver

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection

USAGE_COLUMNS = (
    "ts", "model_id", "provider", "segment", "arm", "latency_ms", "ttft_ms", "tokens_in",
    "tokens_out", "cost_usd", "success", "error_kind", "quality", "request_id", "attempt", "client_key",
)
_ROLLUP_SUMS = ("calls", "successes", "tokens_in", "tokens_out", "cost_usd", "latency_sum_ms",
                "quality_sum", "quality_n", "latency_n")
_ROLLUP_KEY = ("hour", "model_id", "provider", "segment", "arm")

GROUP_KEYS = ("model", "provider", "segment", "day", "key")

# hourly and daily roll-up groups of some usage rows: (period start as sql_ts text, model,
# provider, segment, arm) -> the _ROLLUP_SUMS, then latency and TTFT histograms
Rollups = tuple[dict[tuple, list], dict[tuple, list]]


def usage_tuple(record: UsageRecord, *, provider: str, cost_usd: float | None, ts: datetime,
                measured: bool = True, client_key: str | None = None) -> tuple:
    """A row in USAGE_COLUMNS order, ready for the driver; `measured` False records no latency;
    `client_key` names the API key it came through."""
    return (
        sql_ts(ts), record.model_id, provider, record.segment, record.arm,
        record.latency_ms if measured else None,
        record.ttft_ms, record.tokens_in, record.tokens_out, cost_usd, record.success,
        record.error_kind, record.quality, record.request_id, record.attempt, client_key,
    )


def hour_of(value: datetime) -> datetime:
    return value.replace(minute=0, second=0, microsecond=0)


def _mark(conn: Connection) -> str:
    """The driver's placeholder: exec_driver_sql bypasses SQLAlchemy's parameter rendering."""
    return "?" if conn.dialect.name == "sqlite" else "%s"


# PostgreSQL receives a batch as one array per column (one statement, not one per row)
_PG_TYPES = ("timestamp", "text", "text", "text", "text", "float8", "float8", "int8", "int8", "float8",
             "bool", "text", "float8", "text", "int4", "text")


def _pg_unnest(types: Sequence[str], rows: Sequence[tuple]) -> tuple[str, tuple]:
    """`SELECT * FROM unnest(...)` over `rows`, and its parameters: a list per column."""
    columns = [list(column) for column in zip(*rows, strict=True)]
    return f"SELECT * FROM unnest({', '.join(f'%s::{t}[]' for t in types)})", tuple(columns)


@contextmanager
def bulk_writes(conn: Connection) -> Iterator[None]:
    """Around many batches committed on one connection: SQLite checkpoints its WAL every 64 MB
    instead of every 4 MB, so hot index pages go back to the database once, not once a batch,
    and with fewer fsyncs (pass two of a 1,000,000-row import: 12% faster)."""
    if conn.dialect.name != "sqlite":
        yield
        return
    driver = sqlite_driver(conn)
    previous = driver.execute("PRAGMA wal_autocheckpoint").fetchone()[0]
    driver.execute("PRAGMA wal_autocheckpoint=16384")
    try:
        yield
    finally:
        if not conn.invalidated:  # a statement cut short by Ctrl-C closed the connection, setting and all
            driver.execute(f"PRAGMA wal_autocheckpoint={int(previous)}")


def insert_usage(conn: Connection, rows: Sequence[tuple], *, rollups: Rollups | None = None) -> int:
    """Insert rows (USAGE_COLUMNS order) and roll them up; returns how many were new.

    `rollups` is `rollups_of(rows)` made beforehand, if it was; it is used when every row is new.
    Goes straight to the driver: at a million rows the ORM's per-row work is the cost.
    """
    if not rows:
        return 0
    rollups = rollups or rollups_of(rows)
    if conn.dialect.name != "sqlite":
        return _insert_usage_pg(conn, rows, rollups)
    values = f"VALUES ({', '.join(['?'] * len(USAGE_COLUMNS))})"
    return _insert_usage_sqlite(conn, values, list(rows), len(rows), rollups)


@contextmanager
def staged_copies(conn: Connection, stage: Path) -> Iterator[Callable[[tuple[int, int], Rollups], int]]:
    """`copy(rowids, rollups)`, which inserts one batch of a staging file (store/staging.py) like
    insert_usage: on SQLite inside the engine, from the file attached; elsewhere read and sent."""
    from modelctl.store import staging

    if conn.dialect.name != "sqlite":
        import sqlite3

        success = USAGE_COLUMNS.index("success")
        with closing(sqlite3.connect(stage)) as source:
            def send(rowids: tuple[int, int], rollups: Rollups) -> int:
                # SQLite gives success back as 0/1; PostgreSQL's bool[] wants bools
                rows = [(*row[:success], bool(row[success]), *row[success + 1:])
                        for row in source.execute(staging.select_rows("main"), rowids)]
                return _insert_usage_pg(conn, rows, rollups)

            yield send
        return
    driver = sqlite_driver(conn)
    driver.execute("ATTACH DATABASE ? AS stage", (str(stage),))
    try:
        yield lambda rowids, rollups: _insert_usage_sqlite(
            conn, staging.select_rows("stage"), rowids, rowids[1] - rowids[0], rollups)
    finally:
        if not conn.invalidated:  # closed by a statement cut short (Ctrl-C): nothing is attached
            driver.execute("DETACH DATABASE stage")


def _insert_usage_sqlite(conn: Connection, source: str, params: Any, count: int, rollups: Rollups) -> int:
    """INSERT the `count` rows `source` (VALUES or a SELECT) gives, then roll up those that went in."""
    last_id = conn.exec_driver_sql("SELECT COALESCE(MAX(id), 0) FROM usage").scalar_one()
    conn.exec_driver_sql(f"INSERT INTO usage ({', '.join(USAGE_COLUMNS)}) {source} ON CONFLICT DO NOTHING", params)
    inserted: int = conn.exec_driver_sql("SELECT COUNT(*) FROM usage WHERE id > ?", (last_id,)).scalar_one()
    if inserted != count:
        # some were duplicates: roll up exactly the rows that went in (BEGIN IMMEDIATE made this
        # transaction the only writer, so every id above last_id is ours)
        rollups = rollups_of(conn.exec_driver_sql(
            f"SELECT {', '.join(USAGE_COLUMNS)} FROM usage WHERE id > ?", (last_id,)
        ).all())
    _fold_into_rollups(conn, rollups)
    return inserted


def _insert_usage_pg(conn: Connection, rows: Sequence[tuple], rollups: Rollups) -> int:
    """Writers insert side by side: RETURNING names exactly the rows this one added, and taking
    the keys in one order (request_id, attempt) keeps two overlapping batches from deadlocking."""
    columns = ", ".join(USAGE_COLUMNS)
    select, params = _pg_unnest(_PG_TYPES, rows)
    added = conn.exec_driver_sql(
        f"INSERT INTO usage ({columns}) {select} AS u({columns}) ORDER BY request_id, attempt "
        f"ON CONFLICT DO NOTHING RETURNING {columns}",
        params,
    ).all()
    _fold_into_rollups(conn, rollups if len(added) == len(rows) else rollups_of(added))
    return len(added)


def _group_sums(rows: Sequence[tuple]) -> list:
    """One roll-up group of usage rows: the _ROLLUP_SUMS, then latency and TTFT histograms.
    Column-wise, so the loops run in C (sum, Counter): the fold is a third of what an import does
    per row."""
    (_ts, _model, _provider, _segment, _arm, latency, ttft, tokens_in, tokens_out, cost, success, _kind,
     quality, _request_id, _attempt, _client_key) = zip(*rows, strict=True)
    if None in latency:
        latency = tuple(value for value in latency if value is not None)
    ttft_samples = [value for value in ttft if value is not None]
    scores = [value for value in quality if value is not None]
    return [len(rows), sum(success), sum(tokens_in), sum(tokens_out), sum(filter(None, cost), 0.0), sum(latency, 0.0),
            sum(scores, 0.0), len(scores), len(latency), Counter(map(histogram.bucket_of, latency)),
            Counter(map(histogram.bucket_of, ttft_samples))]


def merge_group(groups: dict[tuple, list], key: tuple, group: Sequence) -> None:
    """Add one roll-up group (its sums, then latency and TTFT histograms as dicts) into groups[key].
    Migration 0007 merges groups of the 8 sums roll-ups had then, so the count is the group's."""
    sums = len(group) - 2
    into = groups.get(key)
    if into is None:
        groups[key] = [*group[:sums], dict(group[sums]), dict(group[sums + 1])]
        return
    for index in range(sums):
        into[index] += group[index]
    histogram.merge(into[sums], group[sums])
    histogram.merge(into[sums + 1], group[sums + 1])


def rollups_of(rows: Iterable[tuple]) -> Rollups:
    """Usage rows (USAGE_COLUMNS order) summed per hour and per day, as `_group_sums`."""
    by_hour: dict[tuple, list[tuple]] = {}
    for row in rows:
        ts = row[0]
        key = ((ts if isinstance(ts, str) else sql_ts(ts))[:13], row[1], row[2], row[3] or "", row[4])
        group = by_hour.get(key)
        if group is None:
            by_hour[key] = [row]
        else:
            group.append(row)
    hourly = {(key[0] + ":00:00.000000", *key[1:]): _group_sums(group) for key, group in by_hour.items()}
    daily: dict[tuple, list] = {}
    for key in sorted(hourly):  # hour by hour, as migration 0007 summed them: the same float sums
        merge_group(daily, (key[0][:10] + " 00:00:00.000000", *key[1:]), hourly[key])
    return hourly, daily


def _fold_into_rollups(conn: Connection, rollups: Rollups) -> None:
    """Add groups to the hourly and daily roll-ups; the caller's transaction commits both."""
    hourly, daily = rollups
    if not hourly:
        return
    if conn.dialect.name != "sqlite":
        # One roll-up merger at a time, as SQLite's BEGIN IMMEDIATE gives: two writers reading
        # the same roll-up row and writing back their sums would lose one of them.
        conn.exec_driver_sql("SELECT pg_advisory_xact_lock(hashtext('modelctl:usage'))")
    _merge_into(conn, "usage_rollup", "hour", hourly)
    _merge_into(conn, "usage_rollup_daily", "day", daily)


_KEYS_PER_READ = 500  # 2,500 parameters a read: well under SQLite's limit


def _key_marks(conn: Connection) -> str:
    """One roll-up key's placeholders; PostgreSQL needs the period typed to join a timestamp column."""
    mark = _mark(conn)
    first = mark if conn.dialect.name == "sqlite" else f"CAST({mark} AS timestamp)"
    return f"({first}, {mark}, {mark}, {mark}, {mark})"


def _merge_into(conn: Connection, table: str, period: str, groups: dict[tuple, list]) -> None:
    """Add groups keyed (period start as sql_ts text, model, provider, segment, arm) into a roll-up table:
    a read of exactly the rows they touch (by primary key, so a write costs the same however many
    other groups its hour has), then two executemany, no round trip per group."""
    mark = _mark(conn)
    key_columns = (period, *_ROLLUP_KEY[1:])
    existing = {}
    keys = list(groups)
    for start in range(0, len(keys), _KEYS_PER_READ):
        chunk = keys[start:start + _KEYS_PER_READ]
        row_marks = ", ".join([_key_marks(conn)] * len(chunk))
        for row in conn.exec_driver_sql(
            f"WITH k({', '.join(key_columns)}) AS (VALUES {row_marks}) "
            f"SELECT {', '.join(f't.{c}' for c in key_columns + _ROLLUP_SUMS)}, t.latency_hist, t.ttft_hist "
            f"FROM k JOIN {table} t USING ({', '.join(key_columns)})",
            tuple(value for key in chunk for value in key),
        ):
            existing[(row[0] if isinstance(row[0], str) else sql_ts(row[0]), *row[1:5])] = row[5:]
    inserts: list[tuple] = []
    updates: list[tuple] = []
    for key, (calls, ok, tin, tout, cost, lat_sum, q_sum, q_n, lat_n, lat_hist, ttft_hist) in groups.items():
        old = existing.get(key)
        if old is not None:
            calls, ok, tin, tout = calls + old[0], ok + old[1], tin + old[2], tout + old[3]
            cost, lat_sum, q_sum = cost + old[4], lat_sum + old[5], q_sum + old[6]
            q_n, lat_n = q_n + old[7], lat_n + old[8]
            histogram.merge(lat_hist, histogram.loads(old[9]))
            histogram.merge(ttft_hist, histogram.loads(old[10]))
        sums = (calls, ok, tin, tout, cost, lat_sum, q_sum, q_n, lat_n, histogram.dumps(lat_hist),
                histogram.dumps(ttft_hist))
        (updates if old is not None else inserts).append(sums + key if old is not None else key + sums)
    columns = (*_ROLLUP_SUMS, "latency_hist", "ttft_hist")
    if inserts:
        conn.exec_driver_sql(
            f"INSERT INTO {table} ({', '.join(key_columns + columns)}) "
            f"VALUES ({', '.join([mark] * (len(key_columns) + len(columns)))})",
            inserts,
        )
    if updates:
        conn.exec_driver_sql(
            f"UPDATE {table} SET {', '.join(f'{c} = {mark}' for c in columns)} "
            f"WHERE {' AND '.join(f'{c} = {mark}' for c in key_columns)}",
            updates,
        )


def window_start(since: datetime) -> datetime:
    """Roll-ups are hourly, so a window starts on the hour at or before `since`."""
    return hour_of(since)


def _day_key(column: str, dialect: str) -> str:
    return f"substr({column}, 1, 10)" if dialect == "sqlite" else f"to_char({column}, 'YYYY-MM-DD')"


def _rollup_reads(key: str, dialect: str, start: datetime, end: datetime) -> tuple[str, dict[str, str]]:
    """One SELECT over [start, end): whole days from the daily roll-ups, the hours either side of
    them from the hourly ones. Rows: group key, calls, successes, tokens in/out, cost, histograms."""
    first_day = start.replace(hour=0) + (timedelta(days=1) if start.hour else timedelta())
    last_day = end.replace(hour=0)
    if first_day >= last_day:  # no whole day inside: all hours
        first_day = last_day = end
    columns = "calls, successes, tokens_in, tokens_out, cost_usd, latency_hist, ttft_hist"
    day_key = _day_key("day", dialect) if key == "day" else key
    hour_key = _day_key("hour", dialect) if key == "day" else key
    sql = (
        f"SELECT {day_key}, {columns} FROM usage_rollup_daily WHERE day >= :first_day AND day < :last_day "
        f"UNION ALL SELECT {hour_key}, {columns} FROM usage_rollup "
        "WHERE (hour >= :start AND hour < :first_day) OR (hour >= :last_day AND hour < :end)"
    )
    return sql, {"start": sql_ts(start), "first_day": sql_ts(first_day), "last_day": sql_ts(last_day),
                 "end": sql_ts(end)}


def usage_stats(store: Store, *, by: str, since: datetime, until: datetime) -> list[dict[str, Any]]:
    """Calls, success rate, p50/p95 latency, p50 TTFT, tokens and cost per group.

    Sums and merged histograms (percentiles within 1%) of the roll-ups covering the window.
    """
    start, end = window_start(since), hour_of(until) + timedelta(hours=1)
    if by == "key":
        return _stats_rows(_key_groups(store, start, end))
    key = "day" if by == "day" else {"model": "model_id", "provider": "provider", "segment": "segment"}[by]
    sql, params = _rollup_reads(key, store.dialect, start, end)
    groups: dict[str, list] = {}
    merge_dumped = histogram.merge_dumped
    for k, calls, ok, tin, tout, cost, lat, ttft in store.read(sql, params):
        group = groups.get(k)
        if group is None:
            group = groups[k] = [0, 0, 0, 0, 0.0, {}, {}]
        group[0] += calls
        group[1] += ok
        group[2] += tin
        group[3] += tout
        group[4] += cost
        merge_dumped(group[5], lat)
        merge_dumped(group[6], ttft)
    return _stats_rows(groups)


def _key_groups(store: Store, start: datetime, end: datetime) -> dict[str, list]:
    """Groups per client key (as usage_stats folds roll-ups), from the raw rows of [start, end):
    the roll-ups are not kept per key. Rows without a key (the CLI's, imports) group under ""."""
    groups: dict[str, list] = {}
    bucket_of = histogram.bucket_of
    for key, latency, ttft, success, tin, tout, cost in store.read(
        "SELECT client_key, latency_ms, ttft_ms, success, tokens_in, tokens_out, cost_usd FROM usage "
        "WHERE ts >= :start AND ts < :end", {"start": sql_ts(start), "end": sql_ts(end)},
    ):
        group = groups.get(key or "")
        if group is None:
            group = groups[key or ""] = [0, 0, 0, 0, 0.0, {}, {}]
        group[0] += 1
        group[1] += bool(success)
        group[2] += tin
        group[3] += tout
        group[4] += cost or 0.0
        lat_bucket = str(bucket_of(latency))
        group[5][lat_bucket] = group[5].get(lat_bucket, 0) + 1
        if ttft is not None:
            ttft_bucket = str(bucket_of(ttft))
            group[6][ttft_bucket] = group[6].get(ttft_bucket, 0) + 1
    return groups


def _stats_rows(groups: dict[str, list]) -> list[dict[str, Any]]:
    """One row per group [calls, successes, tokens in, tokens out, cost, latency and TTFT
    histograms keyed by bucket as text], sorted by key."""
    out = []
    for k in sorted(groups):
        calls, ok, tin, tout, cost, lat_hist, ttft_hist = groups[k]
        lat_hist, ttft_hist = histogram.int_keys(lat_hist), histogram.int_keys(ttft_hist)
        out.append({
            "key": k if k != "" else "-",
            "calls": calls,
            "success_rate": round(ok / calls, 4) if calls else None,
            "p50_latency_ms": histogram.percentile(lat_hist, 0.50),
            "p95_latency_ms": histogram.percentile(lat_hist, 0.95),
            "p50_ttft_ms": histogram.percentile(ttft_hist, 0.50),
            "tokens_in": tin,
            "tokens_out": tout,
            "cost_usd": round(float(cost), 6),
        })
    return out


def model_measurements(store: Store, model_id: str) -> dict[str, Any]:
    """What all recorded calls of one model measured (control arm and others alike)."""
    rows = store.read(
        f"SELECT {', '.join(_ROLLUP_SUMS)}, latency_hist, ttft_hist FROM usage_rollup_daily WHERE model_id = :m",
        {"m": model_id},
    )
    calls = ok = 0
    cost = lat_sum = q_sum = 0.0
    q_n = lat_n = 0
    lat_hist: dict[int, int] = {}
    ttft_hist: dict[int, int] = {}
    for r_calls, r_ok, _tin, _tout, r_cost, r_lat, r_q, r_qn, r_lat_n, r_lat_hist, r_ttft_hist in rows:
        calls, ok, cost = calls + r_calls, ok + r_ok, cost + r_cost
        lat_sum, q_sum, q_n, lat_n = lat_sum + r_lat, q_sum + r_q, q_n + r_qn, lat_n + r_lat_n
        histogram.merge(lat_hist, histogram.loads(r_lat_hist))
        histogram.merge(ttft_hist, histogram.loads(r_ttft_hist))
    return {
        "calls": calls,
        "success_rate": round(ok / calls, 4) if calls else None,
        "mean_latency_ms": round(lat_sum / lat_n, 1) if lat_n else None,
        "p95_latency_ms": histogram.percentile(lat_hist, 0.95),
        "p50_ttft_ms": histogram.percentile(ttft_hist, 0.50),
        "mean_quality": round(q_sum / q_n, 4) if q_n else None,
        "cost_usd": round(cost, 6) if calls else None,
    }
