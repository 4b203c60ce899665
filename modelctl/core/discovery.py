"""Providers' list-models responses, normalised into what a rollout needs to know.

Every provider answers "which models exist" in its own shape. This module turns one decoded
response body into `DiscoveredModel`s that say whether a model can serve chat at all (and why
not) and whether its id is a fixed snapshot that is safe to evaluate and roll out (`pinned`), a
name the provider may repoint (`alias`), or an unreleased build (`preview`). Fetching and paging
belong to providers/; this module only reads bodies.

Stability, first rule that applies:
1. preview: the id matches a `StabilityRules.preview` pattern (-preview, -exp, -beta, -alpha).
2. pinned: the provider gave a content revision (Ollama digest, Hugging Face commit sha).
3. alias: the id matches an alias pattern (-latest, :latest, Anthropic's -4-0 style).
4. pinned: the id matches a pinned pattern (a date: -2024-08-06, -20241022, -0125; Anthropic
   ids from the 4.6 generation on, which are snapshots although undated).
5. alias: any other undated id.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from functools import lru_cache
from typing import Any

from modelctl.core.catalog import ModelSpec
from modelctl.errors import InvalidInput

PROVIDERS = ("openai", "anthropic", "ollama", "huggingface", "openrouter")
STABILITIES = ("pinned", "alias", "preview")
LONG_CONTEXT_TOKENS = 100_000


@dataclass(frozen=True, slots=True)
class StabilityRules:
    """Regexes (searched case-insensitively in the model id) that decide stability."""

    preview: tuple[str, ...] = (
        r"preview",
        r"(^|[-_.])exp(erimental)?(\d|[-_.:]|$)",
        r"(^|[-_.])beta\d*([-_.]|$)",
        r"(^|[-_.])alpha\d*([-_.]|$)",
    )
    alias: tuple[str, ...] = (
        r"(^|[-_.:/~])latest$",
        r"(^|/)claude-[a-z0-9-]*-\d+-0$",
    )
    pinned: tuple[str, ...] = (
        r"[-_@]\d{4}-\d{2}-\d{2}$",
        r"[-_@]20\d{6}(-v\d+(:\d+)?)?$",
        r"-\d{4}$",
        r"(^|/)claude-[a-z]+-(4[-.]([6-9]|[1-9]\d)|([5-9]|[1-9]\d)([-.]\d+)?)$",
    )


DEFAULT_RULES = StabilityRules()

# Ids that name a non-chat endpoint, whatever the provider says about them.
_NOT_CHAT = tuple(
    (re.compile(pattern, re.I), reason)
    for pattern, reason in (
        (r"embed", "embedding model"),
        (r"moderation", "moderation model"),
        (r"(^|[-_./])tts([-_.]|$)", "text-to-speech model"),
        (r"whisper|transcribe", "speech-to-text model"),
        (r"dall-e|gpt-image|imagen|stable-diffusion|(^|[-_/])sdxl", "image generation model"),
        (r"realtime", "realtime (WebSocket) model"),
        (r"audio", "audio model: expects audio input or output"),
        (r"(^|[-_./])search([-_.]|$)", "web search model"),
        (r"sora", "video generation model"),
        (r"rerank", "reranking model"),
        (r"^(babbage|davinci|ada|curie)(-|$)", "legacy completions-only model"),
    )
)
_HF_CHAT_TASKS = ("text-generation", "image-text-to-text")
_OLLAMA_EMBEDDING_FAMILIES = ("bert", "nomic-bert")


@dataclass(frozen=True, slots=True)
class DiscoveredModel:
    """One listed model plus the catalog fields its provider's listing states (None: not stated)."""

    model_id: str
    provider: str
    chat_usable: bool
    not_chat_reason: str | None
    stability: str
    stability_reason: str
    display_name: str | None = None
    # Ollama digest or Hugging Face commit: what "pinned" pins when the id alone does not.
    revision: str | None = None
    max_context_tokens: int | None = None
    max_output_tokens: int | None = None
    input_cost_per_1k: float | None = None
    output_cost_per_1k: float | None = None
    multimodal: bool | None = None
    # when the provider announced the deprecation (Anthropic deprecated_at)
    deprecated_at: date | None = None
    # when calls stop working: OpenAI shutdown_date, Anthropic retires_at,
    # OpenRouter expiration_date
    deprecation_date: date | None = None

    def to_spec(self) -> ModelSpec:
        """A catalog record for a newly found model: a candidate until a rollout promotes it."""
        caps: set[str] = set()
        if self.chat_usable:
            caps.update(("text_generation", "streaming"))
        if self.multimodal:
            caps.add("multimodal")
        if self.max_context_tokens is not None and self.max_context_tokens >= LONG_CONTEXT_TOKENS:
            caps.add("long_context")
        return ModelSpec(
            model_id=self.model_id,
            provider=self.provider,
            status="candidate",
            capabilities=frozenset(caps),
            max_context_tokens=self.max_context_tokens,
            max_output_tokens=self.max_output_tokens,
            input_cost_per_1k=self.input_cost_per_1k,
            output_cost_per_1k=self.output_cost_per_1k,
            source="discovered",
            deprecation_date=self.deprecation_date,
        )


