"""The machinery every fake provider shares: a threaded HTTP/1.1 server on 127.0.0.1, a record of
the requests it received, and faults queued for the next N requests or pinned to a model.

Replies are written by hand (chunked SSE, truncated bodies, dropped connections) because the faults
we care about live below what a web framework lets you express.
"""

from __future__ import annotations

import json
import re
import socket
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import parse_qsl, urlsplit

DATA = Path(__file__).parent / "data"

FAULTS = (
    "delay",  # answer only after `delay_s` (past the client's deadline)
    "slow_stream",  # stream events `delay_s` apart
    "rate_limit",  # 429 with Retry-After
    "server_error",  # 500
    "unauthorized",  # 401 whose message echoes the key it was sent
    "context_length",  # 400 saying the prompt exceeds the context window
    "bad_request",  # 400 for any other reason
    "malformed",  # 200 whose body (or stream event) is not JSON
    "cut_stream",  # connection dropped halfway through the body
    "late_end",  # a stream's body ends `delay_s` after its last event (a chunk of its own)
)


def load_sample(name: str) -> Any:
    return json.loads((DATA / name).read_text())


def unused_port_url() -> str:
    """A loopback URL with nothing listening, for "connection refused"."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


@dataclass(frozen=True)
class Recorded:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]  # names lower-cased
    json: Any
    client_port: int  # the same port on two requests means the client reused its connection


@dataclass(frozen=True)
class Fault:
    kind: str
    delay_s: float = 2.0
    retry_after: str | None = None

    def __post_init__(self) -> None:
        if self.kind not in FAULTS:
            raise ValueError(f"unknown fault {self.kind!r}; expected one of {FAULTS}")


class Reply:
    """Writes one response on the handler's connection."""

    def __init__(self, handler: BaseHTTPRequestHandler, stop: threading.Event) -> None:
        self._h = handler
        self._stop = stop

    def wait(self, seconds: float) -> None:
        self._stop.wait(seconds)

    def body(
        self, status: int, payload: bytes, *, content_type: str, headers: dict[str, str] | None = None
    ) -> None:
        self._h.send_response(status)
        self._h.send_header("Content-Type", content_type)
        self._h.send_header("Content-Length", str(len(payload)))
        for name, value in (headers or {}).items():
            self._h.send_header(name, value)
        self._h.end_headers()
        self._h.wfile.write(payload)

    def json(self, status: int, obj: Any, *, headers: dict[str, str] | None = None) -> None:
        self.body(status, json.dumps(obj).encode(), content_type="application/json", headers=headers)

    def truncated(self, status: int, payload: bytes) -> None:
        """Promise the whole body, send half of it, hang up."""
        self._h.send_response(status)
        self._h.send_header("Content-Type", "application/json")
        self._h.send_header("Content-Length", str(len(payload)))
        self._h.end_headers()
        self._h.wfile.write(payload[: len(payload) // 2])
        self._h.wfile.flush()
        self._h.close_connection = True

    def sse(self, events: Iterable[str], *, gap_s: float = 0.0, cut_after: int | None = None,
            end_gap_s: float = 0.0) -> None:
        """Chunked text/event-stream; `cut_after` events then the connection drops mid-body;
        `end_gap_s` between the last event and the chunk that ends the body."""
        self._h.send_response(200)
        self._h.send_header("Content-Type", "text/event-stream")
        self._h.send_header("Cache-Control", "no-cache")
        self._h.send_header("Transfer-Encoding", "chunked")
        self._h.end_headers()
        for sent, event in enumerate(events):
            if cut_after is not None and sent == cut_after:
                self._h.wfile.flush()
                self._h.close_connection = True
                return
            if gap_s and sent:
                self.wait(gap_s)
            data = event.encode()
            self._h.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
            self._h.wfile.flush()
        if end_gap_s:
            self.wait(end_gap_s)
        self._h.wfile.write(b"0\r\n\r\n")


Route = Callable[[Recorded, Reply], None]


class FakeProvider:
    """Base of the fakes. Subclasses fill `routes`, the sample model list, and the error body shape.

    Knobs a test turns: `set_answer`, `set_tool_call` (a request offering tools gets this call
    instead of text), `answer_model` (one model answers from the request's last
    message, a judge say), `set_usage`, `set_models` (with a page size for the paginated
    list endpoints), `fail_next` and `fail_model`. `requests` is every request received, in order;
    `hangups` counts replies the client cut off by closing its connection.
    """

    models_sample: str = ""
    models_key: str | None = None  # where the sample payload keeps its list of models

    def __init__(self) -> None:
        self.requests: list[Recorded] = []
        self.answer_text = "Paris is the capital of France."
        self.tool_call: dict | None = None
        self.hangups = 0
        self._answerers: dict[str, Callable[[str], str]] = {}
        self.tokens_in = 14
        self.tokens_out = 7
        sample = load_sample(self.models_sample)
        self.models: list[dict] = sample[self.models_key] if self.models_key else sample
        self.page_size = 1000
        self._lock = threading.Lock()
        self._next_faults: list[Fault] = []
        self._model_faults: dict[str, Fault] = {}
        self._stop = threading.Event()
        self._server = _Server(("127.0.0.1", 0), _handler_for(self))
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def routes(self) -> dict[tuple[str, str], Route]:
        raise NotImplementedError

    def error_body(self, status: int, kind: str, message: str, code: str | None) -> Any:
        raise NotImplementedError

    def set_answer(self, text: str) -> None:
        self.answer_text = text

    def set_tool_call(self, call: dict) -> None:
        """`call` in the OpenAI shape ({"id", "type", "function": {"name", "arguments"}}); each fake
        answers it in its own protocol when the request offers tools."""
        self.tool_call = call

    def calls_tool(self, request: Recorded) -> dict | None:
        return self.tool_call if self.tool_call is not None and request.json.get("tools") else None

    def answer_model(self, model_id: str, answerer: Callable[[str], str]) -> None:
        """`model_id` answers `answerer(the request's last message text)` instead of `answer_text`."""
        self._answerers[model_id] = answerer

    def answer_for(self, request: Recorded) -> str:
        """The (unstreamed) answer to a chat request: its model's answerer's, else `answer_text`."""
        answerer = self._answerers.get(request.json.get("model"))
        if answerer is None:
            return self.answer_text
        content = request.json["messages"][-1]["content"]
        if isinstance(content, list):
            content = "".join(part.get("text", "") for part in content if isinstance(part, dict))
        return answerer(content)

    def set_usage(self, tokens_in: int, tokens_out: int) -> None:
        self.tokens_in, self.tokens_out = tokens_in, tokens_out

    def set_models(self, models: list[dict], *, page_size: int | None = None) -> None:
        self.models = list(models)
        if page_size is not None:
            self.page_size = page_size

    def fail_next(
        self, kind: str, *, times: int = 1, delay_s: float = 2.0, retry_after: str | None = None
    ) -> None:
        with self._lock:
            self._next_faults.extend([Fault(kind, delay_s, retry_after)] * times)

    def fail_model(
        self, model_id: str, kind: str, *, delay_s: float = 2.0, retry_after: str | None = None
    ) -> None:
        with self._lock:
            self._model_faults[model_id] = Fault(kind, delay_s, retry_after)

    def close(self) -> None:
        self._stop.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def chunks(self) -> list[str]:
        """The answer split the way a model streams it: word by word, spaces kept."""
        return re.findall(r"\S+\s*|\s+", self.answer_text)

    def _take_fault(self, request: Recorded) -> Fault | None:
        model = request.json.get("model") if isinstance(request.json, dict) else None
        with self._lock:
            if self._next_faults:
                return self._next_faults.pop(0)
            return self._model_faults.get(model) if model else None

    def _dispatch(self, request: Recorded, reply: Reply) -> None:
        with self._lock:
            self.requests.append(request)
        route = self.routes().get((request.method, request.path))
        if route is None:
            reply.json(404, self.error_body(404, "not_found_error", f"no route {request.path}", None))
            return
        fault = self._take_fault(request)
        streaming = isinstance(request.json, dict) and bool(request.json.get("stream"))
        if fault is None or (fault.kind in ("slow_stream", "late_end") and not streaming):
            route(request, reply)
        elif fault.kind == "delay":
            reply.wait(fault.delay_s)
            route(request, reply)
        elif fault.kind in ("slow_stream", "cut_stream", "malformed", "late_end") and streaming:
            self.stream_fault(request, reply, fault)
        elif fault.kind == "malformed":
            reply.body(200, b'{"id": "broken", "choices": [', content_type="application/json")
        elif fault.kind == "cut_stream":
            reply.truncated(200, json.dumps({"id": "cut", "padding": "x" * 200}).encode())
        else:
            self._error(request, reply, fault)

    def stream_fault(self, request: Recorded, reply: Reply, fault: Fault) -> None:
        raise NotImplementedError

    def _error(self, request: Recorded, reply: Reply, fault: Fault) -> None:
        bearer = request.headers.get("authorization", "").removeprefix("Bearer ")
        sent_key = request.headers.get("x-api-key") or bearer
        status, kind, message, code = {
            "rate_limit": (429, "rate_limit_error", "Rate limit reached for requests", "rate_limit_exceeded"),
            "server_error": (500, "api_error", "The server had an error processing your request.", None),
            "unauthorized": (401, "authentication_error", f"Invalid API key: {sent_key}", "invalid_api_key"),
            "context_length": (400, "invalid_request_error", self.context_message, "context_length_exceeded"),
            "bad_request": (400, "invalid_request_error", "temperature: must be between 0 and 2", None),
        }[fault.kind]
        headers = {"Retry-After": fault.retry_after} if fault.retry_after and status == 429 else None
        reply.json(status, self.error_body(status, kind, message, code), headers=headers)

    context_message = (
        "This model's maximum context length is 8192 tokens. However, your messages resulted in "
        "9120 tokens. Please reduce the length of the messages."
    )


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 1024  # a gateway opening hundreds of streams at once is not refused

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Clients hanging up on a delayed reply is the point of several tests, not an error."""


class _Served(Protocol):
    """What the request handler needs of a fake: FakeProvider and FakeWebhook are both one."""

    hangups: int
    _lock: threading.Lock
    _stop: threading.Event

    def _dispatch(self, request: Recorded, reply: Reply) -> None: ...


def _handler_for(fake: _Served) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True  # else delayed ACKs add ~40 ms to every small reply

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def _handle(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            try:
                body = json.loads(raw) if raw else None
            except ValueError:
                body = raw.decode(errors="replace")
            url = urlsplit(self.path)
            request = Recorded(
                method=self.command,
                path=url.path,
                query=dict(parse_qsl(url.query)),
                headers={k.lower(): v for k, v in self.headers.items()},
                json=body,
                client_port=self.client_address[1],
            )
            try:
                fake._dispatch(request, Reply(self, fake._stop))
            except (BrokenPipeError, ConnectionResetError):
                with fake._lock:
                    fake.hangups += 1
                self.close_connection = True

        do_GET = do_POST = _handle

    return Handler
