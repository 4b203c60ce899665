"""Scores written onto served attempts keep the roll-ups equal to the raw rows, on both backends."""

from __future__ import annotations

import random
from datetime import datetime, timedelta

from modelctl.core.usage import UsageRecord
from modelctl.store.db import open_store
from modelctl.store.feedback import score_served_attempt
from modelctl.store.maintenance import compact_rollups
from modelctl.store.usage import insert_usage, usage_tuple

T0 = datetime(2026, 11, 1, 8, 30)


def _requests(n, *, seed=3):
    """n requests, each a failed attempt, an answer (control or canary) and a shadow call."""
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        ts = T0 + timedelta(minutes=11 * i)
        answered_by = rng.choice(["a", "b"])
        answered_on = rng.choice(["control", "canary"])
        calls = [("b", "control", False), (answered_by, answered_on, True), ("c", "shadow", True)]
        for attempt, (model, arm, ok) in enumerate(calls):
            record = UsageRecord(model_id=model, latency_ms=100.0, success=ok, segment=rng.choice(["simple", None]),
                                 request_id=f"r{i}", arm=arm, attempt=attempt)
            rows.append(usage_tuple(record, provider="p", cost_usd=0.001, ts=ts))
    return rows


def _quality_by_group(store, table):
    period = "hour" if table == "usage_rollup" else "day"
    return {tuple(row[:5]): (round(row[5], 9), row[6]) for row in store.read(
        f"SELECT {period}, model_id, provider, segment, arm, quality_sum, quality_n FROM {table} WHERE quality_n > 0")}


def _raw_quality(store, period_of):
    groups: dict[tuple, list] = {}
    for ts, model, provider, segment, arm, quality in store.read(
            "SELECT ts, model_id, provider, segment, arm, quality FROM usage WHERE quality IS NOT NULL"):
        group = groups.setdefault((period_of(str(ts)), model, provider, segment or "", arm), [0.0, 0])
        group[0] += quality
        group[1] += 1
    return {key: (round(s, 9), n) for key, (s, n) in groups.items()}


def test_scores_and_rescores_keep_rollups_equal_to_raw_rows(db_url):
    store = open_store(db_url)
    with store.write() as conn:
        insert_usage(conn, _requests(120))
    rng = random.Random(5)
    for _ in range(300):  # many requests scored more than once
        with store.write() as conn:
            served = score_served_attempt(conn, request_id=f"r{rng.randrange(120)}", score=rng.random())
        assert served is not None and served.attempt == 1 and served.arm != "shadow"
    hourly = _raw_quality(store, lambda ts: ts[:13] + ":00:00.000000")
    daily = _raw_quality(store, lambda ts: ts[:10] + " 00:00:00.000000")
    assert _quality_by_group(store, "usage_rollup") == hourly
    assert _quality_by_group(store, "usage_rollup_daily") == daily
    assert store.read("SELECT COUNT(*) FROM usage WHERE quality IS NOT NULL AND arm = 'shadow'") == [(0,)]


def test_a_day_whose_hourly_rollups_were_compacted_is_scored_at_midnight(db_url):
    store = open_store(db_url)
    with store.write() as conn:
        insert_usage(conn, _requests(10))
    with store.write() as conn:
        compact_rollups(conn, day=T0.date())
    with store.write() as conn:
        served = score_served_attempt(conn, request_id="r7", score=0.25)
    midnight = "2026-11-01 00:00:00.000000"
    group = (midnight, served.model_id, "p", served.segment or "", served.arm)
    assert _quality_by_group(store, "usage_rollup") == {group: (0.25, 1)}


def test_a_request_nothing_answered_is_left_alone(db_url):
    store = open_store(db_url)
    with store.write() as conn:
        insert_usage(conn, _requests(2))
    with store.write() as conn:
        assert score_served_attempt(conn, request_id="nope", score=0.5) is None
    assert store.read("SELECT COUNT(*) FROM usage WHERE quality IS NOT NULL") == [(0,)]
