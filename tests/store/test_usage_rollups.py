"""Raw usage and its roll-ups agree, whatever order and duplication the rows come in."""

from __future__ import annotations

import random
from datetime import datetime, timedelta

from modelctl.core.usage import UsageRecord
from modelctl.services.database import open_database
from modelctl.services.maintenance import check_database
from modelctl.store.usage import insert_usage, usage_stats, usage_tuple

T0 = datetime(2026, 11, 1, 8, 30)


def _rows(n, *, seed=1, request_prefix="r"):
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        rec = UsageRecord(model_id=rng.choice(["a", "b"]), latency_ms=rng.uniform(50, 5000),
                          ttft_ms=rng.uniform(10, 400), tokens_in=rng.randint(1, 500), tokens_out=rng.randint(1, 900),
                          success=rng.random() < 0.9, segment=rng.choice(["simple", None]),
                          request_id=f"{request_prefix}{i}")
        rows.append(usage_tuple(rec, provider="p", cost_usd=0.001, ts=T0 + timedelta(minutes=7 * i)))
    return rows


def test_duplicates_are_neither_stored_nor_rolled_up(tmp_path):
    store = open_database(str(tmp_path / "u.db"))
    rows = _rows(500)
    with store.write() as conn:
        assert insert_usage(conn, rows[:300]) == 300
    with store.write() as conn:
        assert insert_usage(conn, rows[200:]) == 200  # 100 overlap
    assert store.read("SELECT COUNT(*) FROM usage") == [(500,)]
    assert check_database(store)["ok"]
    stats = {r["key"]: r for r in usage_stats(store, by="model", since=datetime(2000, 1, 1),
                                              until=T0 + timedelta(days=30))}
    raw = dict(store.read("SELECT model_id, COUNT(*) FROM usage GROUP BY model_id"))
    assert {k: v["calls"] for k, v in stats.items()} == raw
    successes = dict(store.read("SELECT model_id, SUM(success) FROM usage GROUP BY model_id"))
    for key, row in stats.items():
        assert row["success_rate"] == round(successes[key] / raw[key], 4)


def test_stats_windows_count_whole_hours(tmp_path):
    store = open_database(str(tmp_path / "w.db"))
    with store.write() as conn:
        insert_usage(conn, _rows(100))  # one row every 7 minutes from 08:30
    since = T0 + timedelta(hours=2, minutes=10)  # 10:40 -> counted from 10:00
    got = sum(r["calls"] for r in usage_stats(store, by="model", since=since, until=T0 + timedelta(days=1)))
    want = store.read("SELECT COUNT(*) FROM usage WHERE ts >= '2026-11-01 10:00:00.000000'")[0][0]
    assert got == want


def test_stats_by_day_and_segment(tmp_path):
    store = open_database(str(tmp_path / "d.db"))
    with store.write() as conn:
        insert_usage(conn, _rows(400))
    by_day = usage_stats(store, by="day", since=datetime(2000, 1, 1), until=T0 + timedelta(days=30))
    days = {(T0 + timedelta(minutes=7 * i)).strftime("%Y-%m-%d") for i in range(400)}
    assert [r["key"] for r in by_day] == sorted(days)
    by_segment = {r["key"] for r in usage_stats(store, by="segment", since=datetime(2000, 1, 1),
                                                until=T0 + timedelta(days=30))}
    assert by_segment == {"simple", "-"}


def _spread_rows(n, *, start, step):
    rng = random.Random(3)
    return [
        usage_tuple(UsageRecord(model_id=rng.choice(["a", "b", "c"]), latency_ms=rng.lognormvariate(7, 0.6),
                                ttft_ms=rng.choice([None, rng.uniform(10, 400)]), tokens_in=rng.randint(1, 500),
                                tokens_out=rng.randint(1, 900), success=rng.random() < 0.9,
                                segment=rng.choice(["simple", "technical", None]), request_id=f"s{i}"),
                    provider="p", cost_usd=0.001 * rng.randint(1, 9), ts=start + step * i)
        for i in range(n)
    ]


