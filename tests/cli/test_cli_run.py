"""`modelctl run` against the fake providers, through the real SDKs: answers, fallbacks, the deadline,
recorded usage and cost, cooldowns, and a key that never leaks.

On the original design's chains (the `original_chains` fixture), the simple-segment chain with keys
for OpenAI and Anthropic and a local Ollama is gpt-3.5-turbo-0125 -> claude-3-5-sonnet-20241022 ->
gpt-4o-2024-08-06 -> gpt-6-luna -> claude-haiku-5-5 -> llama3.1:8b.
"""

from __future__ import annotations

import base64
import json
import time

import pytest

from tests.fakes.fixtures import point_at_fakes
from tests.fakes.server import unused_port_url

KEY = "sk-test-run-7d1e9a4c2b8f6053-secret"
QUERY = "What is the capital of France?"
GPT35, SONNET, GPT4O = "gpt-3.5-turbo-0125", "claude-3-5-sonnet-20241022", "gpt-4o-2024-08-06"
CHAIN = [GPT35, SONNET, GPT4O, "gpt-6-luna", "claude-haiku-5-5", "llama3.1:8b"]

pytestmark = pytest.mark.usefixtures("original_chains", "sdks_imported")


@pytest.fixture
def providers(monkeypatch, fake_openai, fake_anthropic, fake_ollama):
    point_at_fakes(monkeypatch, KEY, openai=fake_openai, anthropic=fake_anthropic, ollama=fake_ollama)
    return fake_openai, fake_anthropic, fake_ollama


def _route(cli) -> dict:
    return cli.json("route", QUERY)


def _usage_rows(cli) -> list[dict]:
    from modelctl.services.database import open_database

    columns = ("model_id", "arm", "attempt", "success", "error_kind", "segment", "request_id", "tokens_in",
               "tokens_out", "cost_usd")
    rows = open_database().read(f"SELECT {', '.join(columns)} FROM usage ORDER BY id")
    return [dict(zip(columns, row, strict=True)) for row in rows]


def test_the_chain_these_tests_rely_on(cli, providers):
    decision = _route(cli)
    assert [decision["model_id"], *decision["fallback_models"]] == CHAIN


def test_answer_usage_row_and_cost(cli, providers, modelctl_home):
    fake_openai, _, _ = providers
    fake_openai.set_usage(1200, 300)
    out = cli.json("run", QUERY)
    assert out["answer"] == "Paris is the capital of France."
    assert out["model_id"] == GPT35 and out["provider"] == "openai"
    assert [a["outcome"] for a in out["attempts"]] == ["ok"]
    assert (out["tokens_in"], out["tokens_out"]) == (1200, 300)
    prices = {m["model_id"]: m for m in cli.json("models", "list")}[GPT35]
    expected = (1200 * prices["input_cost_per_1k"] + 300 * prices["output_cost_per_1k"]) / 1000
    assert out["cost_usd"] == pytest.approx(expected)
    assert len(out["request_id"]) == 32

    sent = fake_openai.requests[-1].json
    assert sent["model"] == GPT35 and sent["messages"][-1]["content"] == QUERY

    [row] = _usage_rows(cli)
    assert row["request_id"] == out["request_id"] and row["segment"] == "simple" and row["arm"] == "control"
    assert row["success"] and row["error_kind"] is None and row["cost_usd"] == pytest.approx(expected)
    stats = {r["key"]: r for r in cli.json("stats")}
    assert stats[GPT35]["calls"] == 1
    assert stats[GPT35]["cost_usd"] == pytest.approx(expected, abs=1e-6)

    stored = b"".join(p.read_bytes() for p in modelctl_home.rglob("*") if p.is_file())
    assert QUERY.encode() not in stored and b"Paris is the capital" not in stored


def test_plain_output_is_the_answer_with_a_summary_on_stderr(cli, providers):
    result = cli("run", QUERY, "--request-id", "req-1")
    assert result.stdout == "Paris is the capital of France.\n"
    assert f"{GPT35} (openai)" in result.stderr and "req-1" in result.stderr


