"""List-models responses -> DiscoveredModel: chat filter, stability, provider fields, garbage."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from modelctl.core.discovery import (
    DEFAULT_RULES,
    StabilityRules,
    classify_stability,
    is_candidate,
    parse_models,
)
from modelctl.errors import InvalidInput

SAMPLES = Path(__file__).resolve().parents[1] / "data" / "provider_samples"
FILES = {
    "openai": ["openai_models.json"],
    "anthropic": ["anthropic_models_page1.json", "anthropic_models_page2.json"],
    "ollama": ["ollama_tags.json"],
    "huggingface": ["huggingface_models.json"],
    "openrouter": ["openrouter_models.json", "openrouter_models_page2.json"],
}


def _sample(name: str) -> object:
    return json.loads((SAMPLES / name).read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def found():
    """(provider, model_id) -> DiscoveredModel across every sample page."""
    models = {}
    for provider, names in FILES.items():
        for name in names:
            page = parse_models(provider, _sample(name))
            assert page.skipped == ()
            models.update({(provider, m.model_id): m for m in page.models})
    return models


# provider, id, chat usable (or the reason's key word), stability, rollout candidate
TABLE = [
    ("openai", "gpt-4o-2024-08-06", True, "pinned", True),
    ("openai", "gpt-4o-mini-2024-07-18", True, "pinned", True),
    ("openai", "gpt-4.1-2025-04-14", True, "pinned", True),
    ("openai", "gpt-3.5-turbo-0125", True, "pinned", False),  # has a shutdown date
    ("openai", "gpt-4o", True, "alias", False),
    ("openai", "chatgpt-4o-latest", True, "alias", False),
    ("openai", "gpt-4.5-preview", True, "preview", False),
    ("openai", "gpt-4o-realtime-preview-2024-12-17", "realtime", "preview", False),
    ("openai", "gpt-4o-search-preview-2025-03-11", "search", "preview", False),
    ("openai", "gpt-4o-audio-preview-2024-12-17", "audio", "preview", False),
    ("openai", "gpt-4o-transcribe", "speech-to-text", "alias", False),
    ("openai", "whisper-1", "speech-to-text", "alias", False),
    ("openai", "tts-1-hd", "text-to-speech", "alias", False),
    ("openai", "text-embedding-3-large", "embedding", "alias", False),
    ("openai", "omni-moderation-latest", "moderation", "alias", False),
    ("openai", "dall-e-3", "image generation", "alias", False),
    ("openai", "gpt-image-1", "image generation", "alias", False),
    ("openai", "babbage-002", "completions-only", "alias", False),
    ("anthropic", "claude-opus-4-6", True, "pinned", True),  # undated, pinned from 4.6 on
    ("anthropic", "claude-haiku-4-5-20251001", True, "pinned", True),
    ("anthropic", "claude-sonnet-4-5-20250929", True, "pinned", False),  # deprecated
    ("anthropic", "claude-3-5-haiku-20241022", True, "pinned", False),  # deprecated
    ("anthropic", "claude-3-5-sonnet-20241022", "retired", "pinned", False),
    ("anthropic", "claude-sonnet-4-0", True, "alias", False),
    ("anthropic", "claude-mythos-preview", True, "preview", False),
    ("ollama", "llama3.1:8b", True, "pinned", True),  # by digest
    ("ollama", "llava:7b", True, "pinned", True),
    ("ollama", "nomic-embed-text:latest", "embedding", "pinned", False),
    ("ollama", "qwen2.5:latest", True, "alias", False),  # no digest listed
    ("huggingface", "meta-llama/Llama-3.1-8B-Instruct", True, "pinned", True),  # by commit
    ("huggingface", "Qwen/Qwen2.5-VL-7B-Instruct", True, "pinned", True),
    ("huggingface", "HuggingFaceH4/zephyr-7b-beta", True, "preview", False),
    ("huggingface", "google-bert/bert-base-uncased", "fill-mask", "pinned", False),
    ("huggingface", "sentence-transformers/all-MiniLM-L6-v2", "sentence-similarity", "alias", False),
    ("huggingface", "mistralai/Mistral-Small-24B-Instruct-2501", True, "pinned", True),
    ("openrouter", "openai/gpt-4o-2024-08-06", True, "pinned", True),
    ("openrouter", "anthropic/claude-3.5-sonnet", True, "alias", False),
    ("openrouter", "anthropic/claude-opus-4.6", True, "pinned", True),
    ("openrouter", "openrouter/auto", True, "alias", False),
    ("openrouter", "google/gemini-2.0-flash-exp:free", True, "preview", False),
    ("openrouter", "black-forest-labs/flux.2-pro", "outputs image", "alias", False),
    ("openrouter", "meta-llama/llama-3.1-8b-instruct", True, "alias", False),
]


def test_every_sample_model_is_in_the_table(found):
    assert set(found) == {(provider, model_id) for provider, model_id, *_ in TABLE}


@pytest.mark.parametrize(("provider", "model_id", "chat", "stability", "candidate"), TABLE)
def test_classification(found, provider, model_id, chat, stability, candidate):
    model = found[(provider, model_id)]
    if chat is True:
        assert model.chat_usable and model.not_chat_reason is None
    else:
        assert not model.chat_usable
        assert chat in model.not_chat_reason
    assert model.stability == stability
    assert model.stability_reason and "\n" not in model.stability_reason
    assert is_candidate(model) is candidate


def test_stability_explanations_say_what_decided(found):
    assert "2024-08-06" in found[("openai", "gpt-4o-2024-08-06")].stability_reason
    assert "latest" in found[("openai", "chatgpt-4o-latest")].stability_reason
    assert "preview" in found[("openai", "gpt-4.5-preview")].stability_reason
    assert "46e0c10c039e" in found[("ollama", "llama3.1:8b")].stability_reason
    assert "0e9e39f249a1" in found[("huggingface", "meta-llama/Llama-3.1-8B-Instruct")].stability_reason


# ---- fields the listings state ----------------------------------------------------------


def test_openai_shutdown_date_is_the_deprecation_date(found):
    assert found[("openai", "gpt-3.5-turbo-0125")].deprecation_date == date(2026, 10, 23)
    assert found[("openai", "gpt-4o-2024-08-06")].deprecation_date is None


def test_anthropic_limits_images_and_lifecycle_dates(found):
    opus = found[("anthropic", "claude-opus-4-6")]
    assert (opus.display_name, opus.max_context_tokens, opus.max_output_tokens) == (
        "Claude Opus 4.6", 1_000_000, 128_000,
    )
    assert opus.multimodal is True and opus.deprecation_date is None
    sonnet = found[("anthropic", "claude-sonnet-4-5-20250929")]
    assert (sonnet.deprecated_at, sonnet.deprecation_date) == (date(2026, 8, 31), date(2026, 11, 30))
    haiku = found[("anthropic", "claude-3-5-haiku-20241022")]
    assert haiku.max_context_tokens is None and haiku.max_output_tokens is None  # 0 = not stated
    assert haiku.multimodal is None


def test_openrouter_string_prices_become_per_1k_and_variable_prices_unknown(found):
    gpt = found[("openrouter", "openai/gpt-4o-2024-08-06")]
    assert (gpt.input_cost_per_1k, gpt.output_cost_per_1k) == (0.0025, 0.01)
    assert (gpt.max_context_tokens, gpt.max_output_tokens, gpt.multimodal) == (128000, 16384, True)
    llama = found[("openrouter", "meta-llama/llama-3.1-8b-instruct")]
    assert (llama.input_cost_per_1k, llama.output_cost_per_1k, llama.multimodal) == (0.00002, 0.00003, False)
    auto = found[("openrouter", "openrouter/auto")]
    assert auto.input_cost_per_1k is None and auto.output_cost_per_1k is None  # "-1": set per request
    free = found[("openrouter", "google/gemini-2.0-flash-exp:free")]
    assert free.input_cost_per_1k == 0.0
    assert found[("openrouter", "anthropic/claude-3.5-sonnet")].deprecation_date == date(2025, 10, 22)


def test_local_and_hub_models_carry_their_revision_and_vision(found):
    assert found[("ollama", "llama3.1:8b")].revision.startswith("46e0c10c")
    assert found[("ollama", "llava:7b")].multimodal is True
    assert found[("ollama", "qwen2.5:latest")].revision is None
    assert found[("huggingface", "Qwen/Qwen2.5-VL-7B-Instruct")].multimodal is True
    assert found[("huggingface", "sentence-transformers/all-MiniLM-L6-v2")].revision is None


def test_discovered_model_becomes_a_candidate_spec(found):
    spec = found[("anthropic", "claude-opus-4-6")].to_spec()
    assert (spec.model_id, spec.provider, spec.status, spec.source) == (
        "claude-opus-4-6", "anthropic", "candidate", "discovered",
    )
    assert spec.capabilities == {"text_generation", "streaming", "multimodal", "long_context"}
    assert spec.max_context_tokens == 1_000_000 and not spec.priced
    assert found[("openrouter", "openai/gpt-4o-2024-08-06")].to_spec().cost_usd(1000, 1000) == 0.0125


# ---- pages ------------------------------------------------------------------------------


def test_next_page_cursor():
    assert parse_models("anthropic", _sample("anthropic_models_page1.json")).next_cursor == (
        "claude-haiku-4-5-20251001"
    )
    assert parse_models("anthropic", _sample("anthropic_models_page2.json")).next_cursor is None
    assert parse_models("openrouter", _sample("openrouter_models.json")).next_cursor == (
        "/api/v1/models?offset=5&limit=5"
    )
    assert parse_models("openrouter", _sample("openrouter_models_page2.json")).next_cursor is None
    assert parse_models("openai", _sample("openai_models.json")).next_cursor is None


def test_single_hub_model_body_is_read_like_a_list_item():
    single = _sample("huggingface_models.json")[0]
    page = parse_models("huggingface", single)
    assert [m.model_id for m in page.models] == ["meta-llama/Llama-3.1-8B-Instruct"]


# ---- configurable rules -----------------------------------------------------------------


def test_rules_are_configurable():
    strict = StabilityRules(pinned=(r"-\d{4}-\d{2}-\d{2}$",))  # dates only, no Anthropic policy
    assert classify_stability("claude-opus-4-6", rules=strict)[0] == "alias"
    assert classify_stability("claude-opus-4-6")[0] == "pinned"
    lenient = StabilityRules(preview=(), pinned=(*DEFAULT_RULES.pinned, r"^gpt-4o$"))
    assert classify_stability("gpt-4.5-preview", rules=lenient)[0] == "alias"
    assert classify_stability("gpt-4o", rules=lenient)[0] == "pinned"


def test_candidate_check_uses_the_rules_it_is_given(found):
    opus = found[("anthropic", "claude-opus-4-6")]
    assert is_candidate(opus)
    assert not is_candidate(opus, StabilityRules(pinned=(r"\d{8}$",)))


def test_preview_wins_over_a_date_and_a_revision():
    assert classify_stability("gpt-4o-realtime-preview-2024-12-17")[0] == "preview"
    assert classify_stability("org/model-alpha", revision="abc123")[0] == "preview"
    assert classify_stability("gemini-exp-1206")[0] == "preview"
    assert classify_stability("mixtral-8x7b-expert")[0] == "alias"  # "exp" inside a word


def test_invalid_rule_regex_is_invalid_input():
    with pytest.raises(InvalidInput, match="not a valid regex"):
        classify_stability("gpt-4o", rules=StabilityRules(alias=("(unclosed",)))


# ---- garbage ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("provider", "payload"),
    [
        ("openai", "not json object"),
        ("openai", {"data": "nope"}),
        ("openai", {"models": []}),
        ("ollama", {"data": []}),
        ("anthropic", None),
        ("huggingface", 42),
        ("openrouter", [{"id": "x"}]),
    ],
)
def test_wrong_envelope_is_invalid_input_naming_the_provider(provider, payload):
    with pytest.raises(InvalidInput, match=provider):
        parse_models(provider, payload)


def test_unknown_provider_is_invalid_input():
    with pytest.raises(InvalidInput, match="unknown provider 'azure'"):
        parse_models("azure", {"data": []})


def test_bad_items_are_skipped_with_a_reason_and_good_ones_kept():
    payload = {
        "data": [
            "gpt-4o",
            {"object": "model"},
            {"id": 7},
            {"id": "gpt-x-2025-01-01", "shutdown_date": "soon"},
            {"id": "gpt-4o-2024-08-06", "shutdown_date": None},
        ]
    }
    page = parse_models("openai", payload)
    assert [m.model_id for m in page.models] == ["gpt-4o-2024-08-06"]
    reasons = {s.ref: s.reason for s in page.skipped}
    assert reasons["item 0"] == "expected an object, got str"
    assert "no model id" in reasons["item 1"] and "no model id" in reasons["item 2"]
    assert "shutdown_date is 'soon'" in reasons["item 3 (gpt-x-2025-01-01)"]


@pytest.mark.parametrize(
    ("provider", "item", "field"),
    [
        ("openrouter", {"id": "a/b", "pricing": {"prompt": "cheap"}}, "pricing.prompt"),
        ("openrouter", {"id": "a/b", "pricing": "free"}, "pricing"),
        ("openrouter", {"id": "a/b", "context_length": "128k"}, "context_length"),
        ("anthropic", {"id": "claude-x", "max_tokens": -5}, "max_tokens"),
        ("anthropic", {"id": "claude-x", "retires_at": 1700000000}, "retires_at"),
        ("ollama", {"name": "m:1", "details": ["llama"]}, "details"),
        ("huggingface", {"id": "o/m", "pipeline_tag": ["text-generation"]}, "pipeline_tag"),
    ],
)
def test_wrong_field_type_skips_the_item_naming_the_field(provider, item, field):
    envelope = {"ollama": "models"}.get(provider, "data")
    payload = [item] if provider == "huggingface" else {envelope: [item]}
    page = parse_models(provider, payload)
    assert page.models == ()
    assert page.skipped[0].reason.startswith(f"{field} is ")


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=20,
)
_item_keys = st.sampled_from(
    ["id", "name", "modelId", "digest", "sha", "pipeline_tag", "details", "pricing", "architecture",
     "context_length", "top_provider", "max_tokens", "max_input_tokens", "capabilities",
     "lifecycle", "retires_at", "deprecated_at", "shutdown_date", "expiration_date", "disabled"]
)
_items = st.dictionaries(_item_keys, _json, max_size=8)


@settings(max_examples=150, deadline=None)
@given(
    provider=st.sampled_from(sorted(FILES)),
    items=st.lists(_items | _json, max_size=5),
    envelope=st.sampled_from(["data", "models", None]),
)
def test_no_listing_crashes_the_parser(provider, items, envelope):
    payload = items if envelope is None else {envelope: items, "links": {"next": 3}, "has_more": True}
    try:
        page = parse_models(provider, payload)
    except InvalidInput:
        return
    expected = 1 if provider == "huggingface" and envelope is not None else len(items)
    assert len(page.models) + len(page.skipped) == expected  # every item kept or explained
    for model in page.models:
        assert model.stability in ("pinned", "alias", "preview")
        assert model.chat_usable == (model.not_chat_reason is None)
