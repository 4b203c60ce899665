"""Turn what the SDKs and httpx2 raise into modelctl's ProviderError tree.

Every message is one line: "<provider> <model>: what happened". The key is never part of it: the
provider's own error text is echoed only for request errors (it says what to fix), with the key
redacted, and never for authentication errors, whose text often quotes the key.

A stream that breaks off (connection dropped, or closed before its final event) is reported as
ProviderUnavailable, not MalformedResponse: what arrived was well formed, the transport failed, and
another attempt may well succeed.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from modelctl.clock import retry_after_seconds
from modelctl.errors import (
    AuthenticationFailed,
    ConnectionFailed,
    ContextLengthExceeded,
    InvalidRequest,
    MalformedResponse,
    ProviderError,
    ProviderTimeout,
    ProviderUnavailable,
    RateLimited,
)

_CONTEXT = re.compile(
    r"context[_ ]length|context window|maximum context|prompt is too long|reduce the length", re.IGNORECASE
)
_DETAIL_MAX = 200


@dataclass(frozen=True, slots=True)
class Where:
    """Who was being called, for messages; holds the key's env var NAME, never the key."""

    provider: str
    model: str | None
    key_env: str | None
    timeout_s: float

    def __str__(self) -> str:
        return f"{self.provider} {self.model}" if self.model else f"{self.provider} (list models)"


def missing_key(where: Where) -> AuthenticationFailed:
    return AuthenticationFailed(f"{where}: {where.key_env} is not set; export the provider's API key in it")


def timed_out(where: Where) -> ProviderTimeout:
    return ProviderTimeout(f"{where}: no complete answer within {where.timeout_s:g} s")


def stream_ended(where: Where) -> ProviderUnavailable:
    return ProviderUnavailable(f"{where}: the stream ended before its final event")


def connection_failed(where: Where, cause: BaseException, *, key: str | None) -> ProviderUnavailable:
    """ConnectionFailed when the host never answered, so callers can rest the whole provider."""
    import httpx2

    detail = _one_line(str(cause), key)
    if isinstance(cause, httpx2.ConnectError):
        return ConnectionFailed(f"{where}: cannot connect ({detail})")
    return ProviderUnavailable(f"{where}: connection dropped ({detail})")


def malformed(where: Where, problem: str) -> MalformedResponse:
    return MalformedResponse(f"{where}: unreadable response ({_one_line(problem, None)})")


def from_status(
    where: Where, *, status: int, headers: Mapping[str, str], body: Any, key: str | None
) -> ProviderError:
    detail, code = _detail(body)
    detail = _one_line(detail, key)
    said = f": {detail}" if detail else ""
    if status == 429:
        retry_after = retry_after_seconds(headers.get("retry-after"))
        hint = f"; retry after {retry_after:g} s" if retry_after is not None else ""
        return RateLimited(f"{where}: rate limited (HTTP 429){hint}", retry_after=retry_after)
    if status in (401, 403):
        culprit = f"the key in {where.key_env} was refused" if where.key_env else "the provider wants a key"
        return AuthenticationFailed(f"{where}: HTTP {status}, {culprit}")
    if status == 408:
        return ProviderTimeout(f"{where}: the provider timed out the request (HTTP 408)")
    if status >= 500:
        return ProviderUnavailable(f"{where}: provider error HTTP {status}{said}")
    if status == 400 and (code == "context_length_exceeded" or _CONTEXT.search(detail)):
        return ContextLengthExceeded(f"{where}: the prompt does not fit the context window{said}")
    if 400 <= status < 500:
        return InvalidRequest(f"{where}: request rejected (HTTP {status}){said}")
    return MalformedResponse(f"{where}: unexpected HTTP {status}")


def from_sdk(sdk: Any, exc: Exception, where: Where, *, key: str | None) -> ProviderError | None:
    """Map an exception from the `openai` or `anthropic` SDK (same shapes) or httpx2; None if foreign."""
    import httpx2

    if isinstance(exc, (sdk.APITimeoutError, httpx2.TimeoutException)):
        return timed_out(where)
    if isinstance(exc, sdk.APIStatusError):
        headers = exc.response.headers
        return from_status(where, status=exc.status_code, headers=headers, body=exc.body, key=key)
    if isinstance(exc, (sdk.APIConnectionError, httpx2.TransportError)):
        cause = exc.__cause__ if isinstance(exc, sdk.APIConnectionError) and exc.__cause__ else exc
        return connection_failed(where, cause, key=key)
    if isinstance(exc, (sdk.APIResponseValidationError, json.JSONDecodeError)):
        return malformed(where, str(exc))
    return None




def _detail(body: Any) -> tuple[str, str | None]:
    """The human message and machine code of an error body, across the providers' shapes."""
    if isinstance(body, dict):
        inner = body.get("error", body)
        if isinstance(inner, dict):
            code = inner.get("code")
            return str(inner.get("message") or ""), code if isinstance(code, str) else None
        return str(inner), None
    return ("" if body is None else str(body)), None


def _one_line(text: str, key: str | None) -> str:
    if key:
        text = text.replace(key, "[redacted]")
    text = " ".join(text.split())
    return text if len(text) <= _DETAIL_MAX else text[: _DETAIL_MAX - 1] + "…"
