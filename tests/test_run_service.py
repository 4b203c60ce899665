"""The run service below the CLI: rollout arms and shadow calls recorded right, the shadow call made
only by the caller, with a budget of its own; and the rules that turn an outcome into a cooldown."""

from __future__ import annotations

import time
from dataclasses import replace
from datetime import datetime

import pytest

from modelctl.core.routing import Decision
from modelctl.errors import (
    AuthenticationFailed,
    ContextLengthExceeded,
    InvalidRequest,
    ProviderTimeout,
    RateLimited,
)
from modelctl.providers.base import Attachment, ChatRequest
from modelctl.services.database import open_database
from modelctl.services.health import HealthPolicy, provider_settings, record_outcome
from modelctl.services.routing import load_routing_config
from modelctl.services.run import FollowUp, ScoreCall, ShadowCall, answer_down_chain, make_shadow_call
from modelctl.store import catalog as catalog_repo
from tests.fakes.fixtures import point_at_fakes

pytestmark = pytest.mark.usefixtures("sdks_imported")

KEY = "sk-test-service-5c0d7e2a91b84f36"
NOW = datetime(2026, 12, 1, 10, 0, 0)
TWO_FAILURES = HealthPolicy(failure_threshold=2)  # a cooldown after two failures in a row


@pytest.fixture
def env(monkeypatch, fake_openai, fake_anthropic):
    point_at_fakes(monkeypatch, KEY, openai=fake_openai, anthropic=fake_anthropic)
    store = open_database()
    return store, fake_openai, fake_anthropic


def _decision(**changes) -> Decision:
    return replace(Decision(
        model_id="gpt-6-luna", provider="openai", fallback_models=("gpt-4o-2024-08-06",), confidence=0.85,
        estimated_cost=None, estimated_latency=None, query_type="simple", complexity="simple",
        budget_seconds=5.0, segment="simple", reason=(), arm="canary", shadow_model="claude-haiku-5-5",
    ), **changes)


def _serve(store, decision, *, deliver=None):
    return answer_down_chain(
        store, decision, ChatRequest(model_id=decision.model_id, prompt="hi"), request_id="req-1",
        models={spec.model_id: spec for spec in catalog_repo.list_models(store)},
        providers=provider_settings(load_routing_config()["providers"]),
        deadline=time.perf_counter() + decision.budget_seconds, deliver=deliver,
    )


def _rows(store):
    return store.read("SELECT model_id, arm, attempt, success FROM usage WHERE request_id = 'req-1' ORDER BY attempt")


def test_canary_serves_and_hands_back_the_shadow_call(env):
    store, _, fake_anthropic = env
    result = _serve(store, _decision())
    assert result.model_id == "gpt-6-luna" and result.arm == "canary"
    assert fake_anthropic.requests == []  # answer_down_chain never makes the shadow call itself
    call = result.shadow
    assert (call.request.model_id, call.request.stream, call.attempt, call.budget_s) == (
        "claude-haiku-5-5", False, 1, 5.0)
    attempt, answer = make_shadow_call(store, call)
    assert attempt.outcome == "ok" and attempt.arm == "shadow" and answer == fake_anthropic.answer_text
    assert _rows(store) == [("gpt-6-luna", "canary", 0, 1), ("claude-haiku-5-5", "shadow", 1, 1)]
    assert fake_anthropic.requests[0].json["messages"][-1]["content"] == "hi"


def test_the_shadow_call_gets_the_whole_budget_whatever_the_served_call_left(env):
    store = env[0]
    budget = 1.0
    start = time.perf_counter()
    result = _serve(store, _decision(budget_seconds=budget),
                    deliver=lambda r: time.sleep(max(0.0, start + budget - time.perf_counter())))
    assert result.shadow.budget_s == budget
    assert make_shadow_call(store, result.shadow)[0].outcome == "ok"


def test_the_shadow_call_travels_to_its_worker_whole(env):
    call = ShadowCall(
        request=ChatRequest(model_id="claude-haiku-5-5", prompt="what is this?", system="be brief", max_tokens=9,
                            attachments=(Attachment(media_type="image/png", data=b"\x89PNG\x00", name="a.png"),
                                         Attachment(media_type="image/jpeg", url="https://e.test/b.jpg"))),
        segment="multimedia", request_id="req-9", attempt=2, budget_s=10.0, incumbent_answer="a png",
    )
    score = ScoreCall(request=ChatRequest(model_id="gpt-6-luna", prompt="hi", system=None), answer="hello",
                      segment="simple", request_id="req-9", attempt=1)
    for job in (FollowUp(shadow=call), FollowUp(score=score), FollowUp(shadow=call, score=score)):
        assert FollowUp.from_bytes(job.to_bytes(database_url="sqlite:///x.db")) == (job, "sqlite:///x.db")


