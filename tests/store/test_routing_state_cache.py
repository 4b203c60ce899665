"""The routing state is read once per process and re-read as soon as something routing reads changes,
in this process or any other; a usage row, which a server writes per call, is not such a change."""

from datetime import timedelta

import pytest

from modelctl import clock
from modelctl.core.usage import UsageRecord
from modelctl.errors import RateLimited
from modelctl.services import routing
from modelctl.services.catalog import set_status
from modelctl.services.database import open_database
from modelctl.services.health import health_policy, record_outcome
from modelctl.services.routing import cached_routing_state, load_routing_config
from modelctl.store.rollouts import insert_rollout
from modelctl.store.routing import save_refinement_orders
from modelctl.store.scores import insert_scores
from modelctl.store.usage import insert_usage, usage_tuple

MODEL = "gpt-4o-2024-08-06"


def _usage(store, *, latency_ms=100.0, n=1, prefix="r"):
    rows = [usage_tuple(UsageRecord(model_id=MODEL, latency_ms=latency_ms, ttft_ms=10, tokens_in=5, tokens_out=5,
                                    success=True, segment="simple", request_id=f"{prefix}{i}", arm="control"),
                        provider="openai", cost_usd=0.001, ts=clock.now()) for i in range(n)]
    with store.write() as conn:
        insert_usage(conn, rows)


def _outcome(store, error, *, model_id=MODEL):
    with store.write() as conn:
        record_outcome(conn, policy=health_policy(), provider="openai", model_id=model_id, error=error,
                       now=clock.now(), arm="control")


def test_state_is_reused_until_the_catalog_changes(db_url):
    store = open_database(db_url)
    config, now = load_routing_config(), clock.now()
    first = cached_routing_state(store, config, now=now)
    assert cached_routing_state(store, config, now=now) is first
    set_status(store, MODEL, "disabled")
    second = cached_routing_state(store, config, now=now)
    assert second is not first and second.models[MODEL].status == "disabled"


def test_usage_rows_and_successful_calls_keep_the_state(db_url):
    store = open_database(db_url)
    config, now = load_routing_config(), clock.now()
    first = cached_routing_state(store, config, now=now)
    _usage(store)
    _outcome(store, None)  # a success moves the provider's last_check, which routing never reads
    assert cached_routing_state(store, config, now=now) is first


def test_a_change_by_another_connection_is_seen_at_once(db_url):
    """Another process (or host, on PostgreSQL) rests a model, scores it, starts a rollout."""
    store, other = open_database(db_url), open_database(db_url)
    config, now = load_routing_config(), clock.now()
    cached_routing_state(store, config, now=now)
    _outcome(other, RateLimited("slow down", retry_after=30))
    assert MODEL in cached_routing_state(store, config, now=now).model_cooldowns
    _outcome(other, None)
    assert MODEL not in cached_routing_state(store, config, now=now).model_cooldowns
    with other.write() as conn:
        insert_scores(conn, [{"ts": "2026-01-01 00:00:00.000000", "model_id": MODEL, "segment": "simple",
                              "score": 0.9, "source": "test"}])
    assert ("simple", MODEL) in cached_routing_state(store, config, now=now).quality
    with other.write() as conn:
        insert_rollout(conn, candidate_id="gpt-5.4-mini", incumbent_id=MODEL, segments=("simple",), phase="shadow",
                       traffic_pct=0.0, salt="s", now=now, reason="test")
    assert cached_routing_state(store, config, now=now).rollouts
    state = cached_routing_state(store, config, now=now)
    with other.write() as conn:
        save_refinement_orders(conn, {"json": ["b", "a"]}, now=now)
    assert cached_routing_state(store, config, now=now) is not state


def test_measured_latency_is_refreshed_without_a_routing_change(db_url, monkeypatch):
    store = open_database(db_url)
    config, now = load_routing_config(), clock.now()
    assert MODEL not in cached_routing_state(store, config, now=now).latency
    _usage(store, latency_ms=250.0, n=routing.MIN_LATENCY_SAMPLES)
    assert MODEL not in cached_routing_state(store, config, now=now).latency  # not yet: at most this stale
    monkeypatch.setattr(routing, "LATENCY_REFRESH_S", 0.0)
    assert cached_routing_state(store, config, now=now).latency[MODEL] == pytest.approx(250.0)


def test_setting_a_key_is_seen_without_a_database_change(tmp_path, monkeypatch):
    store = open_database(str(tmp_path / "k.db"))
    config, now = load_routing_config(), clock.now()
    assert not cached_routing_state(store, config, now=now).providers["openai"].key_present
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    assert cached_routing_state(store, config, now=now).providers["openai"].key_present


def test_another_store_never_gets_this_ones_state(tmp_path):
    config, now = load_routing_config(), clock.now()
    a = open_database(str(tmp_path / "a.db"))
    b = open_database(str(tmp_path / "b.db"))
    set_status(b, MODEL, "disabled")
    assert cached_routing_state(a, config, now=now).models[MODEL].status == "stable"
    assert cached_routing_state(b, config, now=now).models[MODEL].status == "disabled"


def test_the_hour_turning_rereads_the_state(tmp_path):
    store = open_database(str(tmp_path / "h.db"))
    config, now = load_routing_config(), clock.now()
    first = cached_routing_state(store, config, now=now)
    assert cached_routing_state(store, config, now=now + timedelta(hours=1)) is not first
