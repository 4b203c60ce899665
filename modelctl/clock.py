"""The one clock: `MODELCTL_NOW` (ISO-8601) pins it, so tests and simulations can step through days."""

from __future__ import annotations

import os
from datetime import UTC, datetime

from modelctl.errors import InvalidInput


def now() -> datetime:
    """Naive UTC, the form every timestamp is stored in."""
    pinned = os.environ.get("MODELCTL_NOW")
    if pinned:
        return parse_timestamp(pinned, field="MODELCTL_NOW")
    return datetime.now(UTC).replace(tzinfo=None)


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
