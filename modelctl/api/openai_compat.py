"""The OpenAI-compatible gateway: POST /v1/chat/completions and GET /v1/models.

Clients built for OpenAI (its SDKs, LangChain, anything with a `base_url`) point at modelctl and
get routing, fallback, rollouts and usage records without knowing. This module speaks the wire
format: it reads the Chat Completions body into a GatewayRequest, and writes the answer (or its
stream of chunks, or an error) in OpenAI's shapes whichever provider answered; services/gateway.py
decides and answers.

Provider calls go through the official SDKs, which block, so each request's call runs on a thread
of the gateway's own pool; its tokens cross to the event loop as they arrive. The response is sent
before the attempt's usage row is written, and the shadow call and the judge's work run afterwards
on a small pool of their own, so neither delays the client.

Decision headers: X-Modelctl-Model, X-Modelctl-Request-Id, X-Modelctl-Attempts, X-Modelctl-Segment,
X-Modelctl-Arm. A request header X-Modelctl-Deadline-Ms sets the budget (default: the segment's).
"""

from __future__ import annotations

import asyncio
import logging
import math
import threading
import time
import uuid
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import orjson
from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import Response, StreamingResponse
from starlette.background import BackgroundTask

from modelctl.api.auth import authenticate
from modelctl.errors import (
    AllModelsFailed,
    CallCancelled,
    InvalidInput,
    ModelctlError,
    NoEligibleModel,
    NotFound,
    ProviderUnavailable,
    StoreError,
)
from modelctl.providers.base import ChatRequest

router = APIRouter(tags=["gateway"])
log = logging.getLogger("modelctl.gateway")

DEADLINE_HEADER = "x-modelctl-deadline-ms"
# One thread per call in flight: a stream holds its thread until its last token.
CALL_THREADS = 1024
FOLLOW_UP_THREADS = 2
# How long a call's thread waits for the event loop to send the answer's first bytes (_Call._hand_over).
HAND_OVER_S = 0.05
ROLES = ("system", "developer", "user", "assistant", "tool")
TOOL_CHOICES = ("none", "auto", "required")
MAX_STOPS = 4
# The provider's word for why it stopped, in OpenAI's words (Anthropic's stop reasons).
_FINISH = {"end_turn": "stop", "stop_sequence": "stop", "max_tokens": "length", "tool_use": "tool_calls"}


class BadChatRequest(InvalidInput):
    """A chat request the gateway cannot take; `param` names the field, as OpenAI's errors do."""

    def __init__(self, message: str, *, param: str | None = None) -> None:
        super().__init__(message)
        self.param = param


def install(app: FastAPI) -> None:
    """Add the gateway's routes and thread pools to `app`; `shutdown` releases the pools."""
    app.state.gateway_calls = ThreadPoolExecutor(CALL_THREADS, thread_name_prefix="modelctl-gateway")
    app.state.gateway_follow_ups = ThreadPoolExecutor(FOLLOW_UP_THREADS, thread_name_prefix="modelctl-follow-up")
    app.include_router(router)


def shutdown(app: FastAPI) -> None:
    app.state.gateway_calls.shutdown(wait=False, cancel_futures=True)
    app.state.gateway_follow_ups.shutdown(wait=False, cancel_futures=True)


# --- reading the request ---------------------------------------------------------------------------

