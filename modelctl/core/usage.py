"""A usage record (a call outcome) and its one validator, shared by `usage record`, `usage import`
and the API.

The rules are written once, as the msgspec struct `UsageRecord`: types, bounds, lengths, arms.
`decode_usage_line` applies them to an import line while msgspec decodes it in C, the import's hot
path; `validate_usage` applies the same struct to an object already parsed (the CLI's options, the
API's body, an import line the decoder refused) and words the first rule broken as
`field: message`. Its leniency (a null stands for a field left out, an empty arm for control) is
why a line spelled that way takes the slower path.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import datetime
from functools import cache
from typing import Annotated, Any, NamedTuple, get_type_hints

import msgspec

from modelctl.core.catalog import Arm
from modelctl.errors import InvalidInput, shown

# Arms whose calls observe a model rather than serve a user: their failures count against that
# model's record only, never against production routing (cooldowns, failure streaks).
OBSERVING_ARMS = frozenset({"shadow", "judge"})
# Bounds no real call exceeds, so that sums over millions of rows stay finite and exact enough.
MAX_MS = 86_400_000.0  # a day
MAX_TOKENS = 1_000_000_000
MAX_COST_USD = 1_000_000.0

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


class UsageRecord(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """One call outcome. msgspec takes no bool for a number, no float for a count, no NaN or
    infinity, no unknown field; `ts` stays text until `usage_time` reads it."""

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
    arm: Arm = "control"
    ts: Annotated[str, msgspec.Meta(description="an ISO-8601 string")] | None = None
    attempt: _Count = 0


USAGE_FIELDS: tuple[str, ...] = UsageRecord.__struct_fields__
# A null is the field left out (`arm` then means control), except `success`: a null there would
# count an outcome nobody knows as a success.
_NULL_IS_ABSENT = frozenset(USAGE_FIELDS) - {"success"}


class InvalidUsageRecord(InvalidInput):
    """A usage record broke a rule; `field` names where."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field


_decode = msgspec.json.Decoder(UsageRecord).decode


def decode_usage_line(raw: bytes) -> UsageRecord | None:
    """A JSON line as written in the usual spelling, checked while decoded; None when the decoder
    refuses it (bad JSON, a broken rule, or only a null), for `validate_usage` to decide."""
    try:
        return _decode(raw)
    except msgspec.DecodeError:  # also msgspec.ValidationError, and bad UTF-8
        return None


def validate_usage(data: Any) -> UsageRecord:
    """One parsed JSON object as a UsageRecord, or InvalidUsageRecord naming the first rule it broke."""
    if type(data) is not dict:
        raise InvalidUsageRecord("(record)", f"must be a JSON object, got {type(data).__name__}")
    unknown = sorted(map(str, data.keys() - _rules().keys()))
    if unknown:
        raise InvalidUsageRecord(shown(unknown[0]), f"unknown field; valid: {', '.join(USAGE_FIELDS)}")
    given = {name: value for name, value in data.items() if value is not None or name not in _NULL_IS_ABSENT}
    if given.get("arm") == "":
        del given["arm"]
    checked = {}
    for name, rule in _rules().items():
        if name in given:
            try:
                checked[name] = msgspec.convert(given[name], rule.hint)
            except msgspec.ValidationError:
                raise InvalidUsageRecord(name, _rule_broken(rule.kind, given[name])) from None
        elif rule.required:
            raise InvalidUsageRecord(name, "is required")
    return UsageRecord(**checked)


def usage_time(record: UsageRecord, *, parse_ts: Callable[[str], datetime]) -> datetime | None:
    """The record's `ts` as naive UTC (`parse_ts` reads ISO-8601); None when it has none."""
    if record.ts is None:
        return None
    try:
        return parse_ts(record.ts)
    except (InvalidInput, ValueError, OverflowError):  # OverflowError: past year 9999 (or before 1) in UTC
        raise InvalidUsageRecord("ts", f"{record.ts!r} is not an ISO-8601 timestamp") from None


class _Rule(NamedTuple):
    hint: Any  # the field's annotation, for msgspec.convert
    kind: msgspec.inspect.Type  # the same as msgspec describes it: bounds, lengths, values
    required: bool


@cache
def _rules() -> dict[str, _Rule]:
    """UsageRecord's fields in order, each as a rule that can be checked and worded on its own."""
    import msgspec.inspect as mi

    hints = get_type_hints(UsageRecord, include_extras=True)
    info = mi.type_info(UsageRecord)
    assert isinstance(info, mi.StructType)
    return {field.name: _Rule(hints[field.name], field.type, field.required) for field in info.fields}


def _rule_broken(rule: msgspec.inspect.Type, value: Any) -> str:
    """How `value` breaks `rule` (one field's type as msgspec.inspect describes it), in words."""
    import msgspec.inspect as mi

    if isinstance(rule, mi.UnionType):  # `X | None`: the null was taken as absent, so X is the rule
        rule = next(t for t in rule.types if not isinstance(t, mi.NoneType))
    described = ""
    if isinstance(rule, mi.Metadata):
        described = (rule.extra_json_schema or {}).get("description", "")
        rule = rule.type
    if isinstance(rule, mi.FloatType):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            return f"must be a number, got {value!r}"
        if rule.ge is not None and value < rule.ge:
            if rule.ge == 0:
                return f"must not be negative, got {value!r}"
            return f"must be at least {rule.ge}, got {value!r}"
        return f"must be at most {rule.le}, got {value!r}"
    if isinstance(rule, mi.IntType):
        return f"must be a whole number from {rule.ge} to {rule.le:,}, got {value!r}"
    if isinstance(rule, mi.BoolType):
        return f"must be true or false, got {value!r}"
    if isinstance(rule, mi.LiteralType):
        return f"must be one of {', '.join(map(str, rule.values))}, got {value!r}"
    if isinstance(rule, mi.StrType):
        if rule.max_length is not None and isinstance(value, str) and len(value) > rule.max_length:
            return f"must be at most {rule.max_length} characters"
        return f"must be {described or 'a non-empty string'}, got {value!r}"
    return f"is not valid, got {value!r}"  # pragma: no cover - every rule above is one UsageRecord uses