def test_falls_back_in_chain_order_on_500_then_429(cli, providers):
    fake_openai, fake_anthropic, _ = providers
    fake_openai.fail_model(GPT35, "server_error")
    fake_anthropic.fail_model(SONNET, "rate_limit", retry_after="600")  # too long to wait for
    fake_openai.set_answer("Paris.")
    result = cli("run", QUERY, "--json")
    out = json.loads(result.stdout)
    assert out["answer"] == "Paris." and out["model_id"] == GPT4O
    assert [(a["model_id"], a["error_kind"]) for a in out["attempts"]] == [
        (GPT35, "unavailable"), (SONNET, "rate_limited"), (GPT4O, None)]
    assert f"trying {SONNET}" in result.stderr and f"trying {GPT4O}" in result.stderr
    rows = _usage_rows(cli)
    assert [(r["model_id"], r["attempt"], bool(r["success"])) for r in rows] == [
        (GPT35, 0, False), (SONNET, 1, False), (GPT4O, 2, True)]
    assert len({r["request_id"] for r in rows}) == 1


def test_a_short_retry_after_is_waited_out_on_the_same_model(cli, providers):
    fake_openai, _, _ = providers
    fake_openai.fail_next("rate_limit", retry_after="0.3")
    start = time.perf_counter()
    out = cli.json("run", QUERY)
    assert time.perf_counter() - start >= 0.3
    assert [(a["model_id"], a["outcome"]) for a in out["attempts"]] == [
        (GPT35, "failed"), (GPT35, "ok")]
    # the success ended the cooldown the 429 started
    assert _route(cli)["model_id"] == GPT35


def test_invalid_request_moves_on_without_retrying_the_model(cli, providers):
    fake_openai, _, _ = providers
    fake_openai.fail_model(GPT35, "bad_request")
    out = cli.json("run", QUERY)
    assert [a["model_id"] for a in out["attempts"]] == [GPT35, SONNET]
    assert out["attempts"][0]["error_kind"] == "invalid_request"


def test_a_cut_stream_falls_back_and_streams_the_next_answer(cli, providers):
    fake_openai, _, _ = providers
    fake_openai.fail_model(GPT35, "cut_stream")
    result = cli("run", QUERY, "--stream")
    assert result.stdout.rstrip().endswith("Paris is the capital of France.")
    assert f"{GPT35} failed (unavailable)" in result.stderr
    out = cli.json("run", QUERY, "--stream")
    assert out["attempts"][-1]["ttft_ms"] is not None and out["attempts"][-1]["model_id"] == SONNET


def test_the_deadline_holds_when_every_model_is_slow(cli, providers):
    _, fake_anthropic, _ = providers
    for fake in providers:
        fake.fail_next("delay", times=5, delay_s=5)
    cli("models", "list")  # create the database outside the timed call
    start = time.perf_counter()
    result = cli("run", QUERY, "--deadline-ms", "2000", code=4)
    elapsed = time.perf_counter() - start
    assert elapsed < 2.0 + 0.5
    # a 2 s budget drops the models expected to take longer; the first one left takes all of it
    assert f"{GPT35}: openai {GPT35}: no complete answer within" in result.stderr
    assert "claude-haiku-5-5: not tried, the 2 s budget was spent" in result.stderr
    assert len(fake_anthropic.requests) == 0


def test_every_failure_listed_and_exit_4(cli, providers):
    for fake in providers:
        fake.fail_next("server_error", times=5)
    result = cli("run", QUERY, code=4)
    listed = result.stderr[result.stderr.index("error: every model in the chain failed"):].splitlines()[1:]
    assert [line.strip().split(": ")[0] for line in listed] == CHAIN
    assert all("HTTP 500" in line for line in listed)
    for fake in providers:
        fake.fail_next("server_error", times=5)
    out = json.loads(cli("run", QUERY, "--json", code=4).stdout)
    assert out["answer"] is None and [a["model_id"] for a in out["attempts"]] == CHAIN