def parse_chat_request(raw: bytes) -> tuple[Any, bool, bool]:
    """The body as (GatewayRequest, stream, include_usage); BadChatRequest names what is wrong."""
    from modelctl.services.gateway import GatewayRequest

    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise BadChatRequest(f"the body is not valid JSON: {exc}") from None
    if not isinstance(body, dict):
        raise BadChatRequest("the body must be a JSON object")
    model = body.get("model")
    if not isinstance(model, str) or not model.strip():
        raise BadChatRequest("model: give \"auto\", a segment name or a model id", param="model")
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise BadChatRequest("messages: give a non-empty list of messages", param="messages")
    query: str = ""
    images: tuple[str, ...] = ()
    for index, message in enumerate(messages):
        text, found = _check_message(message, f"messages[{index}]")
        if message["role"] == "user":
            query, images = text, found
    if body.get("n", 1) != 1:
        raise BadChatRequest("n: only one choice per request is supported", param="n")
    stream = _typed(body, "stream", bool, False)
    options = body.get("stream_options") or {}
    if not isinstance(options, dict):
        raise BadChatRequest("stream_options: must be an object", param="stream_options")
    include_usage = stream and bool(options.get("include_usage"))
    chat = ChatRequest(
        model_id="", prompt=query, messages=tuple(messages), stream=stream,
        max_tokens=_max_tokens(body), temperature=_number(body, "temperature", 0.0, 2.0),
        top_p=_number(body, "top_p", 0.0, 1.0), stop=_stop(body.get("stop")),
        tools=_tools(body.get("tools")), tool_choice=_tool_choice(body.get("tool_choice")),
    )
    return GatewayRequest(model=model, chat=chat, query=query, images=images), stream, include_usage


def _check_message(message: Any, where: str) -> tuple[str, tuple[str, ...]]:
    """One message's shape; returns its text and its images (for classification)."""
    if not isinstance(message, dict) or message.get("role") not in ROLES:
        raise BadChatRequest(f"{where}: each message needs a role, one of {', '.join(ROLES)}", param=where)
    content = message.get("content")
    if isinstance(content, str):
        return content, ()
    if content is None:
        if message["role"] == "assistant":
            return "", ()
        raise BadChatRequest(f"{where}.content: required for a {message['role']} message", param=f"{where}.content")
    if not isinstance(content, list):
        raise BadChatRequest(f"{where}.content: give a string or a list of parts", param=f"{where}.content")
    texts, images = [], []
    for index, part in enumerate(content):
        at = f"{where}.content[{index}]"
        kind = part.get("type") if isinstance(part, dict) else None
        if kind == "text" and isinstance(part.get("text"), str):
            texts.append(part["text"])
        elif kind == "image_url" and isinstance(part.get("image_url"), dict) and isinstance(
                part["image_url"].get("url"), str):
            images.append(_image(part["image_url"]["url"], at))
        else:
            raise BadChatRequest(f"{at}: give a text part or an image_url part", param=at)
    return " ".join(texts), tuple(images)


def _image(url: str, where: str) -> str:
    """An image for routing: its https URL, or a stand-in name for inline base64 data."""
    if url.startswith(("https://", "http://")):
        return url
    header, sep, _ = url.partition(",")
    if url.startswith("data:image/") and sep and header.endswith(";base64"):
        return "inline." + header[len("data:image/"):-len(";base64")]
    raise BadChatRequest(f"{where}.image_url.url: give an http(s) URL or a data:image/...;base64, URL",
                         param=f"{where}.image_url.url")


def _typed(body: dict[str, Any], name: str, kind: type, default: Any) -> Any:
    value = body.get(name, default)
    if value is None:
        return default
    if not isinstance(value, kind):
        raise BadChatRequest(f"{name}: must be a {kind.__name__}", param=name)
    return value


def _max_tokens(body: dict[str, Any]) -> int | None:
    for name in ("max_completion_tokens", "max_tokens"):
        value = body.get(name)
        if value is None:
            continue
        if isinstance(value, float) and value.is_integer():  # JSON does not tell 1.0 from 1
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
            raise BadChatRequest(f"{name}: must be a positive integer, got {value!r}", param=name)
        return value
    return None


def _number(body: dict[str, Any], name: str, low: float, high: float) -> float | None:
    value = body.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) \
            or not low <= value <= high:
        raise BadChatRequest(f"{name}: must be a number from {low:g} to {high:g}, got {value!r}", param=name)
    return float(value)


