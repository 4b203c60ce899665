"""`modelctl run` under a rollout, against the fake providers: the shadow call has a budget of its own
and never holds the answer or the process, shadow failures never change production routing, a
failed call's cost is unknown rather than free, and the models rescuing a failed canary call are an
arm of their own.

On the original design's simple segment (5 s budget; the `original_chains` fixture) gpt-3.5-turbo-0125
(OpenAI) serves and claude-sonnet-5-5 (Anthropic) challenges it; every request id falls in the
rollout's arm (--traffic 100).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from tests.fakes.fixtures import point_at_fakes

KEY = "sk-test-rollout-2f9c4e7a0b1d3865"
QUERY = "What is the capital of France?"
CANDIDATE = "claude-sonnet-5-5"
INCUMBENT = "gpt-3.5-turbo-0125"

pytestmark = pytest.mark.usefixtures("original_chains", "sdks_imported")


@pytest.fixture
def providers(monkeypatch, fake_openai, fake_anthropic, fake_ollama):
    point_at_fakes(monkeypatch, KEY, openai=fake_openai, anthropic=fake_anthropic, ollama=fake_ollama)
    return fake_openai, fake_anthropic


def _rollout(cli, *phase: str) -> None:
    cli("promote", CANDIDATE, "--segments", "simple", "--traffic", "100", *phase)


def _rows(request_id: str) -> list[dict]:
    from modelctl.store.db import open_store

    columns = ("model_id", "arm", "attempt", "success", "error_kind", "cost_usd")
    rows = open_store().read(f"SELECT {', '.join(columns)} FROM usage WHERE request_id = :r ORDER BY attempt",
                             {"r": request_id})
    return [dict(zip(columns, row, strict=True)) for row in rows]


def _shadow_row(request_id: str, *, timeout_s: float = 60.0) -> dict:
    """The shadow call's usage row, once its detached worker has written it."""
    give_up = time.monotonic() + timeout_s
    while time.monotonic() < give_up:
        shadow = [row for row in _rows(request_id) if row["arm"] == "shadow"]
        if shadow:
            return shadow[0]
        time.sleep(0.1)
    raise AssertionError(f"no shadow row for {request_id} within {timeout_s} s: {_rows(request_id)}")


def test_a_shadow_call_has_a_budget_of_its_own(cli, providers):
    """Incumbent and candidate both take 4 s in a 5 s segment: the shadow call must not get the 1 s
    the incumbent left, or it times out every time and the gates roll back an identical candidate."""
    fake_openai, fake_anthropic = providers
    _rollout(cli)
    fake_openai.fail_model(INCUMBENT, "delay", delay_s=4.0)
    fake_anthropic.fail_model(CANDIDATE, "delay", delay_s=4.0)
    out = cli.json("run", QUERY, "--request-id", "req-slow-pair")
    assert out["model_id"] == INCUMBENT and out["arm"] == "control" and out["segment"] == "simple"
    shadow = _shadow_row("req-slow-pair")
    assert (shadow["model_id"], shadow["success"], shadow["error_kind"]) == (CANDIDATE, 1, None)
    assert fake_anthropic.requests[-1].json["messages"][-1]["content"] == QUERY


