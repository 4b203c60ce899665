"""Rollout rows as routing and the gates see them: arms, chain substitution, window aggregates."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from modelctl.core.gates import ArmSample, LatencyHistogram
from modelctl.errors import StoreError
from modelctl.services.database import open_database
from modelctl.services.routing import load_routing_config, routing_state
from modelctl.store import rollouts as repo
from modelctl.store.usage import insert_usage

NOW = datetime(2026, 12, 1)


def _rollout(store, *, candidate, incumbent, segments, phase, decided_at=None):
    with store.write() as conn:
        rollout_id = repo.insert_rollout(conn, candidate_id=candidate, incumbent_id=incumbent, segments=segments,
                                         phase=phase, traffic_pct=5.0, salt="s4lt", now=NOW, reason="test")
        if decided_at:
            repo.update_rollout(conn, rollout_id, expected_phase=phase, phase=phase, traffic_pct=100.0,
                                phase_started_at=NOW, decided_at=decided_at, reason="test")
    return rollout_id


def test_the_migration_seeds_an_expired_tick_lease():
    store = open_database()
    holder, expires = repo.lease_holder(store)
    assert holder is None and expires < NOW
    with store.write() as conn:
        assert repo.take_lease(conn, holder="a", now=NOW, until=NOW + timedelta(minutes=10))
        assert not repo.take_lease(conn, holder="b", now=NOW + timedelta(minutes=9), until=NOW)
        repo.release_lease(conn, holder="a", now=NOW)
        assert repo.take_lease(conn, holder="b", now=NOW, until=NOW + timedelta(minutes=10))


@pytest.mark.usefixtures("original_chains")
def test_routing_state_carries_shadow_and_canary_arms_and_full_substitutions():
    store = open_database()
    _rollout(store, candidate="claude-opus-5-5", incumbent="gpt-4o-2024-08-06", segments=("research",), phase="shadow")
    _rollout(store, candidate="gpt-6.1-sol", incumbent="claude-3-5-sonnet-20241022", segments=("technical",),
             phase="full", decided_at=NOW)
    _rollout(store, candidate="gpt-6-luna", incumbent="gpt-3.5-turbo-0125", segments=("simple",), phase="rolled_back")
    state = routing_state(store, load_routing_config(), now=NOW)
    assert [(a.candidate_id, a.phase, a.segments, a.traffic_pct, a.salt) for a in state.rollouts] == [
        ("claude-opus-5-5", "shadow", frozenset({"research"}), 5.0, "s4lt")]
    technical = state.policies["technical"].chain
    assert technical[0] == "gpt-6.1-sol" and technical.count("gpt-6.1-sol") == 1
    assert "claude-3-5-sonnet-20241022" not in technical
    assert "claude-3-5-sonnet-20241022" in state.policies["research"].chain  # other segments keep it
    assert state.policies["simple"].chain[0] == "gpt-3.5-turbo-0125"  # rolled back: no substitution


def test_substitutions_apply_in_the_order_rollouts_finished():
    later = repo.Rollout(2, "c", "b", ("s",), "full", 100.0, "x", NOW, NOW, NOW + timedelta(days=1), "")
    earlier = repo.Rollout(1, "b", "a", ("s",), "full", 100.0, "x", NOW, NOW, NOW, "")
    assert repo.substitute(("a", "z"), "s", [earlier, later]) == ("c", "z")
    assert repo.substitute(("a", "z"), "other", [earlier, later]) == ("a", "z")


def _usage(n, *, model_id, arm, segment="technical", start=NOW, latency=lambda i: 100.0 + i, success=lambda i: True):
    return [
        ((start + timedelta(seconds=i)).strftime("%Y-%m-%d %H:%M:%S.%f"), model_id, "openai", segment, arm,
         latency(i), None, 0, 0, 0.001 * (i % 3), success(i), None, None, f"{model_id}-{arm}-{segment}-{i}", 0, None)
        for i in range(n)
    ]


def test_arm_samples_count_only_the_arm_window_and_segment_each_is_for():
    store = open_database()
    with store.write() as conn:
        insert_usage(conn, _usage(50, model_id="m1", arm="canary", success=lambda i: i % 5 != 0))
        insert_usage(conn, _usage(7, model_id="m1", arm="control"))
        insert_usage(conn, _usage(9, model_id="m1", arm="canary", segment="simple"))
        insert_usage(conn, _usage(4, model_id="m1", arm="canary", segment="research"))
        insert_usage(conn, _usage(11, model_id="m1", arm="canary", start=NOW - timedelta(hours=1)))
    samples = repo.arm_samples(store, model_id="m1", arm="canary", segments=("technical", "simple", "multimedia"),
                               start=NOW, end=NOW + timedelta(hours=1), latency_sample=1000)
    assert list(samples) == ["technical", "simple", "multimedia"]
    technical = samples["technical"]
    expected = ArmSample.from_calls(
        successes=[i % 5 != 0 for i in range(50)],
        latencies_ms=[100.0 + i for i in range(50) if i % 5 != 0],
        costs=[0.001 * (i % 3) for i in range(50) if i % 5 != 0],
    )
    assert (technical.calls, technical.successes, technical.latency) == (
        expected.calls, expected.successes, expected.latency)
    # Found 3 of issue 16: the cost gate reads priced successful calls, never a failure's cost.
    assert technical.cost.count == 40 and technical.cost.total == pytest.approx(expected.cost.total)
    assert (samples["simple"].calls, samples["simple"].latency.total) == (9, 9)
    assert samples["multimedia"] == ArmSample()


def test_rescue_and_judge_calls_are_in_neither_arm():
    """Found 4 of issue 16: the incumbent's rescue of a failed canary call is not a control call."""
    store = open_database()
    with store.write() as conn:
        insert_usage(conn, _usage(30, model_id="inc", arm="control"))
        insert_usage(conn, _usage(6, model_id="inc", arm="rescue", latency=lambda i: 9000.0))
        insert_usage(conn, _usage(5, model_id="judge", arm="judge"))
        insert_usage(conn, _usage(20, model_id="cand", arm="canary"))
    window = {"segments": ("technical",), "start": NOW, "end": NOW + timedelta(hours=1), "latency_sample": 1000}
    control = repo.arm_samples(store, model_id="inc", arm="control", **window)["technical"]
    candidate = repo.arm_samples(store, model_id="cand", arm="canary", **window)["technical"]
    assert (control.calls, candidate.calls) == (30, 20)
    assert control.latency == ArmSample.from_calls(successes=[True] * 30,
                                                   latencies_ms=[100.0 + i for i in range(30)]).latency