def _stop(value: Any) -> tuple[str, ...]:
    stops = (value,) if isinstance(value, str) else value
    if stops is None:
        return ()
    if not isinstance(stops, list) or len(stops) > MAX_STOPS or not all(isinstance(s, str) and s for s in stops):
        raise BadChatRequest(f"stop: give a string or up to {MAX_STOPS} strings", param="stop")
    return tuple(stops)


def _tools(value: Any) -> tuple[dict[str, Any], ...]:
    if value is None:
        return ()
    if not isinstance(value, list):
        raise BadChatRequest("tools: give a list of function tools", param="tools")
    for index, tool in enumerate(value):
        function = tool.get("function") if isinstance(tool, dict) and tool.get("type") == "function" else None
        if not isinstance(function, dict) or not isinstance(function.get("name"), str):
            raise BadChatRequest(f"tools[{index}]: give {{\"type\": \"function\", \"function\": {{\"name\": ...}}}}",
                                 param=f"tools[{index}]")
    return tuple(value)


def _tool_choice(value: Any) -> str | dict[str, Any] | None:
    if value is None or value in TOOL_CHOICES:
        return value
    if isinstance(value, dict) and isinstance((value.get("function") or {}).get("name"), str):
        return value
    raise BadChatRequest(f"tool_choice: give {', '.join(TOOL_CHOICES)} or a named function", param="tool_choice")


def _deadline_ms(request: Request) -> int | None:
    value = request.headers.get(DEADLINE_HEADER)
    if value is None:
        return None
    try:
        deadline = int(value)
    except ValueError:
        deadline = 0
    if deadline <= 0:
        raise BadChatRequest(f"{DEADLINE_HEADER}: must be a positive number of milliseconds, got {value!r}")
    return deadline


# --- writing the answer ----------------------------------------------------------------------------

def _dumps(obj: Any) -> bytes:
    return orjson.dumps(obj)


def error_response(exc: ModelctlError) -> Response:
    """Any failure in OpenAI's error shape: {"error": {"message", "type", "param", "code"}}."""
    status, kind, code = 500, "server_error", None
    if isinstance(exc, NotFound):
        status, kind, code = 404, "invalid_request_error", "model_not_found"
    elif isinstance(exc, InvalidInput):
        status, kind = 400, "invalid_request_error"
    elif isinstance(exc, NoEligibleModel):  # as elsewhere in the API: valid, but unservable now
        status, kind, code = 409, "invalid_request_error", "no_eligible_model"
    elif isinstance(exc, AllModelsFailed):
        status, kind, code = 502, "api_error", "all_models_failed"
    elif isinstance(exc, StoreError):
        status = 503
    body = {"message": str(exc).strip() or type(exc).__name__, "type": kind,
            "param": getattr(exc, "param", None), "code": code}
    return Response(_dumps({"error": body}), status, media_type="application/json")


def _headers(result: Any, request_id: str) -> dict[str, str]:
    return {"X-Modelctl-Model": result.model_id, "X-Modelctl-Request-Id": request_id,
            "X-Modelctl-Attempts": str(len(result.attempts)), "X-Modelctl-Segment": result.segment,
            "X-Modelctl-Arm": result.arm}


def _finish(result: Any) -> str:
    reason = _FINISH.get(result.finish_reason, result.finish_reason) or "stop"
    return "tool_calls" if result.tool_calls and reason == "stop" else reason


def _usage(result: Any) -> dict[str, int]:
    served = result.served
    return {"prompt_tokens": served.tokens_in, "completion_tokens": served.tokens_out,
            "total_tokens": served.tokens_in + served.tokens_out}


def _completion(result: Any, request_id: str) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": result.answer or None, "refusal": None}
    if result.tool_calls:
        message["tool_calls"] = list(result.tool_calls)
    return {"id": f"chatcmpl-{request_id}", "object": "chat.completion", "created": int(time.time()),
            "model": result.model_id, "system_fingerprint": None,
            "choices": [{"index": 0, "message": message, "logprobs": None, "finish_reason": _finish(result)}],
            "usage": _usage(result)}


