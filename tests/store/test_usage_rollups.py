"""Raw usage and its roll-ups agree, whatever order and duplication the rows come in."""

from __future__ import annotations

import random
from datetime import datetime, timedelta

from modelctl.core.usage import UsageRecord
from modelctl.services.maintenance import check_database
from modelctl.store.db import open_store
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
    store = open_store(str(tmp_path / "u.db"))
    rows = _rows(500)
    with store.write() as conn:
        assert insert_usage(conn, rows[:300]) == 300
    with store.write() as conn:
        assert insert_usage(conn, rows[200:]) == 200  # 100 overlap
    assert store.read("SELECT COUNT(*) FROM usage") == [(500,)]
    assert check_database(store)["ok"]
    stats = {r["key"]: r for r in usage_stats(store, by="model", since=datetime(2000, 1, 1), until=T0 + timedelta(days=30))}
    raw = dict(store.read("SELECT model_id, COUNT(*) FROM usage GROUP BY model_id"))
    assert {k: v["calls"] for k, v in stats.items()} == raw
    successes = dict(store.read("SELECT model_id, SUM(success) FROM usage GROUP BY model_id"))
    for key, row in stats.items():
        assert row["success_rate"] == round(successes[key] / raw[key], 4)


def test_stats_windows_count_whole_hours(tmp_path):
    store = open_store(str(tmp_path / "w.db"))
    with store.write() as conn:
        insert_usage(conn, _rows(100))  # one row every 7 minutes from 08:30
    since = T0 + timedelta(hours=2, minutes=10)  # 10:40 -> counted from 10:00
    got = sum(r["calls"] for r in usage_stats(store, by="model", since=since, until=T0 + timedelta(days=1)))
    want = store.read("SELECT COUNT(*) FROM usage WHERE ts >= '2026-11-01 10:00:00.000000'")[0][0]
    assert got == want


def test_stats_by_day_and_segment(tmp_path):
    store = open_store(str(tmp_path / "d.db"))
    with store.write() as conn:
        insert_usage(conn, _rows(400))
    by_day = usage_stats(store, by="day", since=datetime(2000, 1, 1), until=T0 + timedelta(days=30))
    assert [r["key"] for r in by_day] == sorted({(T0 + timedelta(minutes=7 * i)).strftime("%Y-%m-%d") for i in range(400)})
    by_segment = {r["key"] for r in usage_stats(store, by="segment", since=datetime(2000, 1, 1), until=T0 + timedelta(days=30))}
    assert by_segment == {"simple", "-"}
