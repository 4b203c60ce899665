"""The server's own schedule (POST /start, /stop): the upgrade tick and weekly discovery.

The original auto-upgrade service ran these itself; here they are the same services cron calls,
run on worker threads from the server's event loop. The tick's lease keeps this loop and a cron
tick from both acting. A failing run is logged and remembered; the loop goes on.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from modelctl import clock
from modelctl.clock import rfc3339
from modelctl.errors import ModelctlError
from modelctl.services.database import Store

log = logging.getLogger("modelctl.api")


class UpgradeLoop:
    def __init__(self, store: Store, *, tick_interval_s: float, discover_interval_s: float) -> None:
        if not (tick_interval_s > 0 and discover_interval_s > 0):
            raise ValueError("intervals must be > 0")
        self.store = store
        self.tick_interval_s = tick_interval_s
        self.discover_interval_s = discover_interval_s
        self._tasks: list[asyncio.Task] = []
        self.runs = {"tick": 0, "discover": 0}
        self.last: dict[str, dict[str, Any] | None] = {"tick": None, "discover": None}

    @property
    def running(self) -> bool:
        return any(not task.done() for task in self._tasks)

    def status(self) -> dict[str, Any]:
        return {
            "running": self.running,
            "tick_interval_s": self.tick_interval_s,
            "discover_interval_s": self.discover_interval_s,
            "ticks": self.runs["tick"],
            "discoveries": self.runs["discover"],
            "last_tick": self.last["tick"],
            "last_discovery": self.last["discover"],
        }

    def start(self) -> dict[str, Any]:
        """Idempotent: a second start while running changes nothing. The first runs come one
        interval after the start, as cron's would."""
        if not self.running:
            self._tasks = [
                asyncio.create_task(self._every(self.tick_interval_s, "tick", self._tick)),
                asyncio.create_task(self._every(self.discover_interval_s, "discover", self._discover)),
            ]
        return self.status()

    async def stop(self) -> dict[str, Any]:
        tasks, self._tasks = self._tasks, []
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        return self.status()

    async def _every(self, interval_s: float, name: str, job: Callable[[], dict[str, Any]]) -> None:
        while True:
            await asyncio.sleep(interval_s)
            started = clock.now()
            try:
                outcome = await asyncio.to_thread(job)
            except ModelctlError as exc:
                outcome = {"error": str(exc)}
                log.warning("%s failed: %s", name, exc)
            except Exception:
                log.exception("%s failed", name)
                outcome = {"error": "internal error; see the server log"}
            self.runs[name] += 1
            self.last[name] = {"at": rfc3339(started), **outcome}

    def _tick(self) -> dict[str, Any]:
        from modelctl.services.upgrade import tick

        report = tick(self.store)
        return {"lease": report.lease, "transitions": [
            {"candidate_id": t.rollout.candidate_id, "action": t.action, "phase": t.phase, "applied": t.applied}
            for t in report.transitions if t.action not in ("wait", "hold")
        ]}

    def _discover(self) -> dict[str, Any]:
        from modelctl.services.discovery import discover

        report = discover(self.store)
        return {"discovered": sum(p.count("new") for p in report.providers),
                "failed": [p.listing.provider for p in report.failed]}
