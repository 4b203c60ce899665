"""List-models endpoints of every provider, called with httpx2 on the provider's shared client.

Not through the SDKs: a weekly discovery across providers should not pay for importing them
(seconds here), and these endpoints are plain paged GETs.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urljoin

from modelctl.providers import _clients, _errors
from modelctl.providers._errors import Where
from modelctl.providers.base import ProviderSettings

_HUB_PAGE_MAX = 1000
_ANTHROPIC_PAGE_MAX = 1000
ANTHROPIC_VERSION = "2023-06-01"


def openai_compatible(settings: ProviderSettings, *, key: str | None, where: Where, limit: int) -> list[dict]:
    body, _ = _get_json(settings, settings.list_models_url(), where=where, key=key)
    return _items(body, "data", where)[:limit]


def anthropic(settings: ProviderSettings, *, key: str | None, where: Where, limit: int) -> list[dict]:
    """Pages follow has_more / last_id -> after_id."""
    url = settings.list_models_url()
    headers = {"x-api-key": key or "", "anthropic-version": ANTHROPIC_VERSION}
    models: list[dict] = []
    after: str | None = None
    while len(models) < limit:
        params = {"limit": str(min(limit - len(models), _ANTHROPIC_PAGE_MAX))}
        if after:
            params["after_id"] = after
        body, _ = _get_json(settings, url, where=where, key=key, params=params, headers=headers)
        page = _items(body, "data", where)
        models.extend(page)
        after = body.get("last_id")
        if not body.get("has_more") or not page or not after:
            break
    return models[:limit]


def ollama(settings: ProviderSettings, *, key: str | None, where: Where, limit: int) -> list[dict]:
    """A key only when providers.yaml names one (an Ollama behind an authenticating proxy)."""
    body, _ = _get_json(settings, settings.list_models_url(), where=where, key=key)
    return _items(body, "models", where)[:limit]


def huggingface(settings: ProviderSettings, *, key: str | None, where: Where, limit: int) -> list[dict]:
    """The Hub pages the text-generation models by downloads; the next page is in the Link header."""
    url: str | None = settings.list_models_url()
    params: dict[str, str] | None = {
        "pipeline_tag": "text-generation",
        "sort": "downloads",
        "limit": str(min(limit, _HUB_PAGE_MAX)),
    }
    models: list[dict] = []
    while url and len(models) < limit:
        body, response = _get_json(settings, url, where=where, key=key, params=params)
        if not isinstance(body, list):
            raise _errors.malformed(where, f"expected a JSON array of models, got {type(body).__name__}")
        models.extend(body)
        url = response.links.get("next", {}).get("url") if body else None
        params = None  # the next link carries the query
    return models[:limit]


def openrouter(settings: ProviderSettings, *, key: str | None, where: Where, limit: int) -> list[dict]:
    """OpenRouter answers everything in one page today; its spec allows `links.next`, so follow it."""
    url: str | None = settings.list_models_url()
    seen: set[str] = set()
    models: list[dict] = []
    while url and url not in seen and len(models) < limit:
        seen.add(url)
        body, response = _get_json(settings, url, where=where, key=key)
        page = _items(body, "data", where)
        models.extend(page)
        next_link = (body.get("links") or {}).get("next")
        url = urljoin(str(response.url), next_link) if next_link and page else None
    return models[:limit]


def _get_json(
    settings: ProviderSettings,
    url: str,
    *,
    where: Where,
    key: str | None,
    params: dict[str, str] | None = None,
    headers: dict[str, str] | None = None,
) -> tuple[Any, Any]:
    import httpx2

    if headers is None:
        headers = {"Authorization": f"Bearer {key}"} if key else {}
    try:
        client = _clients.http_client(settings)
        response = client.get(url, params=params, headers=headers, timeout=where.timeout_s)
    except httpx2.TimeoutException:
        raise _errors.timed_out(where) from None
    except httpx2.TransportError as exc:
        raise _errors.connection_failed(where, exc, key=key) from None
    try:
        body = response.json()
    except ValueError as exc:
        if response.is_success:
            raise _errors.malformed(where, str(exc)) from None
        body = response.text
    if not response.is_success:
        raise _errors.from_status(
            where, status=response.status_code, headers=response.headers, body=body, key=key
        )
    return body, response


def _items(body: Any, field: str, where: Where) -> list[dict]:
    items = body.get(field) if isinstance(body, dict) else None
    if not isinstance(items, list):
        raise _errors.malformed(where, f"no {field!r} list in the response")
    return items
