"""The LiteLLM price map: parsing, lookup, import and sync diffs; and the bundled catalog it prices."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
import yaml

from modelctl.core import pricemap
from modelctl.core.catalog import CAPABILITIES, STATUSES, ModelSpec
from modelctl.errors import InvalidInput

MODELS_YAML = Path(__file__).resolve().parents[2] / "config" / "models.yaml"

# A handmade map in LiteLLM's shape: one entry per lookup rule and per import outcome.
RAW = {
    "sample_spec": {"input_cost_per_token": "cost per token", "max_input_tokens": "max input"},
    "gpt-4o-2024-08-06": {
        "litellm_provider": "openai", "mode": "chat",
        "input_cost_per_token": 2.5e-06, "output_cost_per_token": 1e-05,
        "max_input_tokens": 128000, "max_output_tokens": 16384,
        "supports_vision": True, "supports_function_calling": True,
        "deprecation_date": "2027-01-14", "successor_model": "gpt-6-luna",
    },
    "gpt-3.5-turbo-0125": {
        "litellm_provider": "openai", "mode": "chat",
        "input_cost_per_token": 5e-07, "output_cost_per_token": 1.5e-06,
        "max_input_tokens": 16385, "max_output_tokens": 4096, "supports_function_calling": True,
        "deprecation_date": "2026-10-23", "successor_model": "gpt-5.6-terra",
    },
    "claude-haiku-4-5-20251001": {
        "litellm_provider": "anthropic", "mode": "chat",
        "input_cost_per_token": 1e-06, "output_cost_per_token": 5e-06,
        "max_input_tokens": 200000, "max_output_tokens": 64000, "supports_vision": True,
    },
    "anthropic/claude-3-5-sonnet-20241022": {
        "litellm_provider": "anthropic", "mode": "chat",
        "input_cost_per_token": 3e-06, "output_cost_per_token": 1.5e-05, "max_tokens": 200000,
    },
    "claude-sonnet-latest": {"alias_of": "claude-haiku-4-5-20251001"},
    "loop-a": {"alias_of": "loop-b"},
    "loop-b": {"alias_of": "loop-a"},
    "bedrock-only-model": {
        "litellm_provider": "bedrock", "mode": "chat",
        "input_cost_per_token": 8e-07, "output_cost_per_token": 4e-06,
    },
    "openrouter/openai/gpt-4o": {
        "litellm_provider": "openrouter", "mode": "chat",
        "input_cost_per_token": 2.5e-06, "output_cost_per_token": 1e-05, "max_input_tokens": 128000,
    },
    "ollama/llama3.1": {
        "litellm_provider": "ollama", "mode": "chat",
        "input_cost_per_token": 0.0, "output_cost_per_token": 0.0, "max_input_tokens": 8192,
    },
    "ollama/llama3:70b": {
        "litellm_provider": "ollama", "mode": "chat",
        "input_cost_per_token": 0, "output_cost_per_token": 0, "max_input_tokens": 8192,
    },
    "ollama/llama3": {
        "litellm_provider": "ollama", "mode": "chat",
        "input_cost_per_token": 0, "output_cost_per_token": 0, "max_input_tokens": 4096,
    },
    "text-embedding-3-large": {
        "litellm_provider": "openai", "mode": "embedding", "input_cost_per_token": 1.3e-07,
    },
}


@pytest.fixture(scope="module")
def entries() -> dict[str, pricemap.PriceEntry]:
    return pricemap.parse_price_map(RAW)


# ---- parsing ------------------------------------------------------------------------------


def test_parse_reads_every_model_and_ignores_the_sample_spec(entries):
    assert "sample_spec" not in entries
    assert len(entries) == len(RAW) - 1
    gpt = entries["gpt-4o-2024-08-06"]
    assert (gpt.provider, gpt.mode, gpt.max_input_tokens, gpt.max_output_tokens) == (
        "openai", "chat", 128000, 16384,
    )
    assert gpt.supports_vision is True and gpt.supports_function_calling is True
    assert gpt.deprecation_date == date(2027, 1, 14) and gpt.successor == "gpt-6-luna"


def test_per_token_prices_become_exact_per_1k_prices(entries):
    gpt = entries["gpt-4o-2024-08-06"]
    assert gpt.input_cost_per_1k == 0.0025  # not 0.0025000000000000005
    assert gpt.output_cost_per_1k == 0.01
    assert entries["ollama/llama3.1"].input_cost_per_1k == 0.0  # free is a price, not "unpriced"
    assert entries["bedrock-only-model"].max_input_tokens is None


def test_context_window_falls_back_to_max_tokens(entries):
    assert entries["anthropic/claude-3-5-sonnet-20241022"].context_window == 200000
    assert entries["gpt-4o-2024-08-06"].context_window == 128000


@pytest.mark.parametrize(
    ("field", "value", "expected"),
    [
        ("input_cost_per_token", -1e-06, "zero or more"),
        ("output_cost_per_token", "0.00001", "a number"),
        ("input_cost_per_token", True, "a number"),
        ("input_cost_per_token", float("nan"), "a number"),
        ("max_input_tokens", "lots", "whole number"),
        ("deprecation_date", "next spring", "YYYY-MM-DD"),
        ("supports_vision", "yes", "true or false"),
    ],
)
def test_invalid_entry_names_the_key_and_the_field(field, value, expected):
    raw = {"good": RAW["gpt-4o-2024-08-06"], "broken-model": {**RAW["gpt-4o-2024-08-06"], field: value}}
    with pytest.raises(InvalidInput) as excinfo:
        pricemap.parse_price_map(raw)
    message = str(excinfo.value)
    assert "'broken-model'" in message and field in message and expected in message


def test_map_that_is_not_an_object_of_objects_is_invalid_input():
    with pytest.raises(InvalidInput):
        pricemap.parse_price_map(["gpt-4o"])  # type: ignore[arg-type]  # the wrong type is the test
    with pytest.raises(InvalidInput, match="'gpt-4o'"):
        pricemap.parse_price_map({"gpt-4o": 0.01})


# ---- lookup -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("model_id", "provider", "key"),
    [
        ("gpt-4o-2024-08-06", "openai", "gpt-4o-2024-08-06"),  # bare id, same provider
        ("gpt-4o-2024-08-06", "anthropic", None),  # bare id of another provider is not ours
        ("claude-3-5-sonnet-20241022", "anthropic", "anthropic/claude-3-5-sonnet-20241022"),
        ("anthropic/claude-3-5-sonnet-20241022", "anthropic", "anthropic/claude-3-5-sonnet-20241022"),
        ("openai/gpt-4o", "openrouter", "openrouter/openai/gpt-4o"),
        ("bedrock-only-model", "anthropic", None),
        ("llama3.1:8b", "ollama", "ollama/llama3.1"),  # a tag of an untagged local entry
        ("llama3:70b", "ollama", "ollama/llama3:70b"),  # an exact tag wins over the untagged name
        ("llama3:latest", "ollama", "ollama/llama3"),
        ("claude-sonnet-latest", "anthropic", "claude-haiku-4-5-20251001"),  # alias resolved
        ("no-such-model", "openai", None),
    ],
)
def test_lookup(entries, model_id, provider, key):
    found = pricemap.lookup(entries, model_id, provider)
    assert (found.key if found else None) == key


def test_alias_cycle_ends_instead_of_hanging(entries):
    assert pricemap.lookup(entries, "loop-a", "openai") is None


# ---- import -------------------------------------------------------------------------------


def test_chat_entry_becomes_a_catalog_spec(entries):
    spec = pricemap.to_model_spec(entries["gpt-4o-2024-08-06"], today=date(2026, 11, 28))
    assert spec == ModelSpec(
        model_id="gpt-4o-2024-08-06",
        provider="openai",
        family="gpt-4o",
        version="2024-08-06",
        status="stable",
        capabilities=frozenset(
            {"text_generation", "streaming", "multimodal", "function_calling", "tool_use", "long_context"}
        ),
        max_context_tokens=128000,
        max_output_tokens=16384,
        input_cost_per_1k=0.0025,
        output_cost_per_1k=0.01,
        source="import",
        deprecation_date=date(2027, 1, 14),
        successor="gpt-6-luna",
    )


def test_past_deprecation_date_imports_as_deprecated(entries):
    entry = entries["gpt-3.5-turbo-0125"]
    assert pricemap.to_model_spec(entry, today=date(2026, 11, 28)).status == "deprecated"
    assert pricemap.to_model_spec(entry, today=date(2026, 10, 1)).status == "stable"


def test_provider_prefix_is_not_part_of_the_model_id_and_local_models_are_fast(entries):
    claude = pricemap.to_model_spec(entries["anthropic/claude-3-5-sonnet-20241022"])
    assert (claude.model_id, claude.family, claude.version) == (
        "claude-3-5-sonnet-20241022", "claude-3-5-sonnet", "20241022",
    )
    assert "long_context" in claude.capabilities and "multimodal" not in claude.capabilities
    llama = pricemap.to_model_spec(entries["ollama/llama3.1"])
    assert llama.model_id == "llama3.1" and "fast_inference" in llama.capabilities
    assert llama.priced and llama.cost_usd(1000, 1000) == 0.0


def test_non_chat_entry_cannot_become_a_spec(entries):
    with pytest.raises(InvalidInput, match="embedding"):
        pricemap.to_model_spec(entries["text-embedding-3-large"])


def test_import_keeps_chat_models_of_known_providers_and_says_why_others_were_left_out():
    specs, skipped = pricemap.specs_from_map(RAW, source="prices.json", today=date(2026, 11, 28))
    assert sorted(s.model_id for s in specs) == [
        "claude-3-5-sonnet-20241022", "claude-haiku-4-5-20251001", "gpt-3.5-turbo-0125",
        "gpt-4o-2024-08-06", "llama3", "llama3.1", "llama3:70b", "openai/gpt-4o",
    ]
    reasons = "\n".join(skipped)
    assert len(skipped) == 5  # embedding, bedrock, and three aliases
    assert "'text-embedding-3-large' skipped: mode 'embedding' is not a chat model" in reasons
    assert "'bedrock-only-model' skipped: provider 'bedrock'" in reasons
    assert "'claude-sonnet-latest' skipped: alias of 'claude-haiku-4-5-20251001'" in reasons
    assert all(line.startswith("prices.json: ") for line in skipped)


def test_import_stops_at_an_invalid_entry_unless_told_to_skip_it():
    raw = {**RAW, "bad-price": {"litellm_provider": "openai", "mode": "chat", "input_cost_per_token": -1}}
    with pytest.raises(InvalidInput, match=r"prices\.json: .*'bad-price'.*input_cost_per_token"):
        pricemap.specs_from_map(raw, source="prices.json")
    specs, skipped = pricemap.specs_from_map(raw, source="prices.json", skip_invalid=True)
    assert "bad-price" not in {s.model_id for s in specs}
    assert any("'bad-price'" in line and "input_cost_per_token" in line for line in skipped)


# ---- sync diff ----------------------------------------------------------------------------


def test_diff_is_empty_when_the_catalog_agrees_with_the_map(entries):
    entry = entries["gpt-4o-2024-08-06"]
    assert pricemap.diff_prices(pricemap.to_model_spec(entry), entry) == {}


def test_diff_names_each_changed_field_with_old_and_new_values(entries):
    spec = ModelSpec(
        model_id="gpt-4o-2024-08-06",
        provider="openai",
        capabilities=frozenset({"text_generation", "function_calling", "tool_use", "long_context"}),
        max_context_tokens=128000,
        max_output_tokens=4096,
        input_cost_per_1k=0.005,
        output_cost_per_1k=0.01,
        successor="gpt-4.1",
    )
    assert pricemap.diff_prices(spec, entries["gpt-4o-2024-08-06"]) == {
        "input_cost_per_1k": (0.005, 0.0025),
        "max_output_tokens": (4096, 16384),
        "capabilities.multimodal": (False, True),
        "deprecation_date": (None, date(2027, 1, 14)),
        "successor": ("gpt-4.1", "gpt-6-luna"),
    }


def test_diff_leaves_alone_what_the_map_does_not_state(entries):
    spec = ModelSpec(
        model_id="bedrock-only-model",
        provider="bedrock",
        capabilities=frozenset({"multimodal"}),
        max_context_tokens=200000,
        input_cost_per_1k=0.0008,
        output_cost_per_1k=0.004,
        deprecation_date=date(2027, 1, 1),
        successor="other",
    )
    assert pricemap.diff_prices(spec, entries["bedrock-only-model"]) == {}


def test_diff_reports_a_price_becoming_known(entries):
    spec = ModelSpec(model_id="llama3.1", provider="ollama")
    diff = pricemap.diff_prices(spec, entries["ollama/llama3.1"])
    assert diff["input_cost_per_1k"] == (None, 0.0)
    assert diff["max_context_tokens"] == (None, 8192)
    assert "capabilities.long_context" not in diff  # 8k is short context, as the catalog had it


# ---- the bundled catalog (config/models.yaml) -------------------------------------------

REQUIRED_IDS = {
    "gpt-4o-2024-08-06",
    "claude-3-5-sonnet-20241022",
    "gpt-3.5-turbo-0125",
    "gpt-4o-mini-2024-07-18",
    "claude-3-5-haiku-20241022",
}
MODEL_KEYS = {
    "model_id", "provider", "family", "version", "status", "capabilities", "performance",
    "costs", "limits", "is_refiner",
}
OPTIONAL_KEYS = {"deprecation_date", "successor"}


@pytest.fixture(scope="module")
def bundled() -> list[dict]:
    return yaml.safe_load(MODELS_YAML.read_text(encoding="utf-8"))["models"]


def test_bundled_catalog_ships_every_model_the_original_policies_name(bundled):
    ids = [m["model_id"] for m in bundled]
    assert set(ids) >= REQUIRED_IDS
    assert len(ids) == len(set(ids))
    assert {m["provider"] for m in bundled} == set(pricemap.PROVIDERS) - {"openrouter"}


def test_bundled_catalog_entries_have_every_field_with_a_sane_value(bundled):
    for model in bundled:
        where = model.get("model_id")
        assert MODEL_KEYS <= set(model) <= MODEL_KEYS | OPTIONAL_KEYS, where
        assert model["provider"] in pricemap.PROVIDERS, where
        assert model["status"] in STATUSES, where
        assert isinstance(model["version"], str) and model["family"], where
        assert set(model["capabilities"]) == set(CAPABILITIES), where
        assert all(isinstance(v, bool) for v in model["capabilities"].values()), where
        perf = model["performance"]
        assert set(perf) == {"avg_ttft_ms", "avg_completion_ms", "success_rate", "quality_score"}, where
        assert 0 < perf["avg_ttft_ms"] < perf["avg_completion_ms"], where
        assert 0 <= perf["success_rate"] <= 1 and 0 <= perf["quality_score"] <= 1, where
        costs = model["costs"]
        assert costs["currency"] == "USD", where
        # floats, not strings: YAML 1.1 reads "2e-05" as text
        assert isinstance(costs["input_tokens_per_1k"], float) and costs["input_tokens_per_1k"] >= 0, where
        assert isinstance(costs["output_tokens_per_1k"], float) and costs["output_tokens_per_1k"] >= 0, where
        limits = model["limits"]
        assert limits["max_context_tokens"] > 0 and limits["max_output_tokens"] > 0, where
        assert isinstance(model["is_refiner"], bool), where
        if "deprecation_date" in model:
            assert isinstance(model["deprecation_date"], date), where


def test_deprecated_bundled_models_name_a_successor_and_refiners_are_fast(bundled):
    deprecated = {m["model_id"]: m for m in bundled if m["status"] == "deprecated"}
    assert "gpt-3.5-turbo-0125" in deprecated
    assert all(m.get("successor") and m.get("deprecation_date") for m in deprecated.values())
    refiners = [m for m in bundled if m["is_refiner"]]
    assert {"gpt-4o-mini-2024-07-18", "claude-3-5-haiku-20241022"} <= {m["model_id"] for m in refiners}
    assert all(m["capabilities"]["fast_inference"] for m in refiners)
