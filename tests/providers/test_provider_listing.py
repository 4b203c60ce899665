"""list_models() returns each provider's own model records, every page followed."""

from __future__ import annotations

from modelctl.providers.base import ProviderSettings
from modelctl.providers.calls import list_models


def _records(n: int, **extra) -> list[dict]:
    return [{"id": f"org/model-{i}", **extra} for i in range(n)]


def test_openai_models_come_back_as_sent(fake_openai, openai_settings):
    models = list_models(openai_settings, timeout_s=5)

    assert models == fake_openai.models
    assert models[2]["shutdown_date"] == "2026-10-23"
    assert fake_openai.requests[-1].path == "/v1/models"


def test_anthropic_pages_are_followed_by_after_id(fake_anthropic, anthropic_settings):
    models = [{"id": f"claude-{i}", "type": "model", "created_at": "2026-02-04T00:00:00Z"} for i in range(7)]
    fake_anthropic.set_models(models, page_size=3)

    models = list_models(anthropic_settings, timeout_s=5)

    assert [m["id"] for m in models] == [f"claude-{i}" for i in range(7)]
    assert models[0]["created_at"] == "2026-02-04T00:00:00Z"
    assert [r.query.get("after_id") for r in fake_anthropic.requests] == [None, "claude-2", "claude-5"]


def test_limit_stops_paging_early(fake_anthropic, anthropic_settings):
    fake_anthropic.set_models([{"id": f"claude-{i}", "type": "model"} for i in range(10)], page_size=2)

    models = list_models(anthropic_settings, timeout_s=5, limit=3)

    assert [m["id"] for m in models] == ["claude-0", "claude-1", "claude-2"]
    assert len(fake_anthropic.requests) < 5


def test_ollama_lists_local_tags(fake_ollama):
    settings = ProviderSettings(name="local", kind="ollama", base_url=fake_ollama.base_url)

    models = list_models(settings, timeout_s=5)

    assert [m["name"] for m in models] == ["deepseek-r1:latest", "llama3.2:latest"]
    assert fake_ollama.requests[-1].path == "/api/tags"


def test_huggingface_hub_follows_link_header_without_a_token(fake_huggingface):
    fake_huggingface.set_models(_records(5, pipeline_tag="text-generation"), page_size=2)
    settings = ProviderSettings(name="hf", kind="huggingface", list_url=fake_huggingface.base_url)

    models = list_models(settings, timeout_s=5)

    assert [m["id"] for m in models] == [f"org/model-{i}" for i in range(5)]
    first = fake_huggingface.requests[0]
    assert first.path == "/api/models"
    assert first.query["pipeline_tag"] == "text-generation" and first.query["sort"] == "downloads"
    assert len(fake_huggingface.requests) == 3
    assert "authorization" not in first.headers


def test_huggingface_hub_gets_the_token_when_there_is_one(fake_huggingface, monkeypatch, api_key):
    monkeypatch.setenv("HF_TOKEN", api_key)
    settings = ProviderSettings(name="hf", kind="huggingface", list_url=fake_huggingface.base_url)

    models = list_models(settings, timeout_s=5)

    assert models == fake_huggingface.models
    assert fake_huggingface.requests[-1].headers["authorization"] == f"Bearer {api_key}"


def test_openrouter_follows_links_next(fake_openrouter):
    template = fake_openrouter.models[0]
    fake_openrouter.set_models([{**template, "id": f"vendor/m-{i}"} for i in range(5)], page_size=2)
    base_url = fake_openrouter.base_url + "/api/v1"
    settings = ProviderSettings(name="openrouter", kind="openrouter", base_url=base_url)

    models = list_models(settings, timeout_s=5)

    assert [m["id"] for m in models] == [f"vendor/m-{i}" for i in range(5)]
    assert models[0]["pricing"] == template["pricing"]
    assert [r.query.get("offset") for r in fake_openrouter.requests] == [None, "2", "4"]


def test_openai_compatible_endpoint_lists_without_a_key(fake_openai):
    settings = ProviderSettings(name="vllm", kind="openai_compatible", base_url=fake_openai.base_url + "/v1")

    models = list_models(settings, timeout_s=5)

    assert [m["id"] for m in models] == ["model-id-0", "model-id-1", "model-id-2"]
