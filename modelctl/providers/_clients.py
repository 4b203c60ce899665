"""One httpx2 client per provider per process, shared by its SDK client and our own list calls, so
connections are pooled and reused across calls. The pool has no cap on open connections (httpx2's
default is 100): the gateway holds one per stream in flight, and a capped pool would make the
stream after the cap wait, inside its budget, for another to end.

SDK clients hold the key they were built with; the cache remembers only a digest of it, so a key
rotated in the environment gets a fresh SDK client on the same HTTP client.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from modelctl.providers.base import ProviderSettings

if TYPE_CHECKING:
    import httpx2

# Idle connections kept per provider; busier moments open more and close them when done.
KEEP_ALIVE_CONNECTIONS = 100
_lock = threading.RLock()
_http: dict[ProviderSettings, httpx2.Client] = {}
_sdk: dict[ProviderSettings, tuple[str, Any]] = {}


def http_client(settings: ProviderSettings) -> httpx2.Client:
    with _lock:
        client = _http.get(settings)
        if client is None:
            import httpx2

            from modelctl.providers._transport import PoolingTransport

            limits = httpx2.Limits(max_connections=None, max_keepalive_connections=KEEP_ALIVE_CONNECTIONS)
            client = _http[settings] = httpx2.Client(transport=PoolingTransport(limits=limits))
        return client


def sdk_client(settings: ProviderSettings, key: str, build: Callable[[httpx2.Client], Any]) -> Any:
    digest = hashlib.sha256(key.encode()).hexdigest()
    with _lock:
        cached = _sdk.get(settings)
        if cached is None or cached[0] != digest:
            cached = _sdk[settings] = (digest, build(http_client(settings)))
        return cached[1]
