"""The provider kinds modelctl can call, each registered once with every rule that varies by kind.

A kind says how to chat and how to list models (its adapters), where its key comes from and when
one is needed, and where its API lives. Everything that asks such a question (routing, `run`,
health, discovery, `providers list`, the HTTP API) asks ProviderSettings, which asks this registry,
so `route` never plans a model that `run` cannot call.

The built-in kinds are registered below exactly as an outside one would be, with `register`.
Adapters are named by module and function and imported on first call, so importing this module
loads no SDK and no HTTP library.

Adapter contracts (every failure raised as a modelctl.errors.ProviderError subclass, which is how
a kind maps its errors; the built-ins share modelctl.providers._errors):
- chat(settings, request, *, key, where, on_token) -> ChatResult
- list_models(settings, *, key, where, limit) -> list[dict], the provider's own model records
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from modelctl.errors import ConfigError

Adapter = Callable[..., Any]


def lazy(module: str, function: str) -> Adapter:
    """An adapter imported on its first call, so registering a kind costs no import."""

    def call(*args: Any, **kwargs: Any) -> Any:
        return getattr(importlib.import_module(module), function)(*args, **kwargs)

    call.__qualname__ = call.__name__ = f"{module}.{function}"
    return call


@dataclass(frozen=True, slots=True)
class ProviderKind:
    """Every rule that varies by provider kind.

    `key_env` is the conventional variable holding the key when providers.yaml names none (None:
    the kind takes no key unless an entry names one). A provider with a key variable needs the key
    to chat; `list_needs_key` False lets listing a public catalogue go without it.
    `base_url_env` is the conventional variable for the base URL (None: derived from the
    provider's name); `default_base_url` the public endpoint, if the kind has one.
    `default_list_url` is where models are listed when that is another host than the API;
    `list_path` is appended to it to name the listing endpoint. `chat_root` is appended to the
    base URL for the chat API (Ollama serves the OpenAI protocol under /v1 of its host).
    `listing_format` names the body shape modelctl.core.discovery parses.
    `max_tokens_param` is what the OpenAI-protocol adapter calls the output limit.
    """

    name: str
    chat: Adapter
    list_models: Adapter
    listing_format: str
    list_path: str
    key_env: str | None = None
    list_needs_key: bool = True
    base_url_env: str | None = None
    default_base_url: str | None = None
    default_list_url: str | None = None
    chat_root: str = ""
    max_tokens_param: str = "max_tokens"


_KINDS: dict[str, ProviderKind] = {}


def register(kind: ProviderKind) -> ProviderKind:
    """Add a kind; a name registered twice is a mistake, not an override."""
    if kind.name in _KINDS:
        raise ConfigError(f"provider kind {kind.name!r} is registered twice")
    _KINDS[kind.name] = kind
    return kind


def kind_names() -> tuple[str, ...]:
    return tuple(_KINDS)


def get_kind(name: str) -> ProviderKind:
    try:
        return _KINDS[name]
    except KeyError:
        raise ConfigError(f"unknown provider kind {name!r}; expected one of {', '.join(_KINDS)}") from None


_openai_chat = lazy("modelctl.providers._openai", "chat")

register(ProviderKind(
    name="openai", chat=_openai_chat, list_models=lazy("modelctl.providers._listing", "openai_compatible"),
    listing_format="openai", list_path="/models",
    key_env="OPENAI_API_KEY", base_url_env="OPENAI_BASE_URL", default_base_url="https://api.openai.com/v1",
    # OpenAI's newer models accept only max_completion_tokens; look-alike servers only max_tokens.
    max_tokens_param="max_completion_tokens",
))
register(ProviderKind(
    name="anthropic", chat=lazy("modelctl.providers._anthropic", "chat"),
    list_models=lazy("modelctl.providers._listing", "anthropic"), listing_format="anthropic", list_path="/v1/models",
    key_env="ANTHROPIC_API_KEY", base_url_env="ANTHROPIC_BASE_URL", default_base_url="https://api.anthropic.com",
))
register(ProviderKind(
    name="ollama", chat=_openai_chat, list_models=lazy("modelctl.providers._listing", "ollama"),
    listing_format="ollama", list_path="/api/tags",
    base_url_env="OLLAMA_HOST", default_base_url="http://127.0.0.1:11434", chat_root="/v1",
))
register(ProviderKind(
    name="huggingface", chat=_openai_chat, list_models=lazy("modelctl.providers._listing", "huggingface"),
    listing_format="huggingface", list_path="/api/models",
    key_env="HF_TOKEN", list_needs_key=False,
    base_url_env="HF_BASE_URL", default_base_url="https://router.huggingface.co/v1",
    default_list_url="https://huggingface.co",  # the Hub lists the models the router serves
))
register(ProviderKind(
    name="openrouter", chat=_openai_chat, list_models=lazy("modelctl.providers._listing", "openrouter"),
    listing_format="openrouter", list_path="/models",
    key_env="OPENROUTER_API_KEY", list_needs_key=False,
    base_url_env="OPENROUTER_BASE_URL", default_base_url="https://openrouter.ai/api/v1",
))
register(ProviderKind(
    name="openai_compatible", chat=_openai_chat, list_models=lazy("modelctl.providers._listing", "openai_compatible"),
    listing_format="openai", list_path="/models",
))