def test_a_429_cools_the_model_down_for_every_process(cli, providers, monkeypatch):
    monkeypatch.setenv("MODELCTL_NOW", "2026-01-15T10:00:00Z")
    fake_openai, _, _ = providers
    fake_openai.fail_next("rate_limit", retry_after="120")
    assert cli.json("run", QUERY)["model_id"] == SONNET
    decision = _route(cli)
    assert decision["model_id"] == SONNET
    reasons = {c["model_id"]: c["reason"] for c in decision["reason"]}
    assert reasons[GPT35] == "model is cooling down until 2026-01-15T10:02:00+00:00"
    assert "cooling down" in cli("route", QUERY, "--explain").stdout
    monkeypatch.setenv("MODELCTL_NOW", "2026-01-15T10:02:01Z")
    assert _route(cli)["model_id"] == GPT35


def test_three_failures_in_a_row_cool_a_model_down(cli, providers):
    fake_openai, _, _ = providers
    fake_openai.fail_model(GPT35, "server_error")
    for _ in range(2):
        assert cli.json("run", QUERY)["attempts"][0]["model_id"] == GPT35
    assert _route(cli)["model_id"] == GPT35
    cli.json("run", QUERY)
    decision = _route(cli)
    assert decision["model_id"] == SONNET
    reasons = {c["model_id"]: c["reason"] for c in decision["reason"]}
    assert reasons[GPT35].startswith("model is cooling down until")


def test_a_refused_key_cools_the_whole_provider_down(cli, providers):
    fake_openai, fake_anthropic, _ = providers
    fake_openai.fail_next("unauthorized")
    fake_anthropic.fail_next("server_error")
    out = cli.json("run", QUERY)
    # the rest of OpenAI is skipped in this run too: the same key would be refused
    assert [(a["model_id"], a["error_kind"]) for a in out["attempts"]] == [
        (GPT35, "auth"), (SONNET, "unavailable"), ("claude-haiku-5-5", None)]
    assert len(fake_openai.requests) == 1
    decision = _route(cli)
    assert decision["provider"] == "anthropic"
    reasons = {c["model_id"]: c["reason"] for c in decision["reason"]}
    assert reasons["gpt-6-luna"].startswith("provider openai is cooling down until")
    health = {r["name"]: r for r in cli.json("health")}
    assert health["openai"]["status"] == "down" and health["openai"]["cooldown_until"]


def test_a_refused_connection_rests_the_provider_for_this_run_only(cli, providers, monkeypatch):
    fake_openai, fake_anthropic, fake_ollama = providers
    down = unused_port_url()
    monkeypatch.setenv("OPENAI_BASE_URL", down + "/v1")
    fake_anthropic.fail_next("server_error", times=2)  # claude-3-5-sonnet, claude-haiku-5-5
    fake_ollama.fail_next("server_error")
    stderr = cli("run", QUERY, code=4).stderr
    assert f"{GPT35}: openai {GPT35}: cannot connect" in stderr
    assert "gpt-6-luna: not tried, provider openai failed for every model in this run" in stderr
    # no stored cooldown: nothing keeps OpenAI skipped once it listens again
    assert _route(cli)["provider"] == "openai"
    health = {r["name"]: r for r in cli.json("health")}
    assert health["openai"]["cooldown_until"] is None and health["openai"]["status"] == "degraded"
    assert health["openai"]["models_cooling_down"] == []
    monkeypatch.setenv("OPENAI_BASE_URL", fake_openai.base_url + "/v1")
    out = cli.json("run", QUERY)
    assert [(a["model_id"], a["error_kind"]) for a in out["attempts"]] == [(GPT35, None)]