class _Chunks:
    """Server-sent events of chat.completion.chunk objects for one streamed answer."""

    def __init__(self, request_id: str, model: str, *, include_usage: bool) -> None:
        self.id = f"chatcmpl-{request_id}"
        self.created = int(time.time())
        self.model = model
        self.include_usage = include_usage

    def chunk(self, delta: dict[str, Any], finish: str | None = None) -> bytes:
        body: dict[str, Any] = {
            "id": self.id, "object": "chat.completion.chunk", "created": self.created, "model": self.model,
            "system_fingerprint": None,
            "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}],
        }
        if self.include_usage:
            body["usage"] = None
        return b"data: " + _dumps(body) + b"\n\n"

    def ending(self, result: Any) -> bytes:
        """The tool calls (whole, in one chunk), the finish reason, usage when asked, and [DONE]."""
        out = b""
        if result.tool_calls:
            calls = [{"index": i, **call} for i, call in enumerate(result.tool_calls)]
            out += self.chunk({"tool_calls": calls})
        out += self.chunk({}, _finish(result))
        if self.include_usage:
            body = {"id": self.id, "object": "chat.completion.chunk", "created": self.created, "model": self.model,
                    "system_fingerprint": None, "choices": [], "usage": _usage(result)}
            out += b"data: " + _dumps(body) + b"\n\n"
        return out + b"data: [DONE]\n\n"

    @staticmethod
    def error(exc: ModelctlError) -> bytes:
        body = {"message": str(exc).strip() or type(exc).__name__, "type": "api_error", "param": None,
                "code": "stream_interrupted"}
        return b"data: " + _dumps({"error": body}) + b"\n\n"


# --- the routes ------------------------------------------------------------------------------------

# OpenAPI documentation of the wire format (the handler reads the body itself, for speed and for
# OpenAI's error shape); the essentials a client sends, not every field OpenAI defines.
# Text a provider can be sent: no NUL (modelctl.core.routing.validate_query), within the query limit.
_TEXT = {"type": "string", "pattern": "^[^\\u0000]*$", "maxLength": 100_000}
_TEXT_PART = {"type": "object", "required": ["type", "text"],
              "properties": {"type": {"enum": ["text"]}, "text": _TEXT}}
_IMAGE_PART = {"type": "object", "required": ["type", "image_url"],
               "properties": {"type": {"enum": ["image_url"]},
                              "image_url": {"type": "object", "required": ["url"],
                                            "properties": {"url": {"type": "string", "pattern": "^https://"}}}}}
_CHAT_BODY = {
    "type": "object", "required": ["model", "messages"], "additionalProperties": False,
    "properties": {
        "model": {"type": "string", "pattern": "\\S", "description": "\"auto\", a segment name or a model id"},
        "messages": {"type": "array", "minItems": 1, "items": {
            "type": "object", "required": ["role", "content"],
            "properties": {"role": {"enum": ["system", "developer", "user", "assistant"]},
                           "content": {"anyOf": [_TEXT,
                                                 {"type": "array", "items": {"anyOf": [_TEXT_PART, _IMAGE_PART]}}]}}}},
        "max_tokens": {"type": "integer", "minimum": 1},
        "max_completion_tokens": {"type": "integer", "minimum": 1},
        "temperature": {"type": "number", "minimum": 0, "maximum": 2},
        "top_p": {"type": "number", "minimum": 0, "maximum": 1},
        "stream": {"type": "boolean"},
        "stream_options": {"type": "object", "properties": {"include_usage": {"type": "boolean"}}},
    },
}
_ERROR = {"application/json": {"schema": {
    "type": "object", "required": ["error"],
    "properties": {"error": {"type": "object", "required": ["message", "type", "param", "code"], "properties": {
        "message": {"type": "string"}, "type": {"type": "string"},
        "param": {"type": ["string", "null"]}, "code": {"type": ["string", "null"]}}}}}}}
