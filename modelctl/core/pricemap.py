"""LiteLLM's price map (model_prices_and_context_window.json) as plain records.

The map is the one public source that prices thousands of models per token, with context windows,
capability flags and deprecation dates. `models import --format litellm` turns its chat entries
into catalog specs (`specs_from_map`); `prices sync` finds each catalog model's entry (`lookup`)
and compares (`diff_prices`). The caller reads the file; `load_json_map` parses it.

Lookup rules (`lookup`), first hit wins:
1. `<provider>/<model_id>`: "anthropic/claude-x", "ollama/llama3.1:8b",
   "openrouter/openai/gpt-4o" (OpenRouter ids already carry their vendor), "huggingface/org/name".
2. the bare `<model_id>`, only if the entry's `litellm_provider` is the same provider: the map
   keeps one namespace for every reseller, so a bare id priced for another provider is not ours.
3. Ollama only: `ollama/<name>` for `<name>:<tag>`. A tag picks a size or quantisation of one
   model; the map lists most local models untagged (the default tag), all at price 0.
A model id that already starts with "<provider>/" is read without that prefix. Entries that are
`{"alias_of": key}` resolve to their target, so "claude-sonnet-latest" answers with the entry it
currently means (check `entry.key`).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date

from modelctl.core.catalog import ModelSpec
from modelctl.errors import InvalidInput

# Providers modelctl has adapters for; entries of other resellers are skipped on import.
PROVIDERS = ("openai", "anthropic", "ollama", "huggingface", "openrouter")
LONG_CONTEXT_TOKENS = 100_000
_FAST_NAME = re.compile(r"(^|[-_./:])(mini|nano|haiku|small|flash|lite|instant)([-_./:]|$)", re.I)
_DATE_SUFFIX = re.compile(r"[-@](\d{4}-\d{2}-\d{2}|\d{8}|\d{4})$")


@dataclass(frozen=True, slots=True)
class PriceEntry:
    """One map entry, costs per token as the map gives them; None where the map is silent."""

    key: str
    provider: str | None = None
    mode: str | None = None
    input_cost_per_token: float | None = None
    output_cost_per_token: float | None = None
    max_input_tokens: int | None = None
    max_tokens: int | None = None
    max_output_tokens: int | None = None
    supports_vision: bool | None = None
    supports_function_calling: bool | None = None
    deprecation_date: date | None = None
    successor: str | None = None
    alias_of: str | None = None

    @property
    def input_cost_per_1k(self) -> float | None:
        return _per_1k(self.input_cost_per_token)

    @property
    def output_cost_per_1k(self) -> float | None:
        return _per_1k(self.output_cost_per_token)

    @property
    def context_window(self) -> int | None:
        return self.max_input_tokens if self.max_input_tokens is not None else self.max_tokens


def load_json_map(text: str, *, source: str) -> dict[str, object]:
    """The map's JSON text as its raw object, with errors naming the source and line."""
    import json

    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidInput(f"{source}:{exc.lineno}: not valid JSON: {exc.msg}") from None
    if not isinstance(data, dict):
        raise InvalidInput(f"{source}: a LiteLLM price map is a JSON object of model name -> entry")
    return data


def parse_price_map(raw: Mapping[str, object]) -> dict[str, PriceEntry]:
    """Validate the whole map up front so a bad price never reaches routing or cost reports."""
    if not isinstance(raw, Mapping):
        raise InvalidInput(f"price map: expected a JSON object, got {type(raw).__name__}")
    entries: dict[str, PriceEntry] = {}
    for key, body in raw.items():
        if key == "sample_spec":
            continue
        entries[key] = _parse_entry(key, body)
    return entries


def lookup(entries: Mapping[str, PriceEntry], model_id: str, provider: str) -> PriceEntry | None:
    """The entry pricing `model_id` as `provider` serves it (rules: the module docstring)."""
    bare = model_id.removeprefix(f"{provider}/")
    found = entries.get(f"{provider}/{bare}")
    if found is None:
        entry = entries.get(bare)
        if entry is not None:
            entry = _resolve(entries, entry)
            if entry.provider == provider:
                found = entry
    if found is None and provider == "ollama" and ":" in bare:
        found = entries.get(f"ollama/{bare.partition(':')[0]}")
    return None if found is None else _resolve(entries, found)


