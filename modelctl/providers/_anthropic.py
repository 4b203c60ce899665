"""Chat and model listing over the Anthropic Messages API with the official `anthropic` SDK."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable
from typing import Any

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
    system, messages = _conversation(request, where)
    kwargs: dict[str, Any] = {
        "model": request.model_id,
        "max_tokens": request.max_tokens or DEFAULT_MAX_TOKENS,
        "messages": messages,
        "timeout": where.timeout_s,
        **_options(request),
    }
    if system:
        kwargs["system"] = system
    start = time.perf_counter()
    try:
        if request.stream:
            return _stream(client, kwargs, where=where, start=start, on_token=on_token)
        message = client.messages.create(**kwargs)
        try:
            text = "".join(block.text for block in message.content if block.type == "text")
            tool_calls = tuple(_tool_call(block.id, block.name, json.dumps(block.input))
                               for block in message.content if block.type == "tool_use")
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
        tool_calls=tool_calls,
    )


def _stream(
    client: Any, kwargs: dict[str, Any], *, where: Where, start: float, on_token: Callable[[str], None] | None
) -> ChatResult:
    """Usage arrives in two halves: input tokens in message_start, the output count in message_delta.
    A tool_use block opens with its id and name and streams its input as JSON text."""
    deadline = start + where.timeout_s
    parts: list[str] = []
    calls: dict[int, dict[str, Any]] = {}
    ttft_ms = tokens_in = tokens_out = stop_reason = None
    finished = False
    with client.messages.create(**kwargs, stream=True) as stream:
        for event in stream:
            if event.type == "message_start":
                tokens_in = _input_tokens(event.message.usage)
                tokens_out = event.message.usage.output_tokens
            elif event.type == "content_block_start" and event.content_block.type == "tool_use":
                calls[event.index] = _tool_call(event.content_block.id, event.content_block.name, "")
            elif event.type == "content_block_delta" and event.delta.type == "input_json_delta":
                calls[event.index]["function"]["arguments"] += event.delta.partial_json
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
        tool_calls=tuple(calls[index] for index in sorted(calls)),
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


def _tool_call(call_id: str, name: str, arguments: str) -> dict[str, Any]:
    """A tool_use block in the OpenAI shape ChatResult carries."""
    return {"id": call_id, "type": "function", "function": {"name": name, "arguments": arguments}}


def _options(request: ChatRequest) -> dict[str, Any]:
    """Sampling and tool parameters, from the OpenAI names to the Messages API's."""
    options: dict[str, Any] = {}
    if request.tools:
        options["tools"] = [
            {"name": f["name"], "description": f.get("description", ""),
             "input_schema": f.get("parameters") or {"type": "object", "properties": {}}}
            for f in (tool["function"] for tool in request.tools)
        ]
    choice = request.tool_choice
    if isinstance(choice, dict):
        options["tool_choice"] = {"type": "tool", "name": choice["function"]["name"]}
    elif choice is not None:
        options["tool_choice"] = {"type": {"auto": "auto", "required": "any", "none": "none"}[choice]}
    if request.temperature is not None:
        options["temperature"] = min(request.temperature, 1.0)  # OpenAI's range is 0..2, Anthropic's 0..1
    if request.top_p is not None:
        options["top_p"] = request.top_p
    if request.stop:
        options["stop_sequences"] = list(request.stop)
    return options


def _conversation(request: ChatRequest, where: Where) -> tuple[str | None, list[dict[str, Any]]]:
    """The system text and the messages: `run`'s single turn, or an OpenAI-shaped conversation
    translated. System messages become the system text; tool results become user turns of
    tool_result blocks; an assistant's tool_calls become tool_use blocks; turns of one role in a
    row are merged, as the Messages API wants them alternating."""
    if not request.messages:
        return request.system, [{"role": "user", "content": _content(request, where)}]
    system: list[str] = []
    messages: list[dict[str, Any]] = []
    for message in request.messages:
        role = message["role"]
        if role in ("system", "developer"):
            system.append(_text_of(message.get("content")))
            continue
        if role == "tool":
            blocks = [{"type": "tool_result", "tool_use_id": message.get("tool_call_id", ""),
                       "content": _text_of(message.get("content"))}]
            role = "user"
        else:
            blocks = _blocks(message.get("content"), where)
            for call in message.get("tool_calls") or ():
                function = call["function"]
                blocks.append({"type": "tool_use", "id": call["id"], "name": function["name"],
                               "input": json.loads(function.get("arguments") or "{}")})
        if messages and messages[-1]["role"] == role:
            messages[-1]["content"].extend(blocks)
        else:
            messages.append({"role": role, "content": blocks})
    return "\n\n".join(system) or request.system, messages


def _text_of(content: Any) -> str:
    if isinstance(content, list):
        return "".join(part.get("text", "") for part in content if part.get("type") == "text")
    return content or ""


def _blocks(content: Any, where: Where) -> list[dict[str, Any]]:
    """OpenAI content (a string or parts) as Messages API blocks; images by URL or inline data."""
    if content is None:
        return []
    if isinstance(content, str):
        return [{"type": "text", "text": content}] if content else []
    blocks = []
    for part in content:
        if part.get("type") == "text":
            blocks.append({"type": "text", "text": part["text"]})
        elif part.get("type") == "image_url":
            url = part["image_url"]["url"]
            if url.startswith("data:"):
                header, _, data = url[5:].partition(",")
                source = {"type": "base64", "media_type": header.split(";")[0], "data": data}
            else:
                source = {"type": "url", "url": url}
            blocks.append({"type": "image", "source": source})
        else:
            raise InvalidRequest(f"{where}: cannot send a {part.get('type')} content part to the Messages API")
    return blocks


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
