"""Chat over the OpenAI chat-completions protocol with the official `openai` SDK: OpenAI itself and
every endpoint that copies it (Ollama's /v1, the Hugging Face router, OpenRouter, vLLM, LM Studio,
LiteLLM)."""

from __future__ import annotations

import base64
import time
from collections.abc import Callable
from typing import Any

from modelctl.errors import InvalidRequest
from modelctl.providers import _clients, _errors
from modelctl.providers._errors import Where
from modelctl.providers.base import Attachment, ChatRequest, ChatResult, ProviderSettings

# The SDK refuses to build without a key and would then fall back to OPENAI_API_KEY, sending the
# OpenAI key to a local server; keyless endpoints get this inert placeholder instead.
_NO_KEY = "no-key"


def chat(
    settings: ProviderSettings,
    request: ChatRequest,
    *,
    key: str | None,
    where: Where,
    on_token: Callable[[str], None] | None,
) -> ChatResult:
    import openai

    client = _client(settings, key)
    kwargs: dict[str, Any] = {
        "model": request.model_id,
        "messages": _messages(request, where),
    }
    if request.max_tokens is not None:
        kwargs[settings.rules.max_tokens_param] = request.max_tokens
    kwargs.update(_options(request))
    start = time.perf_counter()
    try:
        if request.stream:
            return _stream(client, kwargs, where=where, start=start, on_token=on_token)
        response = _post(client, kwargs, where=where)
        try:
            choice = response.choices[0]
            text = choice.message.content or ""
            tool_calls = tuple(call.model_dump(include={"id", "type", "function"})
                               for call in choice.message.tool_calls or ())
            usage = response.usage
        except (AttributeError, IndexError, TypeError) as exc:
            raise _errors.malformed(where, f"no choices: {exc}") from None
    except Exception as exc:
        mapped = _errors.from_sdk(openai, exc, where, key=key)
        if mapped is None:
            raise
        raise mapped from None
    latency_ms = (time.perf_counter() - start) * 1000
    if on_token is not None and text:
        on_token(text)
    return ChatResult(
        text=text,
        tokens_in=usage.prompt_tokens if usage else None,
        tokens_out=usage.completion_tokens if usage else None,
        ttft_ms=None,
        latency_ms=latency_ms,
        finish_reason=choice.finish_reason,
        tool_calls=tool_calls,
    )


def _stream(
    client: Any, kwargs: dict[str, Any], *, where: Where, start: float, on_token: Callable[[str], None] | None
) -> ChatResult:
    """Total deadline enforced between chunks: the SDK's timeout bounds each read, not the whole stream.
    Tool calls arrive in pieces keyed by index (the id and name first, then the arguments); they are
    put together here and handed over whole. Chunks are read as the JSON they are, not as the SDK's
    models: building a model per chunk was the largest single cost of a streamed gateway request
    (`bench_gateway.py --phases ttfb` reports the server's CPU per request)."""
    deadline = start + where.timeout_s
    parts: list[str] = []
    calls: dict[int, dict[str, Any]] = {}
    ttft_ms = usage = finish_reason = None
    kwargs = {**kwargs, "stream": True, "stream_options": {"include_usage": True}}
    with _post(client, kwargs, where=where) as stream:
        for chunk in stream:
            try:
                piece, chunk_usage, chunk_finish = _read_chunk(chunk, calls)
            except (AttributeError, TypeError) as exc:  # not the documented shape
                raise _errors.malformed(where, f"a stream chunk is not a chat.completion.chunk: {exc!r}") from None
            usage, finish_reason = chunk_usage or usage, chunk_finish or finish_reason
            if piece:
                if ttft_ms is None:
                    ttft_ms = (time.perf_counter() - start) * 1000
                parts.append(piece)
                if on_token is not None:
                    on_token(piece)
            if time.perf_counter() > deadline:
                raise _errors.timed_out(where)
    if finish_reason is None:
        raise _errors.stream_ended(where)
    return ChatResult(
        text="".join(parts),
        tokens_in=usage.get("prompt_tokens") if usage else None,
        tokens_out=usage.get("completion_tokens") if usage else None,
        ttft_ms=ttft_ms,
        latency_ms=(time.perf_counter() - start) * 1000,
        finish_reason=finish_reason,
        tool_calls=tuple(calls[index] for index in sorted(calls)),
    )