def to_model_spec(entry: PriceEntry, *, today: date | None = None) -> ModelSpec:
    """A catalog spec from one chat entry; raises InvalidInput saying why the entry cannot be one.

    With `today`, an entry whose deprecation date has passed comes in as deprecated.
    """
    reason = _import_refusal(entry)
    if reason:
        raise InvalidInput(f"price map entry {entry.key!r}: {reason}")
    provider = str(entry.provider)
    model_id = entry.key.removeprefix(f"{provider}/")
    suffix = _DATE_SUFFIX.search(model_id)
    end = entry.deprecation_date
    deprecated = end is not None and today is not None and end <= today
    return ModelSpec(
        model_id=model_id,
        provider=provider,
        family=model_id[: suffix.start()] if suffix else model_id,
        version=suffix.group(1) if suffix else "",
        status="deprecated" if deprecated else "stable",
        capabilities=_capabilities(entry, model_id),
        max_context_tokens=entry.context_window,
        max_output_tokens=entry.max_output_tokens,
        input_cost_per_1k=entry.input_cost_per_1k,
        output_cost_per_1k=entry.output_cost_per_1k,
        source="import",
        deprecation_date=entry.deprecation_date,
        successor=entry.successor,
    )


def specs_from_map(
    raw: Mapping[str, object],
    *,
    skip_invalid: bool = False,
    source: str = "price map",
    today: date | None = None,
) -> tuple[list[ModelSpec], list[str]]:
    """`models import --format litellm`: the importable entries as specs, and one line for each
    entry left out saying why. An invalid entry raises unless `skip_invalid`."""
    if not isinstance(raw, Mapping):
        raise InvalidInput(f"{source}: expected a JSON object of entries, got {type(raw).__name__}")
    specs: list[ModelSpec] = []
    skipped: list[str] = []
    for key, body in raw.items():
        if key == "sample_spec":
            continue
        try:
            entry = _parse_entry(key, body)
        except InvalidInput as exc:
            if not skip_invalid:
                raise InvalidInput(f"{source}: {exc}") from None
            skipped.append(f"{source}: {exc}")
            continue
        reason = _import_refusal(entry)
        if reason:
            skipped.append(f"{source}: {key!r} skipped: {reason}")
        else:
            specs.append(to_model_spec(entry, today=today))
    return specs, skipped


def diff_prices(spec: ModelSpec, entry: PriceEntry) -> dict[str, tuple[object, object]]:
    """Field -> (catalog value, map value) for what the map states differently.

    A field the map does not state is left alone: silence in the map is not evidence that a
    price, limit or flag went away.
    """
    changes: dict[str, tuple[object, object]] = {}

    def compare(name: str, old: object, new: object) -> None:
        if new is None:
            return
        if isinstance(old, float) and isinstance(new, float) and math.isclose(old, new, rel_tol=1e-9):
            return
        if old != new:
            changes[name] = (old, new)

    compare("input_cost_per_1k", spec.input_cost_per_1k, entry.input_cost_per_1k)
    compare("output_cost_per_1k", spec.output_cost_per_1k, entry.output_cost_per_1k)
    compare("max_context_tokens", spec.max_context_tokens, entry.context_window)
    compare("max_output_tokens", spec.max_output_tokens, entry.max_output_tokens)
    flags = _stated_flags(entry)
    for capability, value in flags.items():
        compare(f"capabilities.{capability}", capability in spec.capabilities, value)
    compare("deprecation_date", spec.deprecation_date, entry.deprecation_date)
    compare("successor", spec.successor, entry.successor)
    return changes


def _per_1k(per_token: float | None) -> float | None:
    # round away the binary noise of *1000 (2.5e-06 * 1000 is not exactly 0.0025)
    return None if per_token is None else round(per_token * 1000, 12)


