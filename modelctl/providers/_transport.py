"""httpx2's transport, with one change for server-sent events: a stream whose last event was
`[DONE]` is read to its end before it is closed.

The openai SDK stops reading a stream at `[DONE]` and closes it. When the body's closing chunk has
not arrived by then (a server that sends it on its own), closing an unfinished body throws the
connection away, and the next call opens a new one (and over TLS negotiates it anew): the SDK's
issue openai/openai-python#3440, whose maintainers would rather see it handled in the transport.
The closing chunk follows `[DONE]` at once, so reading it costs nothing; a server that never sent
it would hold the read until the call's timeout, after the answer is out. A stream closed before
`[DONE]` (a client that went away) is still closed at once, which is what stops the provider.
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx2

_DONE = b"data: [DONE]"


class _ReadToEndAfterDone(httpx2.SyncByteStream):
    def __init__(self, inner: httpx2.SyncByteStream) -> None:
        self._inner = inner
        self._tail = b""

    def __iter__(self) -> Iterator[bytes]:
        for part in self._inner:
            self._tail = (self._tail + part)[-2 * len(_DONE):]
            yield part

    def close(self) -> None:
        if self._tail.rstrip().endswith(_DONE):
            try:
                for _ in self._inner:
                    pass
            except httpx2.HTTPError:
                pass  # the connection is closed below, as it would have been
        self._inner.close()


class PoolingTransport(httpx2.HTTPTransport):
    def handle_request(self, request: httpx2.Request) -> httpx2.Response:
        response = super().handle_request(request)
        stream = response.stream
        if isinstance(stream, httpx2.SyncByteStream) and \
                response.headers.get("content-type", "").startswith("text/event-stream"):
            response.stream = _ReadToEndAfterDone(stream)
        return response
