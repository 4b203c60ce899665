"""The two things modelctl asks of a provider: answer a chat request, list its models.

The SDKs and httpx2 are imported on first call, not on import, so commands that never reach a
provider start fast. Every failure comes out as a ProviderError subclass (see modelctl.errors);
the SDKs never retry (max_retries=0) because the caller's fallback chain owns retries and budget.
"""

from __future__ import annotations

from typing import Callable

from modelctl.providers._errors import Where, missing_key
from modelctl.providers.base import ChatRequest, ChatResult, ProviderSettings

# Listing public catalogues works without a key; send it only when there is one.
_LIST_KEY_OPTIONAL = frozenset({"huggingface", "openrouter"})


def chat(
    settings: ProviderSettings,
    request: ChatRequest,
    *,
    timeout_s: float,
    on_token: Callable[[str], None] | None = None,
) -> ChatResult:
    """`timeout_s` bounds connecting and each wait for data, and a stream as a whole (checked
    between events). `on_token` receives the text as it arrives: per chunk when `request.stream`,
    else once with the whole answer."""
    where = Where(settings.name, request.model_id, settings.key_env, timeout_s)
    key = settings.api_key()
    if settings.key_env and key is None:
        raise missing_key(where)
    if settings.kind == "anthropic":
        from modelctl.providers import _anthropic

        return _anthropic.chat(settings, request, key=key, where=where, on_token=on_token)
    from modelctl.providers import _openai

    return _openai.chat(settings, request, key=key, where=where, on_token=on_token)


def list_models(settings: ProviderSettings, *, timeout_s: float, limit: int = 1000) -> list[dict]:
    """The provider's own model records, every page followed, at most `limit` of them.
    `timeout_s` bounds each page."""
    where = Where(settings.name, None, settings.key_env, timeout_s)
    key = settings.api_key()
    if settings.key_env and key is None and settings.kind not in _LIST_KEY_OPTIONAL:
        raise missing_key(where)
    from modelctl.providers import _listing

    if settings.kind == "anthropic":
        return _listing.anthropic(settings, key=key, where=where, limit=limit)
    if settings.kind == "ollama":
        return _listing.ollama(settings, where=where, limit=limit)
    if settings.kind == "huggingface":
        return _listing.huggingface(settings, key=key, where=where, limit=limit)
    if settings.kind == "openrouter":
        return _listing.openrouter(settings, key=key, where=where, limit=limit)
    return _listing.openai_compatible(settings, key=key, where=where, limit=limit)