@dataclass(frozen=True, slots=True)
class SkippedItem:
    """A list item that could not be read; `ref` is "item 3" or "item 3 (model-id)"."""

    ref: str
    reason: str


@dataclass(frozen=True, slots=True)
class DiscoveryPage:
    """One response body, read: the models, the items skipped, and where the next page starts."""

    provider: str
    models: tuple[DiscoveredModel, ...]
    skipped: tuple[SkippedItem, ...]
    # Anthropic: the after_id for the next request; OpenRouter: links.next. None: last page.
    next_cursor: str | None


def parse_models(
    provider: str, payload: object, *, rules: StabilityRules = DEFAULT_RULES
) -> DiscoveryPage:
    """Normalise one decoded list-models body; bad items are skipped, each with its reason.

    Raises InvalidInput when the body as a whole is not the provider's list shape.
    """
    parser = _PARSERS.get(provider)
    if parser is None:
        raise InvalidInput(f"unknown provider {provider!r}; expected one of {', '.join(PROVIDERS)}")
    items, next_cursor = _LISTS[provider](payload)
    models: list[DiscoveredModel] = []
    skipped: list[SkippedItem] = []
    for index, item in enumerate(items):
        ref = f"item {index}"
        try:
            if not isinstance(item, Mapping):
                raise _Skip(f"expected an object, got {type(item).__name__}")
            model_id = _model_id(provider, item)
            ref = f"item {index} ({model_id})"
            fields = parser(item)
        except _Skip as skip:
            skipped.append(SkippedItem(ref, str(skip)))
            continue
        models.append(_build(provider, model_id, fields, rules))
    return DiscoveryPage(provider, tuple(models), tuple(skipped), next_cursor)


def classify_stability(
    model_id: str, *, revision: str | None = None, rules: StabilityRules = DEFAULT_RULES
) -> tuple[str, str]:
    """(stability, one-line explanation) by the rules in the module docstring."""
    preview, alias, pinned = _compiled(rules)
    if (match := _first(preview, model_id)) is not None:
        return "preview", f"{match!r} in the id marks an unreleased or experimental build"
    if revision:
        return "pinned", f"pinned by revision {revision[:12]}: the name may move, this copy cannot"
    if (match := _first(alias, model_id)) is not None:
        return "alias", f"{match!r} is a moving alias the provider repoints to newer snapshots"
    if (match := _first(pinned, model_id)) is not None:
        return "pinned", f"{match!r} names a fixed snapshot"
    return "alias", "no date or revision: the provider may point this name at a newer snapshot"


def is_candidate(model: DiscoveredModel, rules: StabilityRules = DEFAULT_RULES) -> bool:
    """Worth a shadow rollout: serves chat, is a fixed snapshot, and has no end date announced."""
    stability, _ = classify_stability(model.model_id, revision=model.revision, rules=rules)
    return (
        model.chat_usable
        and stability == "pinned"
        and model.deprecation_date is None
        and model.deprecated_at is None
    )


class _Skip(Exception):
    pass


@lru_cache(maxsize=8)
def _compiled(rules: StabilityRules) -> tuple[tuple[re.Pattern[str], ...], ...]:
    try:
        return tuple(
            tuple(re.compile(p, re.I) for p in group)
            for group in (rules.preview, rules.alias, rules.pinned)
        )
    except re.error as exc:
        raise InvalidInput(f"stability rule {exc.pattern!r} is not a valid regex: {exc}") from None


def _first(patterns: tuple[re.Pattern[str], ...], text: str) -> str | None:
    for pattern in patterns:
        if match := pattern.search(text):
            return match.group(0).strip("-_.:/~@") or match.group(0)
    return None


