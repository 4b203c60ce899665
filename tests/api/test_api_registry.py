"""The registry routes over a real socket answer what the CLI answers, in the original schema."""

from __future__ import annotations

import json

import pytest

GPT4O = "gpt-4o-2024-08-06"
ORIGINAL_KEYS = {"model_id", "provider", "capabilities", "performance", "costs", "limits", "status"}


def test_health_says_healthy(api):
    response = api.client.get("/health")
    assert response.status_code == 200
    assert response.json()["status"] == "healthy"


def test_models_are_the_catalog_in_the_original_schema(api, cli):
    models = api.client.get("/models").json()
    assert sorted(m["model_id"] for m in models) == sorted(m["model_id"] for m in cli.json("models", "list"))
    for model in models:
        assert set(model) >= ORIGINAL_KEYS
        assert all(isinstance(flag, bool) for flag in model["capabilities"].values())
        assert set(model["costs"]) >= {"input_tokens_per_1k", "output_tokens_per_1k", "currency"}
        assert set(model["limits"]) == {"max_context_tokens", "max_output_tokens"}
    one = api.client.get(f"/models/{GPT4O}").json()
    assert one == next(m for m in models if m["model_id"] == GPT4O)
    assert one["capabilities"]["multimodal"] is True


@pytest.mark.parametrize(("path", "cli_args"), [
    ("/models/stable", ("--stable",)),
    ("/models/refiners", ("--refiners",)),
    ("/models/capability/multimodal", ("--capability", "multimodal")),
    ("/models/provider/anthropic", ("--provider", "anthropic")),
])
def test_filtered_views_match_models_list(api, cli, path, cli_args):
    served = [m["model_id"] for m in api.client.get(path).json()]
    assert served and served == [m["model_id"] for m in cli.json("models", "list", *cli_args)]


def test_unknown_model_is_404_and_unknown_capability_422(api):
    missing = api.client.get("/models/gpt-4o-2024-08-0")
    assert missing.status_code == 404 and "did you mean gpt-4o-2024-08-06" in missing.json()["detail"]
    bad = api.client.get("/models/capability/telepathy")
    assert bad.status_code == 422 and bad.json()["detail"][0]["loc"] == ["path", "capability"]


def test_a_model_id_with_a_slash_is_served(api, cli, tmp_path):
    catalog = tmp_path / "hub.json"
    catalog.write_text(json.dumps([{"model_id": "acme/chat-7b", "provider": "huggingface"}]))
    cli("models", "import", str(catalog))
    assert api.client.get("/models/acme/chat-7b").json()["provider"] == "huggingface"
    recorded = api.client.post("/models/acme/chat-7b/usage", json={"latency_ms": 120})
    assert recorded.status_code == 200 and recorded.json()["model_id"] == "acme/chat-7b"


def test_usage_from_original_query_parameters(api, cli):
    response = api.client.post(f"/models/{GPT4O}/usage",
                               params={"query_type": "technical", "response_time": 1.5, "cost_usd": 0.02})
    assert response.status_code == 200
    body = response.json()
    assert body["recorded"] and body["latency_ms"] == 1500.0 and body["segment"] == "technical"
    [row] = cli.json("stats", "--by", "segment")
    assert (row["key"], row["calls"], row["cost_usd"]) == ("technical", 1, 0.02)


def test_usage_from_a_json_body_prices_it_from_the_catalog(api, cli):
    response = api.client.post(f"/models/{GPT4O}/usage", json={
        "latency_ms": 800, "ttft_ms": 200, "tokens_in": 1000, "tokens_out": 500, "request_id": "r-1"})
    assert response.status_code == 200
    prices = cli.json("models", "show", GPT4O)["model"]
    expected = 1.0 * prices["input_cost_per_1k"] + 0.5 * prices["output_cost_per_1k"]
    assert response.json()["cost_usd"] == pytest.approx(expected)
    again = api.client.post(f"/models/{GPT4O}/usage", json={"latency_ms": 800, "request_id": "r-1"})
    assert again.json()["recorded"] is False
    assert cli.json("stats")[0]["calls"] == 1


@pytest.mark.parametrize(("body", "field"), [
    ({"latency_ms": "fast"}, "latency_ms"),
    ({"latency_ms": 10, "arm": "blue"}, "arm"),
    ({"latency_ms": 10, "quality": 2}, "quality"),
    ({"latency_ms": 10, "colour": "red"}, "colour"),
    ({"tokens_in": 5}, "latency_ms"),
    ({"latency_ms": 10, "tokens_in": 2_000_000_000}, "tokens_in"),  # the bounds of `usage record` and import
    ({"latency_ms": 10, "request_id": "   "}, "request_id"),
])
def test_bad_usage_bodies_get_422_naming_the_field(api, body, field):
    response = api.client.post(f"/models/{GPT4O}/usage", json=body)
    assert response.status_code == 422
    assert any(field in map(str, err["loc"]) for err in response.json()["detail"])


def test_usage_needs_response_time_or_a_body(api):
    response = api.client.post(f"/models/{GPT4O}/usage", params={"query_type": "simple"})
    assert response.status_code == 422 and "response_time" in response.json()["detail"][0]["msg"]


def test_usage_for_an_unknown_model_is_404(api):
    assert api.client.post("/models/nope/usage", json={"latency_ms": 5}).status_code == 404


def test_providers_never_show_a_key(api, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-secret-value-123")
    providers = {p["name"]: p for p in api.client.get("/providers").json()}
    assert providers["openai"]["key_set"] is True and providers["anthropic"]["key_set"] is False
    assert "sk-secret-value-123" not in api.client.get("/providers").text


def test_a_catalog_entry_with_every_field_comes_back_as_it_was_written(api, cli, tmp_path):
    """models.yaml -> the model table -> the API: one schema, so nothing is lost or renamed on the way."""
    entry = {
        "model_id": "acme-chat-2026-01-01", "provider": "openai", "family": "acme-chat", "version": "2026-01-01",
        "status": "candidate", "capabilities": {name: name in ("text_generation", "streaming") for name in (
            "text_generation", "multimodal", "tool_use", "long_context", "streaming", "function_calling",
            "fast_inference")},
        "performance": {"avg_ttft_ms": 300.0, "avg_completion_ms": 1200.0, "success_rate": 0.99, "quality_score": 0.8},
        "costs": {"input_tokens_per_1k": 0.001, "output_tokens_per_1k": 0.002, "currency": "EUR"},
        "limits": {"max_context_tokens": 32000, "max_output_tokens": 4000},
        "is_refiner": True, "deprecation_date": "2027-06-30", "successor": "gpt-4o-2024-08-06",
    }
    catalog = tmp_path / "acme.json"
    catalog.write_text(json.dumps([entry]))
    cli("models", "import", str(catalog))
    assert api.client.get(f"/models/{entry['model_id']}").json() == entry
