"""The two things modelctl asks of a provider: answer a chat request, list its models.

The SDKs and httpx2 are imported on first call, not on import, so commands that never reach a
provider start fast. Every failure comes out as a ProviderError subclass (see modelctl.errors);
the SDKs never retry (max_retries=0) because the caller's fallback chain owns retries and budget.
Which adapter serves a provider, and whether it needs a key, is its kind's rule (providers/registry.py).
"""

from __future__ import annotations

from collections.abc import Callable

from modelctl.providers._errors import Where, missing_key
from modelctl.providers.base import ChatRequest, ChatResult, ProviderSettings


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
    if settings.key_missing():
        raise missing_key(where)
    return settings.rules.chat(settings, request, key=settings.api_key(), where=where, on_token=on_token)


def list_models(settings: ProviderSettings, *, timeout_s: float, limit: int = 1000) -> list[dict]:
    """The provider's own model records, every page followed, at most `limit` of them.
    `timeout_s` bounds each page. A key is sent whenever there is one, even where listing needs none."""
    where = Where(settings.name, None, settings.key_env, timeout_s)
    if settings.key_missing(to_list=True):
        raise missing_key(where)
    return settings.rules.list_models(settings, key=settings.api_key(), where=where, limit=limit)
