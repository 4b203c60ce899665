"""Chat and model listing over the Anthropic Messages API with the official `anthropic` SDK."""

from __future__ import annotations

import base64
import time
from typing import Any, Callable

from modelctl.errors import InvalidRequest
from modelctl.providers import _clients, _errors
from modelctl.providers._errors import Where
from modelctl.providers.base import Attachment, ChatRequest, ChatResult, ProviderSettings

# The API requires max_tokens; every current Claude model can produce at least this many.
DEFAULT_MAX_TOKENS = 4096


def chat(
    settings: ProviderSettings,
    request: ChatRequest,
    *,
    key: str,
    where: Where,
    on_token: Callable[[str], None] | None,
) -> ChatResult:
    import anthropic

    client = _client(settings, key)
    kwargs: dict[str, Any] = {
        "model": request.model_id,
        "max_tokens": request.max_tokens or DEFAULT_MAX_TOKENS,
        "messages": [{"role": "user", "content": _content(request, where)}],
        "timeout": where.timeout_s,
    }
    if request.system:
        kwargs["system"] = request.system
    start = time.perf_counter()
    try:
        if request.stream:
            return _stream(client, kwargs, where=where, start=start, on_token=on_token)
        message = client.messages.create(**kwargs)
        try:
            text = "".join(block.text for block in message.content if block.type == "text")
            tokens_in, tokens_out = _input_tokens(message.usage), message.usage.output_tokens
        except (AttributeError, TypeError) as exc:
            raise _errors.malformed(where, f"no content: {exc}") from None
    except Exception as exc:
        mapped = _errors.from_sdk(anthropic, exc, where, key=key)
        if mapped is None:
            raise
        raise mapped from None
    latency_ms = (time.perf_counter() - start) * 1000
    if on_token is not None and text:
        on_token(text)
    return ChatResult(
        text=text,
        tokens_in=tokens_in,
        tokens_out=tokens_out,
        ttft_ms=None,
        latency_ms=latency_ms,
        finish_reason=message.stop_reason,
    )


def _stream(
    client: Any, kwargs: dict[str, Any], *, where: Where, start: float, on_token: Callable[[str], None] | None
) -> ChatResult:
    """Usage arrives in two halves: input tokens in message_start, the output count in message_delta."""
    deadline = start + where.timeout_s
    parts: list[str] = []
    ttft_ms = tokens_in = tokens_out = stop_reason = None
    finished = False
    with client.messages.create(**kwargs, stream=True) as stream:
        for event in stream:
            if event.type == "message_start":
                tokens_in = _input_tokens(event.message.usage)
                tokens_out = event.message.usage.output_tokens
            elif event.type == "content_block_delta" and event.delta.type == "text_delta":
                if ttft_ms is None:
                    ttft_ms = (time.perf_counter() - start) * 1000
                parts.append(event.delta.text)
                if on_token is not None:
                    on_token(event.delta.text)
            elif event.type == "message_delta":
                stop_reason = event.delta.stop_reason or stop_reason
                tokens_out = event.usage.output_tokens
                if getattr(event.usage, "input_tokens", None) is not None:
                    tokens_in = _input_tokens(event.usage)
            elif event.type == "message_stop":
                finished = True
            if time.perf_counter() > deadline:
                raise _errors.timed_out(where)
    if not finished:
        raise _errors.stream_ended(where)
    return ChatResult(
        text="".join(parts),
        tokens_in=tokens_in,
        tokens_out=tokens_out,
        ttft_ms=ttft_ms,
        latency_ms=(time.perf_counter() - start) * 1000,
        finish_reason=stop_reason,
    )


def _input_tokens(usage: Any) -> int:
    """Cached prompt tokens are billed and counted apart; the prompt's size is their sum."""
    return (
        usage.input_tokens
        + (getattr(usage, "cache_creation_input_tokens", None) or 0)
        + (getattr(usage, "cache_read_input_tokens", None) or 0)
    )


def _client(settings: ProviderSettings, key: str) -> Any:
    import anthropic

    base_url = settings.resolve_base_url()
    return _clients.sdk_client(
        settings,
        key,
        lambda http: anthropic.Anthropic(api_key=key, base_url=base_url, max_retries=0, http_client=http),
    )


def _content(request: ChatRequest, where: Where) -> Any:
    """Media blocks go before the text, as Anthropic recommends."""
    if not request.attachments:
        return request.prompt
    return [_block(a, where) for a in request.attachments] + [{"type": "text", "text": request.prompt}]


def _block(attachment: Attachment, where: Where) -> dict[str, Any]:
    if attachment.media_type.startswith("image/"):
        kind = "image"
    elif attachment.media_type == "application/pdf":
        kind = "document"
    else:
        raise InvalidRequest(f"{where}: cannot send a {attachment.media_type} attachment to the Messages API")
    if attachment.data is None:
        return {"type": kind, "source": {"type": "url", "url": attachment.url}}
    data = base64.b64encode(attachment.data).decode()
    return {"type": kind, "source": {"type": "base64", "media_type": attachment.media_type, "data": data}}