def test_a_failed_canary_is_rescued_outside_both_arms(env):
    store, fake_openai, _ = env
    fake_openai.fail_model("gpt-6-luna", "server_error")
    result = _serve(store, _decision(shadow_model=None))
    assert result.model_id == "gpt-4o-2024-08-06" and result.arm == "rescue" and result.shadow is None
    assert _rows(store) == [("gpt-6-luna", "canary", 0, 0), ("gpt-4o-2024-08-06", "rescue", 1, 1)]


def test_a_slow_shadow_is_cut_at_its_budget_and_rests_nothing(env):
    store, _, fake_anthropic = env
    fake_anthropic.fail_next("delay", delay_s=5)
    result = _serve(store, _decision())
    start = time.perf_counter()
    attempt, _ = make_shadow_call(store, replace(result.shadow, budget_s=1.5))
    assert time.perf_counter() - start < 1.5 + 0.5
    assert attempt.error_kind == "timeout" and attempt.cost_usd is None
    assert [(row[1], row[3]) for row in _rows(store)] == [("canary", 1), ("shadow", 0)]
    assert _model_state(store, "claude-haiku-5-5") == (0, None)
    assert _provider_state(store, "anthropic")[1:] == (0, None)


def _model_state(store, model_id="gpt-4o-2024-08-06"):
    return store.read("SELECT consecutive_failures, cooldown_until FROM model WHERE model_id = :m", {"m": model_id})[0]


def _provider_state(store, name="openai"):
    return store.read("SELECT health, consecutive_failures, cooldown_until FROM provider WHERE name = :p",
                      {"p": name})[0]


def _outcome(store, error, *, policy=TWO_FAILURES, key_missing=False):
    with store.write() as conn:
        record_outcome(conn, policy=policy, provider="openai", model_id="gpt-4o-2024-08-06", error=error,
                       key_missing=key_missing, now=NOW)


def test_request_faults_do_not_count_against_the_model(env):
    store = env[0]
    _outcome(store, InvalidRequest("bad temperature"))
    _outcome(store, ContextLengthExceeded("too long"))
    assert _model_state(store) == (0, None)


def test_threshold_then_success_resets(env):
    store = env[0]
    _outcome(store, ProviderTimeout("slow"))
    assert _model_state(store) == (1, None)
    _outcome(store, ProviderTimeout("slow"))
    failures, until = _model_state(store)
    assert failures == 2 and until.startswith("2026-12-01 10:05:00")  # model_cooldown_s default 300
    assert _provider_state(store)[0] == "degraded"
    _outcome(store, None)
    assert _model_state(store) == (0, None)
    assert _provider_state(store) == ("ok", 0, None)


def test_a_429_rests_the_model_for_its_retry_after(env):
    store = env[0]
    _outcome(store, RateLimited("429", retry_after=30))
    assert _model_state(store)[1].startswith("2026-12-01 10:00:30")
    _outcome(store, RateLimited("429", retry_after=None), policy=HealthPolicy(rate_limit_cooldown_s=90))
    assert _model_state(store)[1].startswith("2026-12-01 10:01:30")


def test_a_refused_key_rests_the_provider_but_an_unset_one_does_not(env):
    store = env[0]
    _outcome(store, AuthenticationFailed("OPENAI_API_KEY is not set"), key_missing=True)
    assert _provider_state(store) == ("unknown", 0, None)
    _outcome(store, AuthenticationFailed("HTTP 401"), policy=HealthPolicy(provider_cooldown_s=60))
    health, _, until = _provider_state(store)
    assert health == "down" and until.startswith("2026-12-01 10:01:00")


def test_shadow_and_judge_outcomes_change_no_cooldown(env):
    store = env[0]
    for arm in ("shadow", "judge"):
        with store.write() as conn:
            record_outcome(conn, policy=HealthPolicy(failure_threshold=1), provider="openai",
                           model_id="gpt-4o-2024-08-06", error=AuthenticationFailed("HTTP 401"), now=NOW, arm=arm)
    assert _model_state(store) == (0, None)
    assert _provider_state(store) == ("unknown", 0, None)