def _build(provider: str, model_id: str, fields: dict[str, Any], rules: StabilityRules) -> DiscoveredModel:
    reason = fields.pop("not_chat_reason", None)
    if reason is None:
        reason = next((why for pattern, why in _NOT_CHAT if pattern.search(model_id)), None)
    stability, why = classify_stability(model_id, revision=fields.get("revision"), rules=rules)
    return DiscoveredModel(
        model_id=model_id,
        provider=provider,
        chat_usable=reason is None,
        not_chat_reason=reason,
        stability=stability,
        stability_reason=why,
        **fields,
    )


# ---- list envelopes: payload -> (items, next cursor) -------------------------------------


def _data_list(provider: str, payload: object, key: str) -> list[Any]:
    if not isinstance(payload, Mapping) or not isinstance(payload.get(key), list):
        raise InvalidInput(
            f"{provider} list-models response: expected an object with a {key!r} list, "
            f"got {_describe(payload)}"
        )
    items: list[Any] = payload[key]
    return items


def _openai_list(payload: object) -> tuple[list[Any], str | None]:
    return _data_list("openai", payload, "data"), None


def _anthropic_list(payload: object) -> tuple[list[Any], str | None]:
    items = _data_list("anthropic", payload, "data")
    assert isinstance(payload, Mapping)  # _data_list refused anything else
    last_id = payload.get("last_id")
    more = payload.get("has_more") is True
    return items, last_id if more and isinstance(last_id, str) else None


def _ollama_list(payload: object) -> tuple[list[Any], str | None]:
    return _data_list("ollama", payload, "models"), None


def _huggingface_list(payload: object) -> tuple[list[Any], str | None]:
    # /api/models answers a bare array (next page in the Link header); /api/models/{id} one object
    if isinstance(payload, list):
        return payload, None
    if isinstance(payload, Mapping):
        return [payload], None
    raise InvalidInput(
        f"huggingface models response: expected an array of models or one model object, "
        f"got {_describe(payload)}"
    )


def _openrouter_list(payload: object) -> tuple[list[Any], str | None]:
    items = _data_list("openrouter", payload, "data")
    assert isinstance(payload, Mapping)  # _data_list refused anything else
    links = payload.get("links")
    nxt = links.get("next") if isinstance(links, Mapping) else None
    return items, nxt if isinstance(nxt, str) and nxt else None


# ---- items: provider object -> DiscoveredModel fields ------------------------------------


def _model_id(provider: str, item: Mapping[str, Any]) -> str:
    keys = {"ollama": ("name", "model"), "huggingface": ("id", "modelId")}.get(provider, ("id",))
    for key in keys:
        value = item.get(key)
        if isinstance(value, str) and value.strip():
            return value.strip()
    raise _Skip(f"no model id (expected a non-empty string in {' or '.join(keys)})")


def _openai_item(item: Mapping[str, Any]) -> dict[str, Any]:
    return {"deprecation_date": _date(item, "shutdown_date")}


def _anthropic_item(item: Mapping[str, Any]) -> dict[str, Any]:
    lifecycle = _text(item, "lifecycle")
    capabilities = _object(item, "capabilities")
    image = capabilities.get("image_input") if capabilities else None
    fields = {
        "display_name": _text(item, "display_name"),
        "max_context_tokens": _positive_int(item, "max_input_tokens"),
        "max_output_tokens": _positive_int(item, "max_tokens"),
        "multimodal": image.get("supported") is True if isinstance(image, Mapping) else None,
        "deprecated_at": _date(item, "deprecated_at"),
        "deprecation_date": _date(item, "retires_at"),
    }
    if lifecycle == "retired":
        fields["not_chat_reason"] = "retired: Anthropic fails every request to it"
    return fields


def _ollama_item(item: Mapping[str, Any]) -> dict[str, Any]:
    details = _object(item, "details") or {}
    families = details.get("families")
    families = [f for f in families if isinstance(f, str)] if isinstance(families, list) else []
    if isinstance(details.get("family"), str):
        families.append(details["family"])
    fields: dict[str, Any] = {"revision": _text(item, "digest")}
    if any(f in _OLLAMA_EMBEDDING_FAMILIES for f in families):
        fields["not_chat_reason"] = "embedding model (BERT family)"
    if any(f in ("clip", "mllama") for f in families):
        fields["multimodal"] = True
    return fields