_CHAT_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"description": "A chat.completion object, or with `stream` a text/event-stream of chunks",
          "content": {"application/json": {"schema": {"type": "object"}},
                      "text/event-stream": {"schema": {"type": "string"}}}},
    400: {"description": "The request is not a valid chat request", "content": _ERROR},
    404: {"description": "No such model or segment", "content": _ERROR},
    409: {"description": "No model in the chain can take the request now", "content": _ERROR},
    502: {"description": "Every model in the chain failed", "content": _ERROR},
}
_MODELS_RESPONSES: dict[int | str, dict[str, Any]] = {200: {"description": "The models a client may name", "content": {
    "application/json": {"schema": {"type": "object", "required": ["object", "data"], "properties": {
        "object": {"enum": ["list"]}, "data": {"type": "array", "items": {
            "type": "object", "required": ["id", "object", "created", "owned_by"]}}}}}}}}

class _Call:
    """One gateway request's call on a pool thread, reporting to the event loop as it goes.

    Events on `events`: ("token", text, model), ("done", RunResult), ("failed", ModelctlError). Once
    a token is out, a failure can no longer fall back (the client has part of one model's answer):
    `on_fallback` ends the call instead. `cancel()` (the client went away) makes the next token
    raise CallCancelled inside the provider call, which closes the upstream connection; the
    attempt is recorded as a failure of kind "cancelled", which rests nothing.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.events: asyncio.Queue[tuple[Any, ...]] = asyncio.Queue()
        self.cancelled = threading.Event()
        self.sent = threading.Event()  # the client has the answer's first bytes
        self.streaming = False
        self.decision: Any = None
        # the model being asked, for a stream's headers (sent before the result exists)
        self.model = self.segment = self.arm = ""
        self.attempts = 0

    def on_decision(self, decision: Any) -> None:
        self.decision = decision
        self.model, self.segment, self.arm, self.attempts = (decision.model_id, decision.segment, decision.arm, 1)

    def _put(self, *event: Any) -> None:
        self.loop.call_soon_threadsafe(self.events.put_nowait, event)

    def on_token(self, piece: str) -> None:
        if self.cancelled.is_set():
            raise CallCancelled("the client disconnected; the call was stopped")
        first = not self.streaming
        self.streaming = True
        self._put("token", piece)
        if first:
            self._hand_over()

    def on_fallback(self, attempt: Any, next_model: str) -> None:
        if self.cancelled.is_set():
            raise CallCancelled("the client disconnected; no further model was asked")
        if self.streaming:
            raise ProviderUnavailable(f"{attempt.model_id} failed after its answer began: {attempt.error}")
        from modelctl.services.run import fallback_arm

        self.model, self.attempts = next_model, self.attempts + 1
        self.arm = fallback_arm(self.decision.arm)

    def deliver(self, result: Any) -> None:
        self._put("done", result)
        self._hand_over()

    def _hand_over(self) -> None:
        """Wait until the event loop has sent the first bytes. Left running, this thread would parse
        the rest of the stream (or record the attempt) holding the GIL the loop needs to send them
        (`bench_gateway.py --phases ttfb` measures the time to the first byte)."""
        self.sent.wait(HAND_OVER_S)

    def cancel(self) -> None:
        self.cancelled.set()
        self.sent.set()


def _run_call(app: FastAPI, gateway_request: Any, call: _Call, *, request_id: str, deadline_ms: int | None,
              stream: bool, client_key: str | None) -> None:
    """On a pool thread: answer, then hand the follow-up (shadow call, judge) to its own pool."""
    from modelctl.services.gateway import answer_chat

    store = app.state.store
    try:
        result = answer_chat(store, gateway_request, request_id=request_id, deadline_ms=deadline_ms,
                             on_decision=call.on_decision, on_token=call.on_token if stream else None,
                             on_fallback=call.on_fallback, deliver=call.deliver, client_key=client_key)
    except ModelctlError as exc:
        call._put("failed", exc)
        return
    except BaseException as exc:
        log.exception("gateway request %s failed", request_id)
        call._put("failed", ModelctlError(f"internal error: {type(exc).__name__}; the server log has the details"))
        return
    job = result.followup
    if job is not None:
        app.state.gateway_follow_ups.submit(_follow_up, store, job, request_id)


def _follow_up(store: Any, job: Any, request_id: str) -> None:
    from modelctl.services.judge import follow_up

    try:
        follow_up(store, job)
    except Exception:  # a lost follow-up costs one sample; the log says why
        log.exception("the follow-up of request %s failed", request_id)


@router.post("/v1/chat/completions", responses=_CHAT_RESPONSES, openapi_extra={
    "requestBody": {"required": True, "content": {"application/json": {"schema": _CHAT_BODY}}}})
async def chat_completions(request: Request) -> Response:
    """An OpenAI Chat Completions request, routed and answered (or streamed) in OpenAI's format."""
    app = request.app
    request_id = uuid.uuid4().hex
    try:
        gateway_request, stream, include_usage = parse_chat_request(await request.body())
        deadline_ms = _deadline_ms(request)
    except ModelctlError as exc:
        return error_response(exc)
    client_key = authenticate(request).key
    loop = asyncio.get_running_loop()
    call = _Call(loop)
    worker = loop.run_in_executor(app.state.gateway_calls, lambda: _run_call(
        app, gateway_request, call, request_id=request_id, deadline_ms=deadline_ms, stream=stream,
        client_key=client_key))
    worker.add_done_callback(lambda f: f.exception())  # _run_call reports every failure as an event
    first = await call.events.get()
    if first[0] == "failed":
        return error_response(first[1])
    if not stream:
        result = first[1]
        return Response(_dumps(_completion(result, request_id)), media_type="application/json",
                        headers=_headers(result, request_id), background=BackgroundTask(call.sent.set))
    return await _streamed(call, first, request_id=request_id, include_usage=include_usage)


