"""Validation of one usage record (a call outcome), shared by `usage record`, `usage import` and the API.

Plain Python checks rather than pydantic: an import validates a million of these, and each message
must name the field and the rule it broke. An import first tries `decode_usage_line`, the same
rules checked by msgspec in C while it decodes (a third of the cost); a line it refuses goes
through the Python checks, which have the final word and the message.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, Literal

import msgspec

from modelctl.core.catalog import ARMS
from modelctl.errors import shown

USAGE_FIELDS = (
    "model_id", "latency_ms", "ttft_ms", "tokens_in", "tokens_out", "cost_usd", "success",
    "error_kind", "segment", "quality", "request_id", "arm", "ts", "attempt",
)
_KNOWN = frozenset(USAGE_FIELDS)
# Arms whose calls observe a model rather than serve a user: their failures count against that
# model's record only, never against production routing (cooldowns, failure streaks).
OBSERVING_ARMS = frozenset({"shadow", "judge"})
# Bounds no real call exceeds, so that sums over millions of rows stay finite and exact enough.
MAX_MS = 86_400_000.0  # a day
MAX_TOKENS = 1_000_000_000
MAX_COST_USD = 1_000_000.0


class UsageFieldError(ValueError):
    """A record broke a rule; `field` names where."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field


@dataclass(frozen=True, slots=True)
class UsageRecord:
    model_id: str
    latency_ms: float
    ttft_ms: float | None = None
    tokens_in: int = 0
    tokens_out: int = 0
    cost_usd: float | None = None
    success: bool = True
    error_kind: str | None = None
    segment: str | None = None
    quality: float | None = None
    request_id: str | None = None
    arm: str = "control"
    ts: datetime | None = None
    attempt: int = 0


def recorded_cost(priced: float | None, *, success: bool, tokens_in: int, tokens_out: int) -> float | None:
    """What to record as a call's cost, given its price from the catalog. A failed call that
    reported no tokens has an unknown cost (None), not a free one: a cost gate would read it as $0."""
    if not success and not (tokens_in or tokens_out):
        return None
    return priced


_Text = Annotated[str, msgspec.Meta(min_length=1, max_length=200, pattern=r"\S")]  # \S: not all white space
_ShortText = Annotated[str, msgspec.Meta(min_length=1, max_length=100, pattern=r"\S")]
_Ms = Annotated[float, msgspec.Meta(ge=0, le=MAX_MS)]
_Count = Annotated[int, msgspec.Meta(ge=0, le=MAX_TOKENS)]


class UsageLine(msgspec.Struct, forbid_unknown_fields=True):
    """A usage record as an import line usually spells it, `ts` still text.

    Never laxer than `parse_usage_record`: msgspec takes no bool for a number, no float for a
    count, no NaN or infinity (not JSON), no unknown field. It is stricter where the Python
    rules are lenient (a null count or `success`, a falsy `arm`): such lines take the slow path.
    """

    model_id: _Text
    latency_ms: _Ms
    ttft_ms: _Ms | None = None
    tokens_in: _Count = 0
    tokens_out: _Count = 0
    cost_usd: Annotated[float, msgspec.Meta(ge=0, le=MAX_COST_USD)] | None = None
    success: bool = True
    error_kind: _ShortText | None = None
    segment: _ShortText | None = None
    quality: Annotated[float, msgspec.Meta(ge=0, le=1.0)] | None = None
    request_id: _Text | None = None
    arm: Literal[ARMS] = "control"
    ts: str | None = None
    attempt: _Count = 0


decode_usage_line = msgspec.json.Decoder(UsageLine).decode
"""A JSON line (bytes) as a UsageLine; raises ValueError (msgspec's errors, bad UTF-8) otherwise."""


def _bad_number(field: str, value: Any, upper: float | None) -> UsageFieldError:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return UsageFieldError(field, f"must be a number, got {value!r}")
    if value < 0:
        return UsageFieldError(field, f"must not be negative, got {value!r}")
    return UsageFieldError(field, f"must be at most {upper}, got {value!r}")


def _number(data: dict, field: str, upper: float = math.inf) -> float | None:
    value = data.get(field)
    if value is None:
        return None
    kind = type(value)
    if (kind is float or kind is int) and 0 <= value <= upper:  # NaN fails both comparisons
        return float(value)
    raise _bad_number(field, value, None if upper == math.inf else upper)


def _count(data: dict, field: str) -> int:
    value = data.get(field)
    if value is None:
        return 0
    if type(value) is int and 0 <= value <= MAX_TOKENS:
        return value
    raise UsageFieldError(field, f"must be a whole number from 0 to {MAX_TOKENS:,}, got {value!r}")


def _text(data: dict, field: str, limit: int = 200) -> str | None:
    value = data.get(field)
    if value is None:
        return None
    if type(value) is str and 0 < len(value) <= limit and not value.isspace():
        return value
    if isinstance(value, str) and len(value) > limit:
        raise UsageFieldError(field, f"must be at most {limit} characters")
    raise UsageFieldError(field, f"must be a non-empty string, got {value!r}")


def parse_usage_record(data: Any, *, parse_ts: Any) -> UsageRecord:
    """Validate one JSON object into a UsageRecord; `parse_ts` turns an ISO string into naive UTC.

    Written for the common case first: an import checks a million of these.
    """
    if type(data) is not dict:
        raise UsageFieldError("(record)", f"must be a JSON object, got {type(data).__name__}")
    if not _KNOWN.issuperset(data):
        raise UsageFieldError(shown(sorted(data.keys() - _KNOWN)[0]), f"unknown field; valid: {', '.join(USAGE_FIELDS)}")
    model_id = _text(data, "model_id")
    if model_id is None:
        raise UsageFieldError("model_id", "is required")
    latency = _number(data, "latency_ms", MAX_MS)
    if latency is None:
        raise UsageFieldError("latency_ms", "is required")
    success = data.get("success", True)
    if success is not True and success is not False:
        raise UsageFieldError("success", f"must be true or false, got {success!r}")
    arm = data.get("arm") or "control"
    if arm not in ARMS:
        raise UsageFieldError("arm", f"must be one of {', '.join(ARMS)}, got {arm!r}")
    ts = data.get("ts")
    if ts is not None:
        if type(ts) is not str:
            raise UsageFieldError("ts", f"must be an ISO-8601 string, got {ts!r}")
        try:
            ts = parse_ts(ts)
        except Exception:  # noqa: BLE001 - any parse failure is the same user error
            raise UsageFieldError("ts", f"{ts!r} is not an ISO-8601 timestamp") from None
    return UsageRecord(
        model_id,
        latency,
        _number(data, "ttft_ms", MAX_MS),
        _count(data, "tokens_in"),
        _count(data, "tokens_out"),
        _number(data, "cost_usd", MAX_COST_USD),
        success,
        _text(data, "error_kind", 100),
        _text(data, "segment", 100),
        _number(data, "quality", 1.0),
        _text(data, "request_id"),
        arm,
        ts,
        _count(data, "attempt"),
    )


def parse_window(text: str, *, now: datetime, parse_ts: Any) -> datetime:
    """`24h`, `7d`, `30m`, `2w` back from now, or an ISO date/timestamp."""
    from datetime import timedelta

    units = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
    value = text.strip()
    if len(value) >= 2 and value[-1] in units and value[:-1].isdigit():
        return now - timedelta(**{units[value[-1]]: int(value[:-1])})
    return parse_ts(value)
