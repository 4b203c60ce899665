"""The aggregates a Prometheus scrape reads (services/metrics.py), each one query over the tables
the other commands write. Rows come back as tuples in the documented column order, sorted so the
exposition is stable."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from modelctl.store.db import Store, sql_ts


def calls_by_arm(store: Store) -> list[tuple]:
    """(model_id, provider, segment, arm, calls, successes) over the daily roll-ups."""
    return store.read(
        "SELECT model_id, provider, segment, arm, SUM(calls), SUM(successes) FROM usage_rollup_daily "
        "GROUP BY model_id, provider, segment, arm ORDER BY 1, 2, 3, 4"
    )


def daily_rollups(store: Store) -> list[tuple]:
    """(model_id, provider, tokens_in, tokens_out, cost_usd, latency_sum_ms, latency_hist, ttft_hist)
    for every daily roll-up row, by model and provider."""
    return store.read(
        "SELECT model_id, provider, tokens_in, tokens_out, cost_usd, latency_sum_ms, latency_hist, ttft_hist "
        "FROM usage_rollup_daily ORDER BY model_id, provider"
    )


def attempts_since(store: Store, since: datetime) -> list[tuple]:
    """(segment, model_id, first attempts, later attempts) of usage rows since `since`, shadow copies
    and judge calls left out (no routed request made them); found through the ts index."""
    return store.read(
        "SELECT segment, model_id, SUM(CASE WHEN attempt = 0 THEN 1 ELSE 0 END), "
        "SUM(CASE WHEN attempt > 0 THEN 1 ELSE 0 END) FROM usage WHERE ts >= :since AND arm NOT IN ('shadow', 'judge') "
        "GROUP BY segment, model_id ORDER BY 1, 2",
        {"since": sql_ts(since)},
    )


def provider_health(store: Store) -> list[tuple]:
    """(name, health, consecutive_failures, cooldown_until) by provider name."""
    return store.read("SELECT name, health, consecutive_failures, cooldown_until FROM provider ORDER BY name")


def models_by_status(store: Store) -> list[tuple]:
    """(provider, status, models)."""
    return store.read("SELECT provider, status, COUNT(*) FROM model GROUP BY provider, status ORDER BY 1, 2")


def discovery_totals(store: Store) -> list[tuple]:
    """(provider, runs, failed runs, new models, models found by the last run, last run's ts)."""
    return store.read(
        "SELECT r.provider, COUNT(*), SUM(CASE WHEN r.error IS NULL THEN 0 ELSE 1 END), SUM(r.new), "
        "(SELECT l.found FROM discovery_run l WHERE l.provider = r.provider ORDER BY l.id DESC LIMIT 1), "
        "MAX(r.ts) FROM discovery_run r GROUP BY r.provider ORDER BY 1"
    )


def rollouts_by_phase(store: Store) -> list[tuple]:
    """(phase, rollouts)."""
    return store.read("SELECT phase, COUNT(*) FROM rollout GROUP BY phase ORDER BY 1")


def active_traffic(store: Store) -> list[tuple]:
    """(candidate_id, phase, highest traffic_pct) of rollouts not yet finished."""
    return store.read(
        "SELECT candidate_id, phase, MAX(traffic_pct) FROM rollout "
        "WHERE phase IN ('discovered', 'shadow', 'canary') GROUP BY candidate_id, phase ORDER BY 1"
    )


def gate_verdicts(store: Store) -> list[tuple]:
    """(candidate_id, phase, verdict, gate results)."""
    return store.read(
        "SELECT r.candidate_id, g.phase, g.verdict, COUNT(*) FROM gate_result g "
        "JOIN rollout r ON r.id = g.rollout_id GROUP BY r.candidate_id, g.phase, g.verdict ORDER BY 1, 2, 3"
    )


def audit_of(store: Store, actions: Sequence[str]) -> list[tuple]:
    """(action, target, before, after) of every audit entry with one of `actions`."""
    marks = ", ".join(f":a{i}" for i in range(len(actions)))
    return store.read(
        f"SELECT action, target, before, after FROM audit WHERE action IN ({marks})",
        {f"a{i}": action for i, action in enumerate(actions)},
    )