def _huggingface_item(item: Mapping[str, Any]) -> dict[str, Any]:
    task = _text(item, "pipeline_tag")
    fields: dict[str, Any] = {"revision": _text(item, "sha"), "multimodal": task == "image-text-to-text"}
    if item.get("disabled") is True:
        fields["not_chat_reason"] = "disabled on the Hub"
    elif task is None:
        fields["not_chat_reason"] = "no pipeline_tag: the Hub does not say what task it serves"
    elif task not in _HF_CHAT_TASKS:
        fields["not_chat_reason"] = f"pipeline_tag {task!r} is not text generation"
    return fields


def _openrouter_item(item: Mapping[str, Any]) -> dict[str, Any]:
    pricing = _object(item, "pricing") or {}
    arch = _object(item, "architecture") or {}
    top = _object(item, "top_provider") or {}
    inputs = _modalities(arch, "input_modalities", 0)
    outputs = _modalities(arch, "output_modalities", 1)
    fields: dict[str, Any] = {
        "display_name": _text(item, "name"),
        "max_context_tokens": _positive_int(item, "context_length"),
        "max_output_tokens": _positive_int(top, "max_completion_tokens"),
        "input_cost_per_1k": _price_per_1k(pricing, "prompt"),
        "output_cost_per_1k": _price_per_1k(pricing, "completion"),
        "multimodal": bool({"image", "file", "audio", "video"} & set(inputs)) if inputs else None,
        "deprecation_date": _date(item, "expiration_date"),
    }
    if outputs and "text" not in outputs:
        fields["not_chat_reason"] = f"outputs {'/'.join(outputs)}, not text"
    return fields


def _modalities(arch: Mapping[str, Any], key: str, side: int) -> list[str]:
    value = arch.get(key)
    if isinstance(value, list):
        return [m for m in value if isinstance(m, str)]
    modality = arch.get("modality")  # older shape: "text+image->text"
    if isinstance(modality, str) and "->" in modality:
        return modality.split("->")[side].split("+")
    return []


_LISTS = {
    "openai": _openai_list,
    "anthropic": _anthropic_list,
    "ollama": _ollama_list,
    "huggingface": _huggingface_list,
    "openrouter": _openrouter_list,
}
_PARSERS = {
    "openai": _openai_item,
    "anthropic": _anthropic_item,
    "ollama": _ollama_item,
    "huggingface": _huggingface_item,
    "openrouter": _openrouter_item,
}


# ---- field readers: a wrong type skips the item with the field named ----------------------


def _describe(value: object) -> str:
    if isinstance(value, Mapping):
        return f"an object with keys {sorted(map(str, value))[:5]}"
    return type(value).__name__


def _text(item: Mapping[str, Any], key: str) -> str | None:
    value = item.get(key)
    if value is None or isinstance(value, str):
        return value
    raise _Skip(f"{key} is {value!r}, expected a string")


def _object(item: Mapping[str, Any], key: str) -> Mapping[str, Any] | None:
    value = item.get(key)
    if value is None or isinstance(value, Mapping):
        return value
    raise _Skip(f"{key} is {value!r}, expected an object")


def _positive_int(item: Mapping[str, Any], key: str) -> int | None:
    """Token limits; 0 means "not stated" (Anthropic's documented example sends 0)."""
    value = item.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise _Skip(f"{key} is {value!r}, expected a whole number of tokens")
    return value or None


def _price_per_1k(pricing: Mapping[str, Any], key: str) -> float | None:
    """OpenRouter prices are USD per token as decimal strings; "-1" means variable (a router)."""
    value = pricing.get(key)
    if value is None:
        return None
    try:
        per_token = float(value) if isinstance(value, str | int | float) else math.nan
    except (ValueError, OverflowError):
        per_token = math.nan
    if isinstance(value, bool) or not math.isfinite(per_token * 1000):
        raise _Skip(f"pricing.{key} is {value!r}, expected USD per token as a number")
    return None if per_token < 0 else round(per_token * 1000, 12)


def _date(item: Mapping[str, Any], key: str) -> date | None:
    value = item.get(key)
    if value is None:
        return None
    if isinstance(value, str):
        try:
            if len(value) == 10:
                return date.fromisoformat(value)
            return datetime.fromisoformat(value).date()
        except ValueError:
            pass
    raise _Skip(f"{key} is {value!r}, expected a date (YYYY-MM-DD or RFC 3339)")