@pytest.mark.slow
def test_a_slow_shadow_never_holds_the_answer_or_the_exit(providers, modelctl_home):
    """A real `modelctl run` process, read as a gateway reads it: to the end of its output. The
    answer comes out and the process ends while the 4 s shadow call is still under way."""
    fake_openai, fake_anthropic = providers
    env = {**os.environ, "MODELCTL_HOME": str(modelctl_home)}
    modelctl = [sys.executable, "-m", "modelctl"]
    subprocess.run([*modelctl, "promote", CANDIDATE, "--segments", "simple", "--traffic", "100"],
                   env=env, check=True, capture_output=True, timeout=120)
    fake_anthropic.fail_model(CANDIDATE, "delay", delay_s=4.0)
    proc = subprocess.Popen([*modelctl, "run", QUERY, "--request-id", "req-gateway"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    answer = proc.stdout.readline()
    answered = time.monotonic()
    out, err = proc.communicate(timeout=120)
    ended = time.monotonic()
    assert proc.returncode == 0, err
    assert answer == b"Paris is the capital of France.\n" and out == b""
    # the exit did not wait for the 4 s shadow call: when the process had ended its row was not
    # there yet (the timing bound only keeps a loaded machine from hiding a wait)
    assert not [row for row in _rows("req-gateway") if row["arm"] == "shadow"]
    assert ended - answered < 3.5
    shadow = _shadow_row("req-gateway")
    assert (shadow["model_id"], shadow["success"]) == (CANDIDATE, 1)
    assert len(fake_openai.requests) == 1


def test_a_shadow_refused_with_401_leaves_production_routing_alone(cli, providers):
    _, fake_anthropic = providers
    _rollout(cli)
    fake_anthropic.fail_model(CANDIDATE, "unauthorized")
    assert cli.json("run", QUERY, "--request-id", "req-shadow-401")["model_id"] == INCUMBENT
    shadow = _shadow_row("req-shadow-401")
    assert (shadow["model_id"], shadow["success"], shadow["error_kind"]) == (CANDIDATE, 0, "auth")
    # the failure is the candidate's record; Anthropic keeps serving production
    health = {r["name"]: r for r in cli.json("health")}
    assert health["anthropic"]["cooldown_until"] is None and health["anthropic"]["consecutive_failures"] == 0
    assert health["anthropic"]["status"] != "down"
    decision = cli.json("route", QUERY)
    reasons = {c["model_id"]: c["reason"] for c in decision["reason"]}
    assert "cooling down" not in reasons["claude-haiku-5-5"]


def test_a_failed_call_has_an_unknown_cost_not_a_free_one(cli, providers):
    fake_openai, _ = providers
    fake_openai.fail_model(INCUMBENT, "server_error")
    out = cli.json("run", QUERY, "--request-id", "req-failed-cost")
    failed, served = _rows("req-failed-cost")
    assert (failed["success"], failed["cost_usd"]) == (0, None)
    assert served["success"] == 1 and served["cost_usd"] == pytest.approx(out["cost_usd"]) and served["cost_usd"] > 0
    stats = {r["key"]: r for r in cli.json("stats")}
    assert stats[INCUMBENT]["calls"] == 1 and stats[INCUMBENT]["cost_usd"] == 0
    # recorded by hand, a failed call that reported no tokens is unpriced too
    recorded = cli.json("usage", "record", INCUMBENT, "--latency-ms", "900", "--failed")
    assert recorded["cost_usd"] is None


def test_the_models_rescuing_a_failed_canary_call_are_their_own_arm(cli, providers):
    _, fake_anthropic = providers
    _rollout(cli, "--to", "canary", "--yes")
    fake_anthropic.fail_model(CANDIDATE, "server_error")
    out = cli.json("run", QUERY, "--request-id", "req-rescued")
    assert out["model_id"] == INCUMBENT and out["arm"] == "rescue"
    assert [(r["model_id"], r["arm"], r["success"]) for r in _rows("req-rescued")] == [
        (CANDIDATE, "canary", 0), (INCUMBENT, "rescue", 1)]
    # the rescue arm is a usage arm like the others: recorded, imported and shown
    assert cli.json("usage", "record", INCUMBENT, "--latency-ms", "800", "--arm", "rescue")["arm"] == "rescue"
    assert cli.json("usage", "record", "gpt-6.1-sol", "--latency-ms", "800", "--arm", "judge")["arm"] == "judge"
    stats = {r["key"]: r for r in cli.json("stats")}
    assert stats[INCUMBENT]["calls"] == 2 and stats["gpt-6.1-sol"]["calls"] == 1
    # metrics: the rescue is a fallback, and a judge call is not a routed call
    metrics = cli("metrics").stdout
    assert f'modelctl_fallback_calls_1h{{model="{INCUMBENT}",segment="simple"}} 1.0' in metrics
    assert 'arm="rescue"' in metrics and 'arm="judge"' in metrics
    assert 'modelctl_routed_calls_1h{model="gpt-6.1-sol"' not in metrics