def _resolve(entries: Mapping[str, PriceEntry], entry: PriceEntry) -> PriceEntry:
    seen = {entry.key}
    while entry.alias_of is not None:
        target = entries.get(entry.alias_of)
        if target is None or target.key in seen:
            return entry
        seen.add(target.key)
        entry = target
    return entry


def _import_refusal(entry: PriceEntry) -> str | None:
    if entry.alias_of is not None:
        return f"alias of {entry.alias_of!r}; import that entry instead"
    if entry.mode != "chat":
        return f"mode {entry.mode!r} is not a chat model"
    if entry.provider not in PROVIDERS:
        return f"provider {entry.provider!r} has no modelctl adapter ({', '.join(PROVIDERS)})"
    return None


def _stated_flags(entry: PriceEntry) -> dict[str, bool]:
    flags: dict[str, bool] = {}
    if entry.supports_vision is not None:
        flags["multimodal"] = entry.supports_vision
    if entry.supports_function_calling is not None:
        flags["function_calling"] = entry.supports_function_calling
        flags["tool_use"] = entry.supports_function_calling
    if entry.context_window is not None:
        flags["long_context"] = entry.context_window >= LONG_CONTEXT_TOKENS
    return flags


def _capabilities(entry: PriceEntry, model_id: str) -> frozenset[str]:
    caps = {"text_generation", "streaming"}
    caps.update(name for name, on in _stated_flags(entry).items() if on)
    if entry.provider == "ollama" or _FAST_NAME.search(model_id):
        caps.add("fast_inference")
    return frozenset(caps)


def _parse_entry(key: str, body: object) -> PriceEntry:
    if not isinstance(body, Mapping):
        raise _bad(key, "entry", type(body).__name__, "an object")
    alias_of = body.get("alias_of")
    if alias_of is not None:
        return PriceEntry(key=key, alias_of=_text(key, "alias_of", alias_of))
    return PriceEntry(
        key=key,
        provider=_text(key, "litellm_provider", body.get("litellm_provider")),
        mode=_text(key, "mode", body.get("mode")),
        input_cost_per_token=_cost(key, "input_cost_per_token", body.get("input_cost_per_token")),
        output_cost_per_token=_cost(
            key, "output_cost_per_token", body.get("output_cost_per_token")
        ),
        max_input_tokens=_tokens(key, "max_input_tokens", body.get("max_input_tokens")),
        max_tokens=_tokens(key, "max_tokens", body.get("max_tokens")),
        max_output_tokens=_tokens(key, "max_output_tokens", body.get("max_output_tokens")),
        supports_vision=_flag(key, "supports_vision", body.get("supports_vision")),
        supports_function_calling=_flag(
            key, "supports_function_calling", body.get("supports_function_calling")
        ),
        deprecation_date=_date(key, "deprecation_date", body.get("deprecation_date")),
        successor=_text(key, "successor_model", body.get("successor_model")),
    )


def _bad(key: str, field: str, value: object, expected: str) -> InvalidInput:
    return InvalidInput(f"price map entry {key!r}: {field} is {value!r}, expected {expected}")


def _cost(key: str, field: str, value: object) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not _finite(value):
        raise _bad(key, field, value, "a number of USD per token")
    if value < 0:
        raise _bad(key, field, value, "a cost of zero or more")
    return float(value)


def _finite(value: float) -> bool:
    try:
        return math.isfinite(value * 1000)
    except OverflowError:  # an int too large for a float
        return False


def _tokens(key: str, field: str, value: object) -> int | None:
    if value is None:
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise _bad(key, field, value, "a whole number of tokens")
    return value


def _flag(key: str, field: str, value: object) -> bool | None:
    if value is None or isinstance(value, bool):
        return value
    raise _bad(key, field, value, "true or false")


def _text(key: str, field: str, value: object) -> str | None:
    if value is None or isinstance(value, str):
        return value
    raise _bad(key, field, value, "a string")


def _date(key: str, field: str, value: object) -> date | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise _bad(key, field, value, "a date as YYYY-MM-DD")
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise _bad(key, field, value, "a date as YYYY-MM-DD") from None