def test_a_refused_connection_is_no_latency_sample(cli, providers, monkeypatch):
    """Its time measured loading the SDK and the refusal, not the model: the call counts, its latency
    does not, so no figure of the model's is pulled up (or averaged down) by it."""
    monkeypatch.setenv("OPENAI_BASE_URL", unused_port_url() + "/v1")
    out = cli.json("run", QUERY)
    assert [(a["model_id"], a["error_kind"], a["latency_ms"]) for a in out["attempts"][:1]] == [
        (GPT35, "connection", None)]
    from modelctl.services.database import open_database

    rows = open_database().read("SELECT model_id, latency_ms FROM usage ORDER BY id")
    assert rows[0] == (GPT35, None) and rows[1][1] > 0
    stats = {r["key"]: r for r in cli.json("stats", "--by", "model")}
    assert stats[GPT35]["calls"] == 1 and stats[GPT35]["p95_latency_ms"] is None
    shown = cli.json("models", "show", GPT35)
    assert shown["measured_calls"] == 1 and shown["performance"]["avg_completion_ms"]["measured"] is None
    assert {r["name"]: r for r in cli.json("health")}["openai"]["p95_latency_ms"] is None


def test_no_note_when_the_missing_keys_changed_nothing(cli, providers, monkeypatch):
    """Anthropic comes after the model that answered: its missing key is not worth a note."""
    monkeypatch.delenv("ANTHROPIC_API_KEY")
    result = cli("run", QUERY)
    assert "note:" not in result.stderr


def test_no_key_no_plan_for_that_provider(cli, monkeypatch, fake_ollama):
    monkeypatch.setenv("OLLAMA_HOST", fake_ollama.base_url)
    fake_ollama.set_answer("Paris (local).")
    result = cli("run", QUERY, "--json")
    out = json.loads(result.stdout)
    assert out["model_id"] == "llama3.1:8b" and out["answer"] == "Paris (local)."
    assert "--ignore-keys" not in result.stderr
    assert "no API key" in cli("run", "Explain TCP slow start in depth", code=1).stderr


def test_the_key_never_appears_in_output_or_database(cli, providers, modelctl_home):
    fake_openai, fake_anthropic, _ = providers
    outputs = [cli("run", QUERY, "--json")]
    fake_openai.fail_next("server_error")
    outputs.append(cli("run", QUERY, "--json"))
    fake_openai.fail_next("unauthorized")  # the fake's error message echoes the key it was sent
    fake_anthropic.fail_next("unauthorized")
    outputs.append(cli("run", QUERY))
    outputs.append(cli("health", "--probe", "--json"))
    outputs.append(cli("health"))
    assert any(r.headers.get("authorization") == f"Bearer {KEY}" for r in fake_openai.requests)
    for result in outputs:
        assert KEY not in result.stdout and KEY not in result.stderr
    for path in modelctl_home.rglob("*"):
        if path.is_file():
            assert KEY.encode() not in path.read_bytes(), path


def test_attachments_are_sent_as_data_urls(cli, providers, tmp_path):
    fake_openai, _, _ = providers
    image = tmp_path / "receipt.png"
    image.write_bytes(b"\x89PNG\r\n\x1a\nfake-pixels")
    out = cli.json("run", "What does this receipt say?", "--attach", str(image))
    assert out["model_id"] == GPT4O and out["segment"] == "multimedia"
    content = fake_openai.requests[-1].json["messages"][-1]["content"]
    assert content[0] == {"type": "text", "text": "What does this receipt say?"}
    assert content[1]["type"] == "image_url"
    encoded = base64.b64encode(image.read_bytes()).decode()
    assert content[1]["image_url"]["url"] == f"data:image/png;base64,{encoded}"


def test_system_prompt_and_max_tokens_reach_the_provider(cli, providers):
    fake_openai, _, _ = providers
    cli.json("run", QUERY, "--system", "Answer in one word.", "--max-tokens", "5")
    sent = fake_openai.requests[-1].json
    assert sent["messages"][0] == {"role": "system", "content": "Answer in one word."}
    assert sent["max_completion_tokens"] == 5
    assert "--max-tokens" in cli("run", QUERY, "--max-tokens", "0", code=2).stderr
