"""The import's fast check (msgspec decoding a line) never accepts a line `validate_usage` rejects, and
reads it the same."""

import json

import orjson
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from modelctl.clock import parse_timestamp
from modelctl.core.usage import USAGE_FIELDS, InvalidUsageRecord, decode_usage_line, usage_time, validate_usage

AWKWARD = ["", " ", "\t\n", "\u00a0", "\u2028", "\u3000 ", "a", "control", "shadow", "canary", "Control", "x" * 100,
           "x" * 101, "x" * 200, "x" * 201, "\U0001f600" * 100, "\U0001f600" * 101, "\x00",
           "2026-10-01T00:00:00Z", "2026-10-01T02:00:00+02:00", "2026-10-01", "2026-02-30T00:00:00Z",
           "20261001T000000", "0001-01-01T00:00:00+01:00", "yesterday"]
VALUES = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-3, max_value=2**70),
    st.sampled_from([0, 1, 10**9, 10**9 + 1, 86_400_000, 86_400_001, 1_000_000, 1_000_001]),
    st.floats(allow_nan=False, allow_infinity=False), st.sampled_from([0.0, -0.0, 1.0, 1.5, 5.0, 1e2, 1e300]),
    st.sampled_from(AWKWARD), st.text(max_size=4), st.lists(st.integers(), max_size=2),
    st.dictionaries(st.text(max_size=2), st.integers(), max_size=1),
)
RECORDS = st.builds(
    lambda base, extra: {**base, **extra},
    st.fixed_dictionaries({"model_id": st.sampled_from(["m", " m ", "m" * 200]),
                           "latency_ms": st.sampled_from([0, 5, 2.5])}),
    st.dictionaries(st.sampled_from([*USAGE_FIELDS, "bogus"]), VALUES, max_size=6),
)


def _slow(raw: bytes):
    try:
        record = validate_usage(orjson.loads(raw))
        return record, usage_time(record, parse_ts=parse_timestamp)
    except (orjson.JSONDecodeError, InvalidUsageRecord) as exc:
        return exc


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(RECORDS)
@example({"model_id": "m", "latency_ms": 5, "arm": None})
@example({"model_id": "m", "latency_ms": 5, "tokens_in": None, "success": None})
@example({"model_id": "m", "latency_ms": True})
@example({"model_id": "m", "latency_ms": 5, "tokens_out": 5.0})
@example({"model_id": "m", "latency_ms": 5, "segment": "\u2028"})
@example({"model_id": "m", "latency_ms": 5, "ts": "2026-02-30T00:00:00Z"})
def test_a_line_the_fast_check_accepts_is_accepted_and_read_alike_by_validate_usage(record):
    raw = json.dumps(record).encode()
    line = decode_usage_line(raw)
    if line is None:
        return  # refused lines go to validate_usage, which decides
    slow = _slow(raw)
    try:
        fast_ts = usage_time(line, parse_ts=parse_timestamp)
    except InvalidUsageRecord as exc:  # the import reports the same error either way
        assert str(slow) == str(exc)
        return
    assert not isinstance(slow, Exception), f"the fast check accepted {raw!r}, validate_usage says {slow}"
    slow_record, slow_ts = slow
    for name in USAGE_FIELDS:
        fast_value, slow_value = getattr(line, name), getattr(slow_record, name)
        assert (type(fast_value), fast_value) == (type(slow_value), slow_value), name
    assert fast_ts == slow_ts


@pytest.mark.parametrize("raw", [
    b'{"model_id": "m", "latency_ms": NaN}', b'{"model_id": "m", "latency_ms": 1e400}',
    b'{"model_id": "m", "latency_ms": 1, "latency_ms": -1}', b'\xef\xbb\xbf{"model_id": "m", "latency_ms": 1}',
    b'{"model_id": "m\xff", "latency_ms": 1}', b'{"model_id": "\\ud800", "latency_ms": 1}',
    b'{"model_id": "m", "latency_ms": 1}{}', b'{"model_id": "m", "latency_ms": 1,}',
])
def test_lines_that_are_not_clean_json_are_refused_by_both(raw):
    assert decode_usage_line(raw) is None
    assert isinstance(_slow(raw), Exception)
