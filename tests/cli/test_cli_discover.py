"""`modelctl discover` and `modelctl candidates` against the five fake providers on loopback."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest

from modelctl.services.database import open_database

NOW = "2026-11-28T09:00:00Z"
HUB_SHA = "3e1d7a7c0b8d2f4a9e6c5b4a3f2e1d0c9b8a7f6e"

OPENAI = [
    {"id": "gpt-4o-2024-08-06", "object": "model", "created": 1722902400, "owned_by": "system",
     "shutdown_date": "2026-12-10"},  # known: gains a retirement date
    {"id": "gpt-7-2026-11-01", "object": "model", "created": 1761955200, "owned_by": "system"},
    {"id": "gpt-7", "object": "model", "created": 1761955200, "owned_by": "system"},
    {"id": "o9-preview", "object": "model", "created": 1761955200, "owned_by": "system"},
    {"id": "text-embedding-3-large", "object": "model", "created": 1705953180, "owned_by": "system"},
    {"id": "gpt-4-0613", "object": "model", "created": 1686588896, "owned_by": "openai",
     "shutdown_date": "2026-12-31"},
]


def _claude(model_id: str, **extra) -> dict:
    return {"id": model_id, "type": "model", "display_name": model_id, "created_at": "2026-02-04T00:00:00Z",
            "max_input_tokens": 200000, "max_tokens": 64000,
            "capabilities": {"image_input": {"supported": True}}, **extra}


ANTHROPIC = [
    _claude("claude-opus-4-6"),
    _claude("claude-sonnet-6-20261101"),
    _claude("claude-haiku-6-latest"),
    _claude("claude-sonnet-6-1-beta"),
    _claude("claude-3-haiku-20240307", lifecycle="deprecated", deprecated_at="2026-06-01",
            retires_at="2027-03-01"),
]
OLLAMA_EMBEDDING = {
    "name": "nomic-embed-text:latest", "model": "nomic-embed-text:latest", "digest": "0a" * 32,
    "details": {"family": "nomic-bert", "families": ["nomic-bert"]},
}
HUB = [
    {"id": "acme/chat-7b", "pipeline_tag": "text-generation", "sha": HUB_SHA, "downloads": 900},
    {"id": "acme/vision-9b", "pipeline_tag": "image-text-to-text", "sha": HUB_SHA, "downloads": 800},
    {"id": "acme/embedder", "pipeline_tag": "feature-extraction", "sha": HUB_SHA, "downloads": 700},
    {"id": "acme/chat-13b", "pipeline_tag": "text-generation", "sha": HUB_SHA, "downloads": 600},
    {"id": "acme/chat-70b", "pipeline_tag": "text-generation", "downloads": 500},  # no sha: alias
]


def _router(model_id: str, prompt: str, completion: str, *, outputs=("text",), **extra) -> dict:
    return {"id": model_id, "name": model_id, "context_length": 131072,
            "architecture": {"input_modalities": ["text", "image"], "output_modalities": list(outputs)},
            "pricing": {"prompt": prompt, "completion": completion},
            "top_provider": {"max_completion_tokens": 8192}, **extra}


OPENROUTER = [
    _router("mistralai/mistral-large-2411", "0.000002", "0.000006"),
    _router("openai/gpt-4o-2024-11-20", "0.0000025", "0.00001", expiration_date="2026-12-01"),
    _router("google/gemini-9-flash-image-2026-10-01", "0.0000003", "0.0000025", outputs=("image",)),
    _router("qwen/qwen3-235b-a22b-2507", "0.00000013", "0.0000006"),
]

CANDIDATES = {
    "gpt-7-2026-11-01", "claude-opus-4-6", "claude-sonnet-6-20261101", "acme/chat-7b",
    "acme/vision-9b", "acme/chat-13b", "mistralai/mistral-large-2411", "qwen/qwen3-235b-a22b-2507",
    "deepseek-r1:latest", "llama3.2:latest",
}


@pytest.fixture
def fakes(fake_openai, fake_anthropic, fake_ollama, fake_huggingface, fake_openrouter, every_fake_configured,
          monkeypatch):
    """Every configured provider points at a fake, each serving its list over several pages."""
    fake_openai.set_models(OPENAI)
    fake_anthropic.set_models(ANTHROPIC, page_size=2)
    fake_ollama.set_models([*fake_ollama.models, OLLAMA_EMBEDDING])
    fake_huggingface.set_models(HUB, page_size=2)
    fake_openrouter.set_models(OPENROUTER, page_size=3)
    monkeypatch.setenv("MODELCTL_NOW", NOW)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-openai")
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-test")
    return SimpleNamespace(openai=fake_openai, anthropic=fake_anthropic, ollama=fake_ollama,
                           huggingface=fake_huggingface, openrouter=fake_openrouter,
                           config=every_fake_configured)


def _runs(home) -> list[tuple]:
    store = open_database(f"sqlite:///{home / 'modelctl.db'}")
    return store.read("SELECT provider, found, new, updated, error FROM discovery_run ORDER BY id")


def _by_id(report: dict) -> dict[str, dict]:
    return {m["model_id"]: {**m, "provider": p["provider"]} for p in report["providers"] for m in p["models"]}


def test_discover_adds_pinned_chat_models_from_every_page_of_every_provider(cli, fakes, modelctl_home):
    report = cli.json("discover")

    assert {p["provider"]: p["error"] for p in report["providers"]} == dict.fromkeys(
        ["anthropic", "huggingface", "ollama", "openai", "openrouter"])
    found = {c["model_id"]: c for c in cli.json("candidates")}
    assert set(found) == CANDIDATES
    # pages were followed: Anthropic by after_id, the Hub by its Link header, OpenRouter by links.next
    assert [r.query.get("after_id") for r in fakes.anthropic.requests] == [
        None, "claude-sonnet-6-20261101", "claude-sonnet-6-1-beta"]
    assert len(fakes.huggingface.requests) == 3 and len(fakes.openrouter.requests) == 2
    mistral = found["mistralai/mistral-large-2411"]
    assert mistral["priced"] and mistral["input_cost_per_1k"] == pytest.approx(0.002)
    assert mistral["found_at"].startswith("2026-11-28 09:00")
    assert mistral["discovered_from"] == fakes.openrouter.base_url + "/api/v1/models"
    assert found["gpt-7-2026-11-01"]["priced"] is False  # OpenAI lists no prices and no map is set
    assert found["acme/chat-7b"]["stability"] == "pinned"
    assert [r[:4] for r in _runs(modelctl_home)] == [
        ("anthropic", 5, 2, 0), ("huggingface", 5, 3, 0), ("ollama", 3, 2, 0),
        ("openai", 6, 1, 1), ("openrouter", 4, 2, 0)]


def test_candidates_are_stored_as_such_and_unpriced_ones_are_never_zero(cli, fakes):
    cli("discover")

    gpt7 = cli.json("models", "show", "gpt-7-2026-11-01")["model"]
    assert (gpt7["status"], gpt7["source"]) == ("candidate", "discovered")
    assert gpt7["input_cost_per_1k"] is None and gpt7["output_cost_per_1k"] is None
    assert "text_generation" in gpt7["capabilities"]
    opus = cli.json("models", "show", "claude-opus-4-6")["model"]
    assert opus["max_context_tokens"] == 200000 and {"multimodal", "long_context"} <= set(opus["capabilities"])
    unpriced = {m["model_id"] for m in cli.json("models", "list", "--unpriced")}
    assert "gpt-7-2026-11-01" in unpriced and "mistralai/mistral-large-2411" not in unpriced
    table = cli("candidates").stdout
    assert "gpt-7-2026-11-01" in table and "unpriced" in table


def test_json_explains_every_decision(cli, fakes):
    models = _by_id(cli.json("discover", "--dry-run"))

    assert models["gpt-7"]["action"] == "ignored" and models["gpt-7"]["stability"] == "alias"
    assert "no date or revision" in models["gpt-7"]["why"]
    assert models["o9-preview"]["stability"] == "preview" and "preview" in models["o9-preview"]["stability_reason"]
    embedding = models["text-embedding-3-large"]
    assert embedding["chat_usable"] is False and "embedding" in embedding["not_chat_reason"]
    assert models["nomic-embed-text:latest"]["candidate"] is False
    assert "not text" in models["google/gemini-9-flash-image-2026-10-01"]["why"]
    assert "retirement" in models["gpt-4-0613"]["why"] and not models["gpt-4-0613"]["candidate"]
    assert models["acme/chat-70b"]["stability"] == "alias"
    new = models["claude-sonnet-6-20261101"]
    assert new["candidate"] and new["action"] == "new" and "20261101" in new["stability_reason"]
    assert models["llama3.2:latest"]["stability"] == "pinned"  # the Ollama digest pins the tag


def test_running_discover_twice_adds_nothing_the_second_time(cli, fakes):
    cli("discover")
    before = cli.json("models", "list")
    audits = len(cli.json("audit", "--limit", "1000"))

    again = cli.json("discover")

    assert all(p["new"] == 0 and p["updated"] == 0 for p in again["providers"])
    assert cli.json("models", "list") == before
    assert len(cli.json("audit", "--limit", "1000")) == audits


def test_dry_run_changes_nothing(cli, fakes, modelctl_home):
    before = cli.json("models", "list")

    report = cli.json("discover", "--dry-run")

    assert report["dry_run"] and sum(p["new"] for p in report["providers"]) == len(CANDIDATES)
    assert cli.json("models", "list") == before
    assert cli.json("candidates") == [] and _runs(modelctl_home) == []


def test_retirement_dates_reach_known_models_and_route_warns(cli, fakes):
    cli("discover")

    gpt4o = cli.json("models", "show", "gpt-4o-2024-08-06")["model"]
    assert gpt4o["deprecation_date"] == "2026-12-10" and gpt4o["status"] == "stable"
    entry = next(a for a in cli.json("audit") if a["target"] == "gpt-4o-2024-08-06")
    assert entry["action"] == "deprecation"
    assert entry["before"] == {"deprecation_date": "2027-01-14"}
    assert entry["after"] == {"deprecation_date": "2026-12-10"}
    # multimedia falls back to any multimodal model, gpt-4o among them
    routed = cli("route", "Describe https://example.com/cat.png", "--ignore-keys")
    assert "gpt-4o-2024-08-06 is deprecated on 2026-12-10" in routed.stderr


@pytest.mark.parametrize(
    ("fault", "message"),
    [("delay", "timed out"), ("unauthorized", "401"), ("malformed", "openai")],
)
def test_one_failing_provider_is_reported_and_the_others_kept(cli, fakes, modelctl_home, fault, message):
    fakes.openai.fail_next(fault, delay_s=3.0)

    result = cli("discover", "--timeout", "1", "--json")

    report = json.loads(result.stdout)
    failed = {p["provider"]: p["error"] for p in report["providers"] if p["error"]}
    assert list(failed) == ["openai"] and message in failed["openai"]
    assert "warning: openai" in result.stderr
    assert "sk-test-openai" not in result.stdout + result.stderr
    assert {c["model_id"] for c in cli.json("candidates")} == CANDIDATES - {"gpt-7-2026-11-01"}
    assert _runs(modelctl_home)[3][:4] == ("openai", 0, 0, 0)


def test_every_provider_failing_exits_1(cli, fakes, monkeypatch):
    for fake in (fakes.openai, fakes.anthropic, fakes.ollama, fakes.huggingface, fakes.openrouter):
        fake.fail_next("server_error", times=5)

    result = cli("discover", "--json", code=1)

    assert {p["provider"] for p in json.loads(result.stdout)["providers"] if p["error"]} == {
        "openai", "anthropic", "ollama", "huggingface", "openrouter"}
    assert result.stderr.splitlines()[-1] == "error: every provider failed; nothing was discovered"
    assert result.stderr.count("every provider failed") == 1 and "Traceback" not in result.stderr
    assert cli.json("candidates") == []


def test_provider_option_limits_the_listing(cli, fakes):
    report = cli.json("discover", "--provider", "ollama", "-p", "openrouter")

    assert [p["provider"] for p in report["providers"]] == ["ollama", "openrouter"]
    assert fakes.openai.requests == [] and fakes.anthropic.requests == []
    assert "not-configured" in cli("discover", "--provider", "not-configured", code=3).stderr


def test_price_map_prices_candidates_and_announces_successors(cli, fakes, tmp_path):
    price_map = tmp_path / "prices.json"
    price_map.write_text(json.dumps({
        "gpt-7-2026-11-01": {"litellm_provider": "openai", "mode": "chat", "input_cost_per_token": 4e-06,
                             "output_cost_per_token": 1.6e-05, "max_input_tokens": 400000,
                             "supports_function_calling": True},
        "claude-3-haiku-20240307": {"litellm_provider": "anthropic", "mode": "chat",
                                    "deprecation_date": "2027-03-01", "successor_model": "claude-haiku-6"},
        "claude-opus-4-6": {"litellm_provider": "anthropic", "mode": "chat", "input_cost_per_token": 5e-06,
                            "output_cost_per_token": 2.5e-05},
    }))
    (fakes.config / "discovery.yaml").write_text(f"price_map: '{price_map}'\n")
    known = tmp_path / "known.json"
    known.write_text(json.dumps({"claude-3-haiku-20240307": {"litellm_provider": "anthropic", "mode": "chat"}}))
    cli("models", "import", str(known), "--format", "litellm")

    models = _by_id(cli.json("discover"))

    assert models["gpt-7-2026-11-01"]["price_source"] == "price map"
    gpt7 = cli.json("models", "show", "gpt-7-2026-11-01")["model"]
    assert gpt7["input_cost_per_1k"] == pytest.approx(0.004) and gpt7["max_context_tokens"] == 400000
    assert {"function_calling", "long_context"} <= set(gpt7["capabilities"])
    opus = cli.json("models", "show", "claude-opus-4-6")["model"]
    assert opus["input_cost_per_1k"] == pytest.approx(0.005) and opus["max_context_tokens"] == 200000
    haiku = cli.json("models", "show", "claude-3-haiku-20240307")["model"]
    assert (haiku["deprecation_date"], haiku["successor"]) == ("2027-03-01", "claude-haiku-6")


def test_bad_discovery_config_names_file_line_and_field(cli, fakes):
    (fakes.config / "discovery.yaml").write_text("timeout_s: 30\nstability:\n  preview: ['(unclosed']\n")

    result = cli("discover", code=2)

    assert "discovery.yaml:3: stability.preview" in result.stderr and "Traceback" not in result.stderr
