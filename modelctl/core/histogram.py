"""Log-bucket histograms for latency percentiles with a bounded relative error.

Buckets grow by 2%, so any percentile read back is within 1% of the exact value, whatever the
scale, and histograms merge by adding counts: hourly roll-ups answer `stats` over any window
without re-reading raw usage rows (the idea behind DDSketch and HdrHistogram).

This is the one bucket rule: the usage roll-ups, `stats`, the rollout gates (core.gates) and the
gates' SQL (store.rollouts, generated from GROWTH) all use it. Bucket b >= 1 holds
(GROWTH^(b-1), GROWTH^b], with 1 ms itself in bucket 1; bucket 0 holds everything under 1 ms.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from math import ceil, log  # names, not attributes: bucket_of runs twice per imported row (bench_usage.py)

import orjson

GROWTH = 1.02
_LOG_GROWTH = math.log(GROWTH)


def bucket_of(value_ms: float) -> int:
    """Bucket index; values below 1 ms share bucket 0 (1 ms itself is bucket 1)."""
    if value_ms < 1.0:
        return 0
    return ceil(log(value_ms) / _LOG_GROWTH) or 1


def bucket_value(bucket: int) -> float:
    """A representative value: the geometric middle of the bucket (0 for the sub-millisecond one)."""
    if bucket <= 0:
        return 0.0
    return math.pow(GROWTH, bucket - 0.5)


def bucket_bounds(bucket: int) -> tuple[float, float]:
    """Lowest and highest latency (ms) a bucket can hold."""
    if bucket <= 0:
        return 0.0, 1.0
    return GROWTH ** (bucket - 1), GROWTH**bucket


def add(hist: dict[int, int], value_ms: float | None) -> None:
    if value_ms is not None:
        b = bucket_of(value_ms)
        hist[b] = hist.get(b, 0) + 1


def merge(target: dict[int, int], other: Mapping[int, int]) -> dict[int, int]:
    for bucket, count in other.items():
        target[bucket] = target.get(bucket, 0) + count
    return target


def percentile(hist: Mapping[int, int], q: float) -> float | None:
    """Nearest-rank percentile (q in 0..1); None for an empty histogram."""
    total = sum(hist.values())
    if total == 0:
        return None
    rank = max(1, math.ceil(q * total))
    seen = 0
    for bucket in sorted(hist):
        seen += hist[bucket]
        if seen >= rank:
            return round(bucket_value(bucket), 1)
    return round(bucket_value(max(hist)), 1)


def dumps(hist: Mapping[int, int]) -> str:
    """Compact JSON, keys in text order (a stable form); orjson: an import writes thousands a second."""
    return orjson.dumps(hist, option=orjson.OPT_NON_STR_KEYS | orjson.OPT_SORT_KEYS).decode()


def loads(text: str | None) -> dict[int, int]:
    return {int(k): v for k, v in orjson.loads(text).items()} if text else {}


def merge_dumped(target: dict[str, int], text: str) -> None:
    """Add a `dumps` text into a histogram keyed by bucket text: merging thousands of roll-ups
    costs a quarter of `merge(target, loads(text))` without an int() per bucket; `int_keys` once after."""
    get = target.get
    for bucket, count in orjson.loads(text).items():
        target[bucket] = get(bucket, 0) + count


def int_keys(hist: Mapping[str, int]) -> dict[int, int]:
    return {int(k): v for k, v in hist.items()}


def from_values(values: Iterable[float | None]) -> dict[int, int]:
    hist: dict[int, int] = {}
    for value in values:
        add(hist, value)
    return hist
