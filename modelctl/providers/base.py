"""Plain records the provider adapters take and return; importing this module stays cheap.

A provider is described by the NAME of the environment variable that holds its key, never the key:
the key is read from the environment at the moment of each call, so it is never kept in a settings
object, a repr, the database or a message.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from modelctl.errors import ConfigError, InvalidInput
from modelctl.providers.registry import ProviderKind, get_kind


@dataclass(frozen=True, slots=True)
class ProviderSettings:
    """One entry of providers.yaml; its kind's rules come from the registry (providers/registry.py).

    `base_url` is what the conventional env var would hold: the OpenAI-style API root ending in
    /v1 for openai-like kinds, the bare host for anthropic and ollama. `list_url` is for a kind that
    lists its models on another host than its API (the Hugging Face Hub).
    """

    name: str
    kind: str
    base_url: str | None = None
    api_key_env: str | None = None
    list_url: str | None = None

    @classmethod
    def from_config(cls, name: str, entry: Mapping[str, Any]) -> ProviderSettings:
        """A providers.yaml entry (as a mapping); the env var named by base_url_env wins over the file."""
        env = entry.get("base_url_env")
        base_url = (os.environ.get(env) if env else None) or entry.get("base_url")
        return cls(name=name, kind=entry["kind"], base_url=base_url, api_key_env=entry.get("api_key_env"),
                   list_url=entry.get("list_url"))

    def __post_init__(self) -> None:
        try:
            get_kind(self.kind)
        except ConfigError as exc:
            raise ConfigError(f"provider {self.name}: {exc}") from None

    @property
    def rules(self) -> ProviderKind:
        """What the provider's kind decides: adapters, key and URL conventions (providers/registry.py)."""
        return get_kind(self.kind)

    @property
    def base_url_env(self) -> str:
        """A kind without a standard variable (openai_compatible) gets one from the provider's name."""
        conventional = self.rules.base_url_env
        return conventional or re.sub(r"[^A-Z0-9]+", "_", self.name.upper()).strip("_") + "_BASE_URL"

    @property
    def key_env(self) -> str | None:
        """The env var holding the key: the entry's api_key_env, else the kind's conventional one;
        None when the provider takes no key (ollama, local servers)."""
        return self.api_key_env or self.rules.key_env

    def key_missing(self, *, to_list: bool = False) -> bool:
        """The one answer to "is this provider's key present" that route, run, health and the
        reports all ask: True when the provider needs a key (to chat, or with `to_list` to list its
        models) and its variable is unset."""
        needed = self.key_env is not None and (not to_list or self.rules.list_needs_key)
        return needed and self.api_key() is None

    def resolve_base_url(self) -> str:
        """Explicit setting, then the conventional env var, then the kind's public default."""
        url = self.base_url or os.environ.get(self.base_url_env) or self.rules.default_base_url
        if not url:
            raise ConfigError(
                f"provider {self.name}: no base URL; set base_url in providers.yaml or {self.base_url_env}"
            )
        if "://" not in url:  # OLLAMA_HOST is commonly written as host:port
            url = "http://" + url
        return url.rstrip("/")

    def resolve_list_url(self) -> str:
        """The root the kind's listing path goes under: list_url, else the kind's listing host, else the API."""
        return (self.list_url or self.rules.default_list_url or self.resolve_base_url()).rstrip("/")

    def list_models_url(self) -> str:
        return self.resolve_list_url() + self.rules.list_path

    def api_key(self) -> str | None:
        """Read at call time so a rotated key is picked up and no object ever holds it."""
        env = self.key_env
        return (os.environ.get(env) or None) if env else None


def provider_settings(entries: Mapping[str, Mapping[str, Any]]) -> dict[str, ProviderSettings]:
    """Settings for every providers.yaml entry (as mappings), by provider name."""
    return {name: ProviderSettings.from_config(name, entry) for name, entry in entries.items()}


@dataclass(frozen=True, slots=True)
class Attachment:
    """A file or URL the model must see; exactly one of `data` and `url` is given."""

    media_type: str
    data: bytes | None = field(default=None, repr=False)
    url: str | None = None
    name: str = ""

    def __post_init__(self) -> None:
        if (self.data is None) == (self.url is None):
            raise InvalidInput(f"attachment {self.name or self.media_type}: give either data or a url")


@dataclass(frozen=True, slots=True)
class ChatRequest:
    """One chat call. `prompt` (with `system` and `attachments`) is a single user turn, as `run`
    asks; a gateway request carries the whole conversation in `messages` instead, in the OpenAI
    chat-completions shape (roles system/user/assistant/tool, text and image_url parts, tool_calls),
    which each adapter translates to its protocol; `prompt` is then its last user text."""

    model_id: str
    prompt: str
    system: str | None = None
    attachments: tuple[Attachment, ...] = ()
    # None lets the provider decide; Anthropic requires a value, so its adapter supplies one.
    max_tokens: int | None = None
    stream: bool = False
    messages: tuple[dict[str, Any], ...] = ()
    # OpenAI-shaped function tools ({"type": "function", "function": {...}}) and tool_choice.
    tools: tuple[dict[str, Any], ...] = ()
    tool_choice: str | dict[str, Any] | None = None
    temperature: float | None = None
    top_p: float | None = None
    stop: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class ChatResult:
    """What usage recording needs. Token counts are None when the provider reported none;
    `ttft_ms` is None for a non-streamed call (no first token to time); `finish_reason` is the
    provider's own word ("stop", "end_turn", "length", "max_tokens" ...)."""

    text: str
    tokens_in: int | None
    tokens_out: int | None
    ttft_ms: float | None
    latency_ms: float
    finish_reason: str | None
    # Calls the model asked for, in the OpenAI shape: {"id", "type": "function", "function": {"name", "arguments"}}.
    tool_calls: tuple[dict[str, Any], ...] = ()
