"""The one clock: `MODELCTL_NOW` (ISO-8601) pins it, so tests and simulations can step through days."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta

from modelctl.errors import InvalidInput


def retry_after_seconds(value: str | None) -> float | None:
    """An HTTP Retry-After header as seconds from now: delay-seconds, or an HTTP date (RFC 9110
    §10.2.3, always GMT); None when absent or unreadable. Real time: a server's date is not pinned."""
    from email.utils import parsedate_to_datetime

    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def now() -> datetime:
    """Naive UTC, the form every timestamp is stored in."""
    pinned = os.environ.get("MODELCTL_NOW")
    if pinned:
        return parse_timestamp(pinned, field="MODELCTL_NOW")
    return datetime.now(UTC).replace(tzinfo=None)


def rfc3339(value: datetime) -> str:
    """How every timestamp leaves modelctl in JSON: RFC 3339 in UTC, `Z`-suffixed (naive values are UTC)."""
    if value.tzinfo is not None:
        value = value.astimezone(UTC).replace(tzinfo=None)
    return value.isoformat() + "Z"


def parse_timestamp(text: str, *, field: str = "ts") -> datetime:
    """ISO-8601 with or without offset, to naive UTC; a clear error otherwise."""
    if text[-1:] == "Z" and "+" not in text:  # the common UTC form, without a timezone round trip
        try:
            return datetime.fromisoformat(text[:-1])
        except ValueError:
            pass
    try:
        value = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except (ValueError, AttributeError):
        raise InvalidInput(f"{field}: {text!r} is not an ISO-8601 timestamp (e.g. 2026-11-28T10:00:00Z)") from None
    if value.tzinfo is not None:
        value = value.astimezone(UTC).replace(tzinfo=None)
    return value


WINDOW_UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
WINDOW_FORMS = "30m, 24h, 7d, 2w, today, yesterday, or an ISO-8601 date/time (2026-11-28, 2026-11-28T10:00:00Z)"


def parse_window(text: str, *, option: str, now: datetime) -> datetime:
    """Where a window that ends now starts, as every `--since` and `--older-than` reads it: a span back
    from now (30m, 24h, 7d, 2w), the start of today or yesterday (UTC), or an ISO-8601 date/time."""
    value = text.strip().lower()
    if len(value) >= 2 and value[-1] in WINDOW_UNITS and value[:-1].isdigit():
        return now - timedelta(**{WINDOW_UNITS[value[-1]]: int(value[:-1])})
    midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
    if value in ("today", "yesterday"):
        return midnight - timedelta(days=value == "yesterday")
    try:
        return parse_timestamp(text.strip(), field=option)
    except InvalidInput:
        raise InvalidInput(f"{option}: {text!r} is not an ISO-8601 date/time or a window; use {WINDOW_FORMS}") from None
