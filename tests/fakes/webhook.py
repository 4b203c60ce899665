"""A chat webhook on 127.0.0.1 (Slack's incoming-webhook behaviour: 200 "ok"), with queued faults.

It shares the fake providers' threaded server and request record (tests/fakes/server.py).
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

from tests.fakes.server import Recorded, Reply, _handler_for, _Server


@dataclass(frozen=True)
class Answer:
    status: int = 200
    retry_after: str | None = None
    delay_s: float = 0.0  # wait this long before answering (a hanging server)


class FakeWebhook:
    """`answer_next(Answer(...), ...)` queues replies; then 200 "ok". `requests` and `times` record
    what arrived and when (time.monotonic)."""

    def __init__(self) -> None:
        self.requests: list[Recorded] = []
        self.times: list[float] = []
        self.hangups = 0  # replies the client cut off by closing its connection
        self._queue: list[Answer] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._server = _Server(("127.0.0.1", 0), _handler_for(self))
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/services/T000/B000/secret-path"

    def answer_next(self, *answers: Answer) -> None:
        with self._lock:
            self._queue.extend(answers)

    def _dispatch(self, request: Recorded, reply: Reply) -> None:
        with self._lock:
            self.requests.append(request)
            self.times.append(time.monotonic())
            answer = self._queue.pop(0) if self._queue else Answer()
        if answer.delay_s:
            reply.wait(answer.delay_s)
        headers = {"Retry-After": answer.retry_after} if answer.retry_after else None
        text = b"ok" if answer.status == 200 else b"server_error"
        reply.body(answer.status, text, content_type="text/plain", headers=headers)

    def close(self) -> None:
        self._stop.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

