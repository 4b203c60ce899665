"""`modelctl health`: keys, cooldowns, recent success and latency from usage, live probes, --strict."""

from __future__ import annotations

import pytest

from tests.fakes.server import unused_port_url

KEY = "sk-test-health-0b6e2f8d4a917c35"
QUERY = "What is the capital of France?"  # simple: gpt-3.5-turbo-0125 first on the original design's chains

pytestmark = pytest.mark.usefixtures("original_chains")


@pytest.fixture
def openai_and_ollama(monkeypatch, fake_openai, fake_ollama):
    monkeypatch.setenv("OPENAI_BASE_URL", fake_openai.base_url + "/v1")
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    monkeypatch.setenv("OLLAMA_HOST", fake_ollama.base_url)
    return fake_openai, fake_ollama


def _by_name(rows: list[dict]) -> dict[str, dict]:
    return {row["name"]: row for row in rows}


def test_fresh_install_knows_keys_and_nothing_else(cli, monkeypatch):
    monkeypatch.setenv("ANTHROPIC_API_KEY", KEY)
    rows = _by_name(cli.json("health"))
    assert {"openai", "anthropic", "ollama", "huggingface", "openrouter"} <= set(rows)
    assert rows["openai"]["status"] == "no_key" and not rows["openai"]["key_set"]
    assert rows["anthropic"]["status"] == "unknown" and rows["anthropic"]["key_set"]
    assert rows["ollama"]["key_env"] is None and rows["ollama"]["key_set"]
    assert rows["anthropic"]["calls"] == 0 and rows["anthropic"]["success_rate"] is None
    cli("health", "--strict")  # nothing is known to be down


def test_success_rate_and_p95_come_from_recorded_runs(cli, openai_and_ollama):
    fake_openai, _ = openai_and_ollama
    cli.json("run", QUERY)
    fake_openai.fail_model("gpt-3.5-turbo-0125", "server_error")
    cli.json("run", QUERY)  # gpt-3.5 fails, gpt-4o answers (no Anthropic key: Claude is skipped)
    openai = _by_name(cli.json("health"))["openai"]
    assert openai["calls"] == 3 and openai["success_rate"] == pytest.approx(2 / 3, abs=1e-3)
    assert openai["p95_latency_ms"] > 0
    assert openai["status"] == "degraded"  # 67% is below the 90% a healthy provider keeps
    table = cli("health").stdout
    assert "openai" in table and "66.7%" in table


def test_probe_lists_models_and_records_the_check(cli, openai_and_ollama):
    rows = _by_name(cli.json("health", "--probe"))
    assert rows["openai"]["probe"]["ok"] and rows["openai"]["probe"]["models"] > 0
    assert rows["ollama"]["probe"]["ok"]
    assert rows["openai"]["status"] == "ok" and rows["openai"]["last_check"]
    assert "probe" not in rows["anthropic"]  # no key: nothing to probe with
    assert "ok, " in cli("health", "--probe").stdout


def test_strict_fails_when_a_provider_is_down(cli, openai_and_ollama, monkeypatch):
    monkeypatch.setenv("OLLAMA_HOST", unused_port_url())
    result = cli("health", "--probe", "--strict", code=1)
    assert "down: ollama" in result.stderr
    rows = _by_name(cli.json("health"))
    # a refused connection is remembered as a failure, not a cooldown (services/health.py): the
    # moment ollama listens, routing can use it again
    assert rows["ollama"]["status"] == "degraded" and rows["ollama"]["cooldown_until"] is None
    assert rows["ollama"]["consecutive_failures"] == 1
    assert "llama3.1:8b" in [c["model_id"] for c in cli.json("route", QUERY)["reason"]
                             if c["verdict"] != "dropped"]


def test_a_rate_limited_model_shows_as_resting(cli, openai_and_ollama):
    fake_openai, _ = openai_and_ollama
    fake_openai.fail_next("rate_limit", retry_after="300")
    cli.json("run", QUERY)
    openai = _by_name(cli.json("health"))["openai"]
    assert openai["models_cooling_down"] == ["gpt-3.5-turbo-0125"]
    assert openai["status"] == "degraded" and openai["cooldown_until"] is None