def _post(client: Any, body: dict[str, Any], *, where: Where) -> Any:
    """`client.chat.completions.create(**body)` without its conversion of typed parameters: the body
    is already in the wire format (a gateway request's own), and the conversion walks every part of
    every message on the way to the first byte (`bench_gateway.py` measures the gateway's overhead).
    The SDK still sends it and raises its errors; it parses a whole answer into its ChatCompletion,
    and a stream into the chunks' plain JSON objects."""
    from openai import Stream
    from openai.types.chat import ChatCompletion

    stream = bool(body.get("stream"))
    return client.post("/chat/completions", body=body, cast_to=ChatCompletion, options={"timeout": where.timeout_s},
                       stream=stream, stream_cls=Stream[object] if stream else None)


def _read_chunk(chunk: Any, calls: dict[int, dict[str, Any]]) -> tuple[str | None, dict[str, Any] | None, str | None]:
    """One chunk's text, usage and finish reason (of choice 0); its tool-call pieces go into `calls`.
    Raises AttributeError or TypeError on a chunk of another shape."""
    piece = finish_reason = None
    for choice in chunk.get("choices") or ():
        if choice.get("index", 0) != 0:
            continue
        delta = choice.get("delta") or {}
        piece = delta.get("content")
        for call in delta.get("tool_calls") or ():
            _merge_tool_call(calls, call)
        finish_reason = choice.get("finish_reason")
    usage = chunk.get("usage")
    if not isinstance(piece, str | None) or not isinstance(usage, dict | None):
        raise TypeError(f"content {piece!r}, usage {usage!r}")
    return piece, usage, finish_reason


def _merge_tool_call(calls: dict[int, dict[str, Any]], delta: dict[str, Any]) -> None:
    call = calls.setdefault(delta.get("index", 0),
                            {"id": "", "type": "function", "function": {"name": "", "arguments": ""}})
    if delta.get("id"):
        call["id"] = delta["id"]
    function = delta.get("function")
    if function:
        call["function"]["name"] += function.get("name") or ""
        call["function"]["arguments"] += function.get("arguments") or ""


def _options(request: ChatRequest) -> dict[str, Any]:
    """The sampling and tool parameters the request sets; the OpenAI protocol takes them as they are."""
    options: dict[str, Any] = {}
    if request.tools:
        options["tools"] = list(request.tools)
    if request.tool_choice is not None:
        options["tool_choice"] = request.tool_choice
    if request.temperature is not None:
        options["temperature"] = request.temperature
    if request.top_p is not None:
        options["top_p"] = request.top_p
    if request.stop:
        options["stop"] = list(request.stop)
    return options


def _client(settings: ProviderSettings, key: str | None) -> Any:
    import openai

    base_url = settings.resolve_base_url() + settings.rules.chat_root
    key = key or _NO_KEY
    return _clients.sdk_client(
        settings,
        key,
        lambda http: openai.OpenAI(api_key=key, base_url=base_url, max_retries=0, http_client=http),
    )


def _messages(request: ChatRequest, where: Where) -> list[dict[str, Any]]:
    if request.messages:
        return list(request.messages)
    messages: list[dict[str, Any]] = []
    if request.system:
        messages.append({"role": "system", "content": request.system})
    content: Any = request.prompt
    if request.attachments:
        content = [{"type": "text", "text": request.prompt}] + [_part(a, where) for a in request.attachments]
    messages.append({"role": "user", "content": content})
    return messages


def _part(attachment: Attachment, where: Where) -> dict[str, Any]:
    data = attachment.data
    if attachment.media_type.startswith("image/"):
        url = attachment.url if data is None else _data_url(attachment.media_type, data)
        return {"type": "image_url", "image_url": {"url": url}}
    if attachment.media_type == "application/pdf" and data is not None:
        name = attachment.name or "document.pdf"
        file = {"filename": name, "file_data": _data_url(attachment.media_type, data)}
        return {"type": "file", "file": file}
    raise InvalidRequest(
        f"{where}: cannot send a {attachment.media_type} attachment"
        f"{' by URL' if attachment.url else ''} over the chat-completions API"
    )


def _data_url(media_type: str, data: bytes) -> str:
    return f"data:{media_type};base64,{base64.b64encode(data).decode()}"
