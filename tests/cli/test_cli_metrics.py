"""`modelctl metrics`: the exposition parsed back with prometheus_client's own parser."""

from __future__ import annotations

import json
import os

import pytest
from prometheus_client.parser import text_string_to_metric_families

GPT4O = "gpt-4o-2024-08-06"
HAIKU = "claude-haiku-5-5"
CANDIDATE = "claude-sonnet-5-5"
NOW = "2026-12-01T12:00:00Z"


@pytest.fixture(autouse=True)
def pinned_clock(monkeypatch):
    monkeypatch.setenv("MODELCTL_NOW", NOW)


def _families(text: str) -> dict:
    return {family.name: family for family in text_string_to_metric_families(text)}


def _samples(families: dict, name: str, sample: str | None = None) -> dict[tuple, float]:
    """{tuple of label values in label-name order: value} for one family's samples named `sample`."""
    return {
        tuple(v for _, v in sorted(s.labels.items())): s.value
        for s in families[name].samples if s.name == (sample or s.name)
    }


def _usage(cli, *records: dict) -> None:
    cli("usage", "import", "-", input="".join(json.dumps({"ts": "2026-12-01T10:00:00Z", **r}) + "\n"
                                              for r in records))


def test_usage_becomes_counters_and_histograms_by_model_and_provider(cli):
    _usage(
        cli,
        {"model_id": GPT4O, "segment": "technical", "latency_ms": 80, "ttft_ms": 30, "tokens_in": 100,
         "tokens_out": 50, "cost_usd": 0.01, "request_id": "a", "attempt": 0},
        {"model_id": GPT4O, "segment": "technical", "latency_ms": 400, "tokens_in": 10, "tokens_out": 5,
         "cost_usd": 0.002, "success": False, "error_kind": "timeout", "request_id": "b", "attempt": 0},
        {"model_id": HAIKU, "segment": "technical", "latency_ms": 3000, "tokens_in": 7, "tokens_out": 3,
         "cost_usd": 0.001, "request_id": "b", "attempt": 1},
    )
    families = _families(cli("metrics").stdout)

    assert _samples(families, "modelctl_calls", "modelctl_calls_total") == {
        ("control", GPT4O, "openai", "technical"): 2, ("control", HAIKU, "anthropic", "technical"): 1}
    assert _samples(families, "modelctl_call_failures", "modelctl_call_failures_total") == {
        ("control", GPT4O, "openai", "technical"): 1, ("control", HAIKU, "anthropic", "technical"): 0}
    assert _samples(families, "modelctl_input_tokens", "modelctl_input_tokens_total")[(GPT4O, "openai")] == 110
    assert _samples(families, "modelctl_output_tokens", "modelctl_output_tokens_total")[(GPT4O, "openai")] == 55
    assert _samples(families, "modelctl_cost_usd", "modelctl_cost_usd_total")[(GPT4O, "openai")] == pytest.approx(0.012)

    latency = families["modelctl_call_latency_seconds"]
    assert latency.type == "histogram"
    buckets = {s.labels["le"]: s.value for s in latency.samples
               if s.name.endswith("_bucket") and s.labels["model"] == GPT4O}
    assert (buckets["0.05"], buckets["0.1"], buckets["0.25"], buckets["0.5"], buckets["+Inf"]) == (0, 1, 1, 2, 2)
    sums = _samples(families, "modelctl_call_latency_seconds", "modelctl_call_latency_seconds_sum")
    assert sums[(GPT4O, "openai")] == pytest.approx(0.48)
    ttft = {s.labels["le"]: s.value for s in families["modelctl_ttft_seconds"].samples if s.name.endswith("_bucket")}
    assert (ttft["0.05"], ttft["+Inf"]) == (1, 1)  # only the streamed call had a TTFT



def test_first_choices_and_fallbacks_of_the_last_hour(cli):
    _usage(
        cli,
        {"model_id": GPT4O, "segment": "technical", "latency_ms": 80, "request_id": "a", "ts": "2026-12-01T11:30:00Z"},
        {"model_id": GPT4O, "segment": "technical", "latency_ms": 400, "success": False, "error_kind": "timeout",
         "request_id": "b", "ts": "2026-12-01T11:40:00Z"},
        {"model_id": HAIKU, "segment": "technical", "latency_ms": 3000, "request_id": "b", "attempt": 1,
         "ts": "2026-12-01T11:40:01Z"},
        {"model_id": HAIKU, "segment": "technical", "latency_ms": 300, "request_id": "c", "attempt": 1,
         "ts": "2026-12-01T10:30:00Z"},  # more than an hour before NOW
        {"model_id": HAIKU, "segment": "technical", "latency_ms": 300, "request_id": "d", "arm": "shadow",
         "ts": "2026-12-01T11:50:00Z"},  # a shadow copy is not a routing choice
    )
    families = _families(cli("metrics").stdout)
    assert _samples(families, "modelctl_routed_calls_1h") == {(GPT4O, "technical"): 2, (HAIKU, "technical"): 0}
    assert _samples(families, "modelctl_fallback_calls_1h") == {(HAIKU, "technical"): 1}


def test_catalog_and_provider_health(cli):
    families = _families(cli("metrics").stdout)
    models = _samples(families, "modelctl_models")
    assert sum(models.values()) == len(cli.json("models", "list"))
    assert models[("openai", "stable")] == sum(1 for m in cli.json("models", "list", "--provider", "openai")
                                               if m["status"] == "stable")
    assert set(_samples(families, "modelctl_provider_up").values()) == {1}
    assert set(_samples(families, "modelctl_provider_cooldown_seconds").values()) == {0}