async def _streamed(call: _Call, first: tuple[Any, ...], *, request_id: str, include_usage: bool) -> Response:
    """The stream; its headers go with the first token, so they name the model whose answer it is."""
    if first[0] == "done":
        result = first[1]
        headers = _headers(result, request_id)
        model = result.model_id
    else:
        headers = {"X-Modelctl-Model": call.model, "X-Modelctl-Request-Id": request_id,
                   "X-Modelctl-Attempts": str(call.attempts), "X-Modelctl-Segment": call.segment,
                   "X-Modelctl-Arm": call.arm}
        model = call.model
    chunks = _Chunks(request_id, model, include_usage=include_usage)

    async def body() -> AsyncIterator[bytes]:
        """The chunks of every event that has arrived, in one write: a provider's burst of tokens
        costs the loop one send, not one per token."""
        events = [first]
        try:
            out = [chunks.chunk({"role": "assistant", "content": ""})]
            while True:
                for kind, value in events:
                    if kind == "token":
                        out.append(chunks.chunk({"content": value}))
                    else:
                        yield b"".join(out) + (chunks.ending(value) if kind == "done" else _Chunks.error(value))
                        return
                yield b"".join(out)
                call.sent.set()
                out, events = [], [await call.events.get()]
                while not call.events.empty():
                    events.append(call.events.get_nowait())
        finally:
            call.cancel()  # nothing to stop once the answer is complete; else the client left

    return StreamingResponse(body(), media_type="text/event-stream", headers={"Cache-Control": "no-cache", **headers})


@router.get("/v1/models", responses=_MODELS_RESPONSES)
async def list_models(request: Request) -> Response:
    """"auto", the segments and the routable models, in OpenAI's list format."""
    from modelctl.services.gateway import served_models

    data = [{"id": name, "object": "model", "created": 0, "owned_by": owner}
            for name, owner in served_models(request.app.state.store)]
    return Response(_dumps({"object": "list", "data": data}), media_type="application/json")