def test_the_gates_sql_buckets_latencies_as_core_histogram_does():
    from modelctl.core import histogram

    values = [0.2, 0.999, 1.0, 1.01, 1.02, 1.03, 99.0, 100.0, 1234.5, 7000.0, 60_000.0]
    store = open_database()
    with store.write() as conn:
        insert_usage(conn, _usage(len(values), model_id="m1", arm="shadow", latency=lambda i: values[i]))
    sample = repo.arm_samples(store, model_id="m1", arm="shadow", segments=("technical",), start=NOW,
                              end=NOW + timedelta(hours=1), latency_sample=1000)["technical"]
    counts = {}
    for value in values:
        counts[histogram.bucket_of(value)] = counts.get(histogram.bucket_of(value), 0) + 1
    assert sample.latency == LatencyHistogram.from_counts(counts)


def test_without_ln_in_sql_latencies_are_read_and_sampled(monkeypatch):
    store = open_database()
    with store.write() as conn:
        insert_usage(conn, _usage(1000, model_id="m1", arm="shadow", latency=lambda i: 50.0 + (i * 37) % 400))
    full = repo.arm_samples(store, model_id="m1", arm="shadow", segments=("technical",), start=NOW,
                            end=NOW + timedelta(hours=1), latency_sample=1000)["technical"]
    read = store.read

    def no_ln(sql, params=None):
        if "ln(" in sql:
            raise StoreError("database error: no such function: ln")
        return read(sql, params)

    monkeypatch.setattr(store, "read", no_ln)
    same = repo.arm_samples(store, model_id="m1", arm="shadow", segments=("technical",), start=NOW,
                            end=NOW + timedelta(hours=1), latency_sample=1000)["technical"]
    assert same.latency == full.latency
    sampled = repo.arm_samples(store, model_id="m1", arm="shadow", segments=("technical",), start=NOW,
                               end=NOW + timedelta(hours=1), latency_sample=100)["technical"]
    assert sampled.latency.total == 100 and sampled.calls == 1000