def test_provider_cooldown_counts_down(cli, modelctl_home):
    from datetime import datetime, timedelta

    from modelctl.services.database import open_database
    from modelctl.store.health import mark_failure

    store = open_database(None)
    with store.write() as conn:
        mark_failure(conn, provider="openai", model_id=None, now=datetime(2026, 12, 1, 11, 59),
                     provider_until=datetime(2026, 12, 1, 12, 5), counts=True, threshold=3,
                     streak_cooldown=timedelta(minutes=5))
    families = _families(cli("metrics").stdout)
    assert _samples(families, "modelctl_provider_up")[("openai",)] == 0
    assert _samples(families, "modelctl_provider_cooldown_seconds")[("openai",)] == 300
    assert _samples(families, "modelctl_provider_consecutive_failures")[("openai",)] == 1


@pytest.mark.usefixtures("original_chains")  # the candidate challenges claude-3-5-sonnet-20241022 on technical
def test_rollouts_gates_promotions_and_rollbacks(cli):
    cli("promote", CANDIDATE, "--segments", "technical")
    cli("upgrade", "tick")
    families = _families(cli("metrics").stdout)
    assert _samples(families, "modelctl_rollouts") == {("shadow",): 1}
    assert _samples(families, "modelctl_rollout_traffic_percent") == {(CANDIDATE, "shadow"): 5.0}
    verdicts = _samples(families, "modelctl_gate_results", "modelctl_gate_results_total")
    assert verdicts and {key[:2] for key in verdicts} == {(CANDIDATE, "shadow")}
    assert sum(verdicts.values()) == len(cli.json("evaluations"))
    assert _samples(families, "modelctl_promotions", "modelctl_promotions_total") == {(CANDIDATE, "shadow"): 1}

    cli("rollback", CANDIDATE, "--reason", "test")
    families = _families(cli("metrics").stdout)
    assert _samples(families, "modelctl_rollbacks", "modelctl_rollbacks_total") == {(CANDIDATE, "shadow"): 1}
    assert _samples(families, "modelctl_rollouts") == {("rolled_back",): 1}
    assert _samples(families, "modelctl_rollout_traffic_percent") == {}


def test_discovery_runs_by_provider(cli, fake_openai, tmp_path, monkeypatch):
    fake_openai.set_models([{"id": "gpt-7-2026-11-01", "object": "model", "created": 1761955200, "owned_by": "s"},
                            {"id": GPT4O, "object": "model", "created": 1722902400, "owned_by": "s"}])
    config = tmp_path / "config"
    config.mkdir()
    (config / "providers.yaml").write_text(
        "providers:\n"
        f"  openai: {{kind: openai, api_key_env: OPENAI_API_KEY, base_url: '{fake_openai.base_url}/v1'}}\n"
        "  broken: {kind: openai_compatible, base_url: 'http://127.0.0.1:9/v1'}\n"
    )
    monkeypatch.setenv("MODELCTL_CONFIG_DIR", str(config))
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    cli("discover", "--timeout", "5")
    families = _families(cli("metrics").stdout)
    assert _samples(families, "modelctl_discovery_runs", "modelctl_discovery_runs_total") == {
        ("broken",): 1, ("openai",): 1}
    assert _samples(families, "modelctl_discovery_failures", "modelctl_discovery_failures_total") == {
        ("broken",): 1, ("openai",): 0}
    assert _samples(families, "modelctl_discovered_models", "modelctl_discovered_models_total")[("openai",)] == 1
    assert _samples(families, "modelctl_discovery_models_found")[("openai",)] == 2
    stamp = _samples(families, "modelctl_discovery_last_run_timestamp_seconds")[("openai",)]
    assert stamp == 1796126400  # 2026-12-01T12:00:00Z


def test_no_label_carries_query_text_or_request_ids(cli):
    _usage(cli, {"model_id": GPT4O, "latency_ms": 10, "request_id": "req-secret-1234", "segment": "simple"})
    text = cli("metrics").stdout
    assert "req-secret-1234" not in text
    labels = {name for family in text_string_to_metric_families(text) for s in family.samples for name in s.labels}
    assert labels <= {"model", "provider", "segment", "arm", "phase", "status", "verdict", "le"}


def test_textfile_is_written_whole_and_replaced_atomically(cli, tmp_path):
    target = tmp_path / "textfiles" / "modelctl.prom"
    target.parent.mkdir()
    target.write_text("stale\n")
    result = cli("metrics", "--textfile", str(target))
    assert result.stdout == "" and str(target) in result.stderr
    written = target.read_text()
    assert "stale" not in written and "modelctl_provider_up" in written
    assert _families(written)  # parses whole
    assert oct(os.stat(target).st_mode & 0o777) == "0o644"
    assert [p.name for p in target.parent.iterdir()] == ["modelctl.prom"]  # no temp file left behind


def test_textfile_that_is_a_directory_is_refused(cli, tmp_path):
    result = cli("metrics", "--textfile", str(tmp_path), code=2)
    assert "is a directory" in result.stderr


def test_json_gives_the_same_samples(cli):
    _usage(cli, {"model_id": GPT4O, "latency_ms": 10, "segment": "simple"})
    families = {f["name"]: f for f in cli.json("metrics")}
    [calls] = families["modelctl_calls"]["samples"]
    assert calls == {"name": "modelctl_calls_total", "value": 1.0,
                     "labels": {"model": GPT4O, "provider": "openai", "segment": "simple", "arm": "control"}}
    assert families["modelctl_call_latency_seconds"]["type"] == "histogram"
