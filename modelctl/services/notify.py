"""Rollout events posted to a webhook (Slack-compatible JSON), for people who do not watch the tick.

Events: a rollout started, moved to another phase, was rolled back or rejected, and a model retires
inside the autopilot's horizon with no successor that passed. A notification is a courtesy, never
a reason for `upgrade tick` to fail or linger: 5xx, 429 and connection errors are tried again with
exponential backoff (a Retry-After is honoured), every attempt and wait together stay within
`notify.max_seconds`, and what went wrong comes back as a warning for the caller to show and audit.
The body holds the event's names and reason only, with any provider key's value blanked, and the
URL (a credential for Slack) never appears in a warning: only its host does.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import urlsplit

from modelctl import __version__
from modelctl.clock import retry_after_seconds
from modelctl.errors import ModelctlError

if TYPE_CHECKING:
    from modelctl.config import NotifySettings

EventKind = Literal["rollout_started", "phase_changed", "rolled_back", "rejected", "retirement_without_successor",
                    "successor_took_over"]
RETRIED_STATUS = frozenset({429, 500, 502, 503, 504})
FIRST_BACKOFF_S = 0.25
REDACTED = "[redacted]"


@dataclass(frozen=True, slots=True)
class RolloutEvent:
    """What happened, in the words of the rollout: from services/upgrade.py's transitions (start ->
    rollout_started, advance or promote -> phase_changed, rollback -> rolled_back, reject -> rejected),
    or from the autopilot's retirement check (incumbent = the retiring model, candidate = its
    successor if it has one)."""

    event: EventKind
    incumbent: str
    candidate: str | None = None
    rollout: int | None = None
    phase: str | None = None  # the phase the rollout is in now
    segments: tuple[str, ...] = ()
    traffic_pct: float | None = None
    reason: str = ""

    def text(self) -> str:
        """One line for the chat: what happened to whom, then why."""
        candidate = self.candidate or "no successor"
        where = f" on {', '.join(self.segments)}" if self.segments else ""
        share = f" at {self.traffic_pct:g}% of traffic" if self.traffic_pct else ""
        what = {
            "rollout_started": f"rollout of {candidate} against {self.incumbent}{where} started in {self.phase}{share}",
            "phase_changed": f"rollout of {candidate} against {self.incumbent}{where} moved to {self.phase}{share}",
            "rolled_back": f"rollout of {candidate} against {self.incumbent}{where} rolled back",
            "rejected": f"rollout of {candidate} against {self.incumbent}{where} rejected",
            "retirement_without_successor": f"{self.incumbent} retires soon and has no passing successor "
                                            f"({candidate})",
            "successor_took_over": f"{self.incumbent} retired; {candidate} took its place{where}",
        }[self.event]
        number = f" #{self.rollout}" if self.rollout is not None else ""
        return f"modelctl{number}: {what}" + (f": {self.reason}" if self.reason else "")

    def body(self) -> dict[str, Any]:
        return {
            "text": self.text(),
            "event": self.event,
            "rollout": self.rollout,
            "candidate": self.candidate,
            "incumbent": self.incumbent,
            "phase": self.phase,
            "segments": list(self.segments),
            "traffic_pct": self.traffic_pct,
            "reason": self.reason,
        }


@dataclass(frozen=True, slots=True)
class NotifyOutcome:
    """`delivered` False with no warning: no webhook is configured."""

    delivered: bool
    attempts: int = 0
    warning: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"delivered": self.delivered, "attempts": self.attempts, "warning": self.warning}


def notify(event: RolloutEvent, settings: NotifySettings) -> NotifyOutcome:
    """Post `event` to the configured webhook; never raises, never takes longer than max_seconds
    (plus the moment it takes to give up)."""
    url = settings.resolved_url()
    if not url:
        return NotifyOutcome(delivered=False)
    host = urlsplit(url).hostname or "the webhook"
    failed = f"notification {event.event} to {host} failed"
    try:
        body = _without_keys(event.body())  # when the keys cannot be known, nothing is sent
        return _post(url, body, host=host, cap_s=settings.max_seconds)
    except ModelctlError as exc:
        return NotifyOutcome(False, warning=f"{failed}: {str(exc).splitlines()[0]}")
    except Exception as exc:  # noqa: BLE001 - a notification must never break the tick
        return NotifyOutcome(False, warning=f"{failed}: {type(exc).__name__}")


def _post(url: str, body: dict[str, Any], *, host: str, cap_s: float) -> NotifyOutcome:
    import httpx2

    deadline = time.monotonic() + cap_s
    backoff = FIRST_BACKOFF_S
    attempts = 0
    headers = {"User-Agent": f"modelctl/{__version__}"}
    with httpx2.Client(follow_redirects=False) as client:
        while True:  # every wait below ends before the deadline, so each attempt has time left
            attempts += 1
            wait: float | None = None
            try:
                response = client.post(url, json=body, headers=headers, timeout=deadline - time.monotonic())
            except httpx2.TimeoutException:
                problem = "no answer"
            except httpx2.TransportError as exc:
                problem, wait = f"cannot connect ({type(exc).__name__})", backoff
            else:
                if response.is_success:
                    return NotifyOutcome(True, attempts)
                problem = f"HTTP {response.status_code}"
                if response.status_code not in RETRIED_STATUS:
                    return NotifyOutcome(False, attempts, f"notification {body['event']} to {host} refused: "
                                                          f"{problem}; check the webhook URL")
                wait = retry_after_seconds(response.headers.get("retry-after"))
                wait = backoff if wait is None else wait
            if wait is None or time.monotonic() + wait >= deadline:
                return NotifyOutcome(False, attempts, f"notification {body['event']} to {host} not delivered: "
                                                      f"{problem} after {attempts} attempt(s) within {cap_s:g} s")
            time.sleep(wait)
            backoff *= 2




def _provider_keys() -> list[str]:
    """The values of every configured provider's key variable that is set: what must never leave."""
    import os

    from modelctl.config import load_providers
    from modelctl.providers.base import ProviderSettings

    names = {ProviderSettings.from_config(name, cfg.model_dump()).key_env for name, cfg in load_providers().items()}
    return [value for name in names if name and len(value := os.environ.get(name, "")) >= 8]


def _without_keys(body: dict[str, Any]) -> dict[str, Any]:
    """`body` with any provider key blanked out of its text fields (a reason can quote an error)."""
    keys = _provider_keys()

    def clean(value: Any) -> Any:
        if isinstance(value, str):
            for key in keys:
                value = value.replace(key, REDACTED)
            return value
        if isinstance(value, list):
            return [clean(item) for item in value]
        return value

    return {name: clean(value) for name, value in body.items()}
