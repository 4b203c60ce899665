"""What stands between the network and the handlers: rate limit and body size (credentials: auth.py).

Plain ASGI middlewares (not Starlette's BaseHTTPMiddleware, which costs a task per request on
the router's hot path; `python tests/benchmarks/bench_serve.py` measures it).
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from starlette.exceptions import HTTPException

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
App = Callable[[Scope, Receive, Send], Awaitable[None]]


async def reply(send: Send, status: int, detail: str, *, headers: dict[str, str] | None = None) -> None:
    body = json.dumps({"detail": detail}).encode()
    raw = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    raw += [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body})


def header(scope: Scope, name: bytes) -> bytes | None:
    for key, value in scope.get("headers") or ():
        if key == name:
            return value
    return None


class TokenBuckets:
    """One token bucket per client: `rate` requests a second on average, bursts up to `burst`.

    Buckets that have refilled are forgotten once there are many, so a scan from many
    addresses cannot grow memory without bound.
    """

    MAX_CLIENTS = 10_000

    def __init__(self, *, rate: float, burst: int, clock: Callable[[], float] = time.monotonic) -> None:
        if not rate > 0 or burst < 1:
            raise ValueError("rate must be > 0 and burst >= 1")
        self.rate = rate
        self.burst = float(burst)
        self.clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}

    def take(self, client: str) -> float:
        """0 when the request may go ahead, else the seconds until it could."""
        now = self.clock()
        tokens, last = self._buckets.get(client, (self.burst, now))
        tokens = min(self.burst, tokens + (now - last) * self.rate)
        if tokens >= 1.0:
            self._buckets[client] = (tokens - 1.0, now)
            if len(self._buckets) > self.MAX_CLIENTS:
                self._forget_full(now)
            return 0.0
        self._buckets[client] = (tokens, now)
        return (1.0 - tokens) / self.rate

    def _forget_full(self, now: float) -> None:
        full_after = self.burst / self.rate
        self._buckets = {c: b for c, b in self._buckets.items() if now - b[1] < full_after}


class RateLimit:
    """429 with Retry-After (whole seconds, at least 1) when a client's bucket is empty."""

    def __init__(self, app: App, *, buckets: TokenBuckets) -> None:
        self.app = app
        self.buckets = buckets

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            client = (scope.get("client") or ("unknown", 0))[0]
            wait = self.buckets.take(client)
            if wait > 0:
                await reply(send, 429, f"rate limit: {self.buckets.rate:g} requests/s, bursts of "
                            f"{self.buckets.burst:g}; retry later",
                            headers={"Retry-After": str(max(1, math.ceil(wait)))})
                return
        await self.app(scope, receive, send)


class BodyLimit:
    """413 for a body over `limit` bytes: by Content-Length up front, or counted as it streams in."""

    def __init__(self, app: App, *, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = header(scope, b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.limit):
            await reply(send, 413, f"request body over {self.limit:,} bytes")
            return
        seen = 0
        started = False

        async def counted() -> MutableMapping[str, Any]:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.limit:
                    raise _TooLarge(self.limit)
            return message

        async def tracked(message: MutableMapping[str, Any]) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted, tracked)
        except _TooLarge:
            if not started:
                await reply(send, 413, f"request body over {self.limit:,} bytes")


class _TooLarge(HTTPException):
    """Raised out of `receive`: FastAPI turns any other error there into a 400, but passes an
    HTTPException on to its handler, which answers 413."""

    def __init__(self, limit: int) -> None:
        super().__init__(status_code=413, detail=f"request body over {limit:,} bytes")
