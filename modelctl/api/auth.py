"""Who is calling: the admin token, a client key, or (on a loopback server without a token) anyone.

The `Authenticate` middleware decides before a body is read and leaves a `Caller` in the request
scope; handlers (and the gateway) ask for it with `authenticate(request)`. A client key is looked
up by its hash in the database on every request, so a revocation or a spent budget takes effect at
once in every process and on every host sharing the database; it also gets its own rate-limit
bucket at its own rate (per process, as every bucket is).
"""

from __future__ import annotations

import asyncio
import hmac
import math
from dataclasses import dataclass

from starlette.requests import Request

from modelctl.api.guards import App, Receive, Scope, Send, TokenBuckets, header, reply
from modelctl.services.database import Store

SCOPE_KEY = "modelctl.caller"


@dataclass(frozen=True)
class Caller:
    """`key` is the client key's name (None for the admin token and anonymous callers); `actor`
    is how the audit log names the caller."""

    actor: str
    key: str | None = None

    @property
    def is_admin(self) -> bool:
        return self.actor == ADMIN.actor


ADMIN = Caller("token:admin")
ANONYMOUS = Caller("anonymous")  # a loopback server without MODELCTL_API_TOKEN: anyone on this host


def authenticate(request: Request) -> Caller:
    """The caller of this request (a FastAPI dependency: `caller: Caller = Depends(authenticate)`)."""
    return request.scope.get(SCOPE_KEY, ANONYMOUS)


class Authenticate:
    """Bearer credentials: the admin token (MODELCTL_API_TOKEN) or a client key (`modelctl keys
    create`). With a token set, every request but GET /health needs one of them; without one (a
    loopback server) a request is anonymous unless it gives a client key, which must then be valid.
    Other bearer values are ignored there: the OpenAI SDKs always send one (`api_key="unused"`).
    A key past its monthly budget gets 429 saying so; over its own rate, 429 with Retry-After."""

    def __init__(self, app: App, *, store: Store, token: str | None) -> None:
        self.app = app
        self.store = store
        self.expected = f"Bearer {token}".encode() if token else None
        self.key_buckets: dict[str, TokenBuckets] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or (scope["method"] in ("GET", "HEAD") and scope["path"] == "/health"):
            await self.app(scope, receive, send)
            return
        given = header(scope, b"authorization") or b""
        if self.expected is not None and hmac.compare_digest(given, self.expected):
            scope[SCOPE_KEY] = ADMIN
        elif given.startswith(b"Bearer mk_"):
            if not await self._admit_key(scope, send, given[len(b"Bearer "):].decode("latin-1")):
                return
        elif self.expected is not None:
            await reply(send, 401, "missing or wrong bearer token (Authorization: Bearer $MODELCTL_API_TOKEN, "
                        "or a client key from `modelctl keys create`)", headers={"WWW-Authenticate": "Bearer"})
            return
        await self.app(scope, receive, send)

    async def _admit_key(self, scope: Scope, send: Send, secret: str) -> bool:
        from modelctl.services.keys import check_key

        check = await asyncio.to_thread(check_key, self.store, secret)
        if check.key is None:
            await reply(send, 401, "unknown or revoked client key", headers={"WWW-Authenticate": "Bearer"})
            return False
        if check.refusal:
            await reply(send, 429, check.refusal)
            return False
        if check.key.rate_limit is not None:
            buckets = self.key_buckets.get(check.key.name)
            if buckets is None or buckets.rate != check.key.rate_limit:
                buckets = self.key_buckets[check.key.name] = TokenBuckets(
                    rate=check.key.rate_limit, burst=max(1, math.ceil(check.key.rate_limit)))
            wait = buckets.take(check.key.name)
            if wait > 0:
                await reply(send, 429, f"key {check.key.name!r} is limited to {check.key.rate_limit:g} requests/s; "
                            "retry later", headers={"Retry-After": str(max(1, math.ceil(wait)))})
                return False
        scope[SCOPE_KEY] = Caller(f"key:{check.key.name}", key=check.key.name)
        return True
