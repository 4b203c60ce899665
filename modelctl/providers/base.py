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

KINDS = ("openai", "anthropic", "ollama", "huggingface", "openrouter", "openai_compatible")

# kind -> (env var for the base URL, default base URL, env var for the key)
_CONVENTIONS: dict[str, tuple[str | None, str | None, str | None]] = {
    "openai": ("OPENAI_BASE_URL", "https://api.openai.com/v1", "OPENAI_API_KEY"),
    "anthropic": ("ANTHROPIC_BASE_URL", "https://api.anthropic.com", "ANTHROPIC_API_KEY"),
    "ollama": ("OLLAMA_HOST", "http://127.0.0.1:11434", None),
    "huggingface": ("HF_BASE_URL", "https://router.huggingface.co/v1", "HF_TOKEN"),
    "openrouter": ("OPENROUTER_BASE_URL", "https://openrouter.ai/api/v1", "OPENROUTER_API_KEY"),
    "openai_compatible": (None, None, None),
}
HUGGINGFACE_HUB_URL = "https://huggingface.co"


@dataclass(frozen=True, slots=True)
class ProviderSettings:
    """One entry of providers.yaml.

    `base_url` is what the conventional env var would hold: the OpenAI-style API root ending in
    /v1 for openai-like kinds, the bare host for anthropic and ollama. `list_url` is only for the
    Hugging Face Hub, which lists models on another host than the inference router.
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
        if self.kind not in KINDS:
            raise ConfigError(
                f"provider {self.name}: unknown kind {self.kind!r}; expected one of {', '.join(KINDS)}"
            )

    @property
    def base_url_env(self) -> str:
        """openai_compatible endpoints have no standard variable, so the provider name gives one."""
        conventional = _CONVENTIONS[self.kind][0]
        return conventional or re.sub(r"[^A-Z0-9]+", "_", self.name.upper()).strip("_") + "_BASE_URL"

    @property
    def key_env(self) -> str | None:
        """The env var holding the key; None when the provider takes no key (ollama, local servers)."""
        return self.api_key_env or _CONVENTIONS[self.kind][2]

    def resolve_base_url(self) -> str:
        """Explicit setting, then the conventional env var, then the provider's public default."""
        url = self.base_url or os.environ.get(self.base_url_env) or _CONVENTIONS[self.kind][1]
        if not url:
            raise ConfigError(
                f"provider {self.name}: no base URL; set base_url in providers.yaml or {self.base_url_env}"
            )
        if "://" not in url:  # OLLAMA_HOST is commonly written as host:port
            url = "http://" + url
        return url.rstrip("/")

    def resolve_list_url(self) -> str:
        if self.kind == "huggingface":
            return (self.list_url or HUGGINGFACE_HUB_URL).rstrip("/")
        return (self.list_url or self.resolve_base_url()).rstrip("/")

    def api_key(self) -> str | None:
        """Read at call time so a rotated key is picked up and no object ever holds it."""
        env = self.key_env
        return (os.environ.get(env) or None) if env else None


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
    model_id: str
    prompt: str
    system: str | None = None
    attachments: tuple[Attachment, ...] = ()
    # None lets the provider decide; Anthropic requires a value, so its adapter supplies one.
    max_tokens: int | None = None
    stream: bool = False


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