def test_stats_over_days_and_edge_hours_equal_stats_of_the_raw_rows(db_url):
    """Whole days come from the daily roll-ups, the hours either side from the hourly ones."""
    from modelctl.core import histogram

    store = open_database(db_url)
    rows = _spread_rows(6000, start=datetime(2026, 10, 27, 5, 0), step=timedelta(minutes=2, seconds=1))
    for first in range(0, 6000, 1000):  # several transactions: roll-up rows are merged into, too
        with store.write() as conn:
            insert_usage(conn, rows[first:first + 1000])
    raw = store.read("SELECT ts, model_id, success, tokens_in, tokens_out, cost_usd, latency_ms FROM usage")
    for since, until in [(datetime(2026, 10, 28, 10, 40), datetime(2026, 11, 2, 14, 20)),  # days and edges
                         (datetime(2026, 10, 28, 0, 0), datetime(2026, 10, 30, 23, 59)),   # whole days only
                         (datetime(2026, 10, 29, 3, 10), datetime(2026, 10, 29, 20, 0)),   # within one day
                         (datetime(2026, 10, 29, 22, 0), datetime(2026, 10, 30, 2, 0))]:  # across one midnight
        start, end = str(since.replace(minute=0)), str(until.replace(minute=0) + timedelta(hours=1))
        for by, key_of in [("model", lambda row: row[1]), ("day", lambda row: row[0][:10])]:
            want: dict[str, list] = {}
            for row in raw:
                if start <= row[0] < end:
                    group = want.setdefault(key_of(row), [0, 0, 0, 0, 0.0, []])
                    for index, value in enumerate((1, *row[2:6])):
                        group[index] += value
                    group[5].append(row[6])
            got = {r["key"]: r for r in usage_stats(store, by=by, since=since, until=until)}
            assert sorted(got) == sorted(want)
            for key, (calls, ok, tin, tout, cost, latencies) in want.items():
                hist = histogram.from_values(latencies)
                assert (got[key]["calls"], got[key]["tokens_in"], got[key]["tokens_out"]) == (calls, tin, tout)
                assert got[key]["success_rate"] == round(ok / calls, 4)
                assert got[key]["cost_usd"] == round(cost, 6)
                assert got[key]["p50_latency_ms"] == histogram.percentile(hist, 0.5)
                assert got[key]["p95_latency_ms"] == histogram.percentile(hist, 0.95)


def test_daily_roll_ups_are_backfilled_from_hourly_ones_on_upgrade(db_url):
    """A database from before the daily level (some days already compacted) gets the same daily
    roll-ups the fold would have written."""
    from modelctl.store.maintenance import compact_rollups

    store = open_database(db_url)
    with store.write() as conn:
        insert_usage(conn, _spread_rows(3000, start=datetime(2026, 10, 27, 5, 0), step=timedelta(minutes=3)))
    with store.write() as conn:
        compact_rollups(conn, day=datetime(2026, 10, 28).date())
    folded = sorted(store.read("SELECT * FROM usage_rollup_daily"))
    assert len(folded) > 20
    from alembic import command

    from modelctl.store.migrate import _alembic_config

    with store.engine.connect() as conn:  # back to the schema before 0007, hourly roll-ups only
        command.downgrade(_alembic_config(conn), "0006")
        conn.commit()
    assert store.schema_version() == "0006"
    store.dispose()
    upgraded = open_database(db_url)
    assert sorted(upgraded.read("SELECT * FROM usage_rollup_daily")) == folded
    assert check_database(upgraded)["ok"]


def test_db_check_fails_when_the_daily_roll_ups_disagree(tmp_path):
    store = open_database(str(tmp_path / "bad.db"))
    with store.write() as conn:
        insert_usage(conn, _rows(50))
        conn.exec_driver_sql("UPDATE usage_rollup_daily SET calls = calls + 1 "
                             "WHERE rowid = (SELECT MIN(rowid) FROM usage_rollup_daily)")
    report = check_database(store)
    assert not report["ok"]
    assert report["checks"]["usage roll-ups"] == "ok"
    assert report["checks"]["daily usage roll-ups"] == "51 calls rolled up but 50 usage rows and 0 pruned"


def test_a_call_with_no_latency_counts_as_a_call_but_not_as_a_latency_sample(tmp_path):
    """A call that reached no server is recorded with a NULL latency (services/run.py): calls and
    success rates count it; means and percentiles of latency do not, before and after compaction."""
    from modelctl.services.maintenance import prune_usage
    from modelctl.store.routing import mean_latencies
    from modelctl.store.usage import model_measurements

    store = open_database(str(tmp_path / "n.db"))
    rows = []
    for i in range(40):
        rec = UsageRecord(model_id="a", latency_ms=100.0 if i % 2 else 2000.0, success=bool(i % 2),
                          error_kind=None if i % 2 else "connection", request_id=f"n{i}")
        rows.append(usage_tuple(rec, provider="p", cost_usd=None, ts=T0 + timedelta(minutes=i), measured=bool(i % 2)))
    with store.write() as conn:
        insert_usage(conn, rows)
    assert store.read("SELECT COUNT(*), COUNT(latency_ms) FROM usage") == [(40, 20)]
    assert mean_latencies(store, since=T0 - timedelta(hours=1), min_calls=20) == {"a": 100.0}
    assert mean_latencies(store, since=T0 - timedelta(hours=1), min_calls=21) == {}
    measured = model_measurements(store, "a")
    assert measured["calls"] == 40 and measured["success_rate"] == 0.5
    assert measured["mean_latency_ms"] == 100.0 and 99 <= measured["p95_latency_ms"] <= 101
    assert check_database(store)["ok"]
    prune_usage(store, older_than="1d")  # compacts the hourly roll-ups of the pruned days
    assert model_measurements(store, "a")["mean_latency_ms"] == 100.0
