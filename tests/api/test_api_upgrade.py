"""The auto-upgrade routes: discovery against a fake provider, rollouts by hand, the server's schedule."""

from __future__ import annotations

import time

import pytest

CANDIDATE = "claude-sonnet-5-5"
INCUMBENT = "claude-3-5-sonnet-20241022"  # the technical head of the original design's chains
OPENAI_MODELS = [
    {"id": "gpt-7-2026-11-01", "object": "model", "created": 1761955200, "owned_by": "system"},
    {"id": "gpt-7", "object": "model", "created": 1761955200, "owned_by": "system"},
    {"id": "gpt-4o-2024-08-06", "object": "model", "created": 1722902400, "owned_by": "system"},
]

pytestmark = pytest.mark.usefixtures("original_chains")


@pytest.fixture
def one_fake_provider(fake_openai, tmp_path, monkeypatch):
    """Only an OpenAI provider, served by the fake: discovery never leaves the machine."""
    fake_openai.set_models(OPENAI_MODELS)
    config = tmp_path / "config"
    config.mkdir(exist_ok=True)  # original_chains may have put a policy.yaml there already
    (config / "providers.yaml").write_text(
        "providers:\n"
        f"  openai: {{kind: openai, api_key_env: OPENAI_API_KEY, base_url: '{fake_openai.base_url}/v1'}}\n"
    )
    monkeypatch.setenv("MODELCTL_CONFIG_DIR", str(config))
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-openai")
    return fake_openai


def test_discover_adds_candidates_and_says_how_many(api, one_fake_provider):
    dry = api.client.post("/discover", json={"dry_run": True}).json()
    assert dry["discovered"] == 1 and dry["dry_run"] is True
    assert api.client.get("/candidates").json() == []

    result = api.client.post("/discover").json()
    assert (result["discovered"], result["failed"]) == (1, [])
    assert [c["model_id"] for c in api.client.get("/candidates").json()] == ["gpt-7-2026-11-01"]
    again = api.client.post("/discover").json()
    assert again["discovered"] == 0


def test_discover_answers_502_when_every_provider_failed(api, one_fake_provider):
    one_fake_provider.fail_next("unauthorized", times=10)
    response = api.client.post("/discover", json={"timeout_s": 5})
    assert response.status_code == 502
    assert response.json()["failed"] == ["openai"] and response.json()["discovered"] == 0


def test_discover_an_unknown_provider_is_404(api, one_fake_provider):
    assert api.client.post("/discover", json={"providers": ["nope"]}).status_code == 404


def test_promote_and_rollback_by_hand(api, cli):
    started = api.client.post(f"/promote/{CANDIDATE}", json={"segments": ["technical"]})
    assert started.status_code == 200
    [transition] = started.json()
    assert (transition["action"], transition["phase"], transition["incumbent_id"]) == ("start", "shadow", INCUMBENT)
    [rollout] = api.client.get("/rollouts", params={"active": True}).json()
    assert rollout["phase"] == "shadow" and rollout["candidate_id"] == CANDIDATE
    # the CLI adds its "why" and time to decision to the rollout the API shows
    assert [{k: v for k, v in row.items() if k in rollout} for row in cli.json("upgrade", "status")] == [
        {k: v for k, v in rollout.items() if k != "id"}]

    early = api.client.post(f"/promote/{CANDIDATE}")
    assert early.status_code == 422 and "--yes" in early.json()["detail"][0]["msg"]

    ended = api.client.post(f"/rollback/{CANDIDATE}", json={"reason": "latency regression"})
    assert [t["phase"] for t in ended.json()] == ["rolled_back"]
    assert api.client.get("/rollouts", params={"active": True}).json() == []
    assert api.client.post(f"/rollback/{CANDIDATE}").status_code == 404


def test_evaluations_show_the_gate_results_of_a_tick(api, cli):
    api.client.post(f"/promote/{CANDIDATE}", json={"segments": ["technical"]})
    cli("upgrade", "tick")
    evaluations = api.client.get("/evaluations", params={"candidate": CANDIDATE}).json()
    assert evaluations == cli.json("evaluations", "--candidate", CANDIDATE)
    assert evaluations and {e["verdict"] for e in evaluations} <= {"pass", "fail", "inconclusive"}


def _wait_for(predicate, seconds: float = 10.0):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError("timed out")


def test_start_runs_the_tick_and_discovery_until_stop(serve, one_fake_provider):
    api = serve(tick_interval_s=0.1, discover_interval_s=0.2)
    api.client.post(f"/promote/{CANDIDATE}", json={"segments": ["technical"]})
    status = api.client.post("/start").json()
    assert status["running"] is True
    assert api.client.post("/start").json()["running"] is True  # a second start changes nothing

    _wait_for(lambda: api.client.get("/evaluations").json())  # the tick judged the rollout
    _wait_for(lambda: api.client.get("/candidates").json())  # discovery ran
    stopped = api.client.post("/stop").json()
    assert stopped["running"] is False and stopped["ticks"] >= 1 and stopped["discoveries"] >= 1
    assert stopped["last_discovery"]["discovered"] == 1 and stopped["last_tick"]["lease"] == "taken"
    ticks = stopped["ticks"]
    time.sleep(0.4)
    assert api.client.post("/stop").json()["ticks"] == ticks
