"""The autopilot's rules: which discovered candidate may challenge which chain model by itself.

A candidate matches an incumbent (a model in a policy chain) when every rule holds:

- family:       both have the same family (the catalog's `family`; for a discovered model without
                one, its id with a trailing date removed: gpt-4o-2024-11-20 -> gpt-4o);
- newer:        its version is newer than the incumbent's (see `version_key`);
- price:        its input and output prices per token are each at most `price_ratio_max` times the
                incumbent's (an unpriced side cannot be compared, so it does not match);
- context:      its context window is at least the incumbent's (unknown only if the incumbent's is);
- capabilities: it has every capability the incumbent has.

`mismatches` says which rules fail and why, so the tick can explain a candidate it leaves alone.
"""

from __future__ import annotations

import re
from datetime import date

from modelctl.core.catalog import ModelSpec

RULES = ("family", "newer", "price", "context", "capabilities")
# A trailing date in a model id or version: 2024-08-06, 20241022.
_DATE = re.compile(r"(?:^|[-_@])(\d{4})-?(\d{2})-?(\d{2})$")
_NUMBER = re.compile(r"^v?(\d+(?:[.\-]\d+)*)$")


def _as_date(text: str) -> date | None:
    match = _DATE.search(text)
    if match is None:
        return None
    try:
        return date(int(match.group(1)), int(match.group(2)), int(match.group(3)))
    except ValueError:
        return None


def version_key(version: str) -> tuple[str, tuple[int, ...]] | None:
    """What "newer" compares: a release date (2024-08-06, 20241022) or a dotted number (5.5, 6.1, 4-7).

    A date and a number are different kinds and never compare; anything else ("latest", "8b") is
    not comparable, so a candidate with such a version is never taken as newer.
    """
    text = version.strip()
    when = _as_date(text) if len(text) >= 8 else None
    if when is not None:
        return "date", (when.toordinal(),)
    match = _NUMBER.match(text)
    if match is None:
        return None
    return "number", tuple(int(part) for part in re.split(r"[.\-]", match.group(1)))


def family_of(spec: ModelSpec) -> str:
    """The catalog's family, else the model id without its trailing date ("" when it has none)."""
    if spec.family:
        return spec.family
    match = _DATE.search(spec.model_id)
    return spec.model_id[:match.start()] if match else ""


def version_of(spec: ModelSpec) -> str:
    """The catalog's version, else the trailing date of the model id."""
    if spec.version:
        return spec.version
    match = _DATE.search(spec.model_id)
    return match.group(0).lstrip("-_@") if match else ""


def is_newer(candidate: ModelSpec, incumbent: ModelSpec) -> bool:
    mine, theirs = version_key(version_of(candidate)), version_key(version_of(incumbent))
    return mine is not None and theirs is not None and mine[0] == theirs[0] and mine[1] > theirs[1]


def mismatches(candidate: ModelSpec, incumbent: ModelSpec, *, price_ratio_max: float) -> dict[str, str]:
    """{rule: why it fails}; empty when the candidate may challenge the incumbent."""
    failed: dict[str, str] = {}
    family = family_of(candidate)
    if not family or family != family_of(incumbent):
        failed["family"] = f"family {family or '(none)'} is not {incumbent.model_id}'s ({family_of(incumbent)})"
    if not is_newer(candidate, incumbent):
        failed["newer"] = (f"version {version_of(candidate) or '(none)'} is not newer than "
                           f"{incumbent.model_id}'s {version_of(incumbent) or '(none)'}")
    c_in, c_out = candidate.input_cost_per_1k, candidate.output_cost_per_1k
    i_in, i_out = incumbent.input_cost_per_1k, incumbent.output_cost_per_1k
    if c_in is None or c_out is None or i_in is None or i_out is None:
        unpriced = incumbent if candidate.priced else candidate
        failed["price"] = f"cannot compare prices: {unpriced.model_id} is unpriced"
    elif c_in > price_ratio_max * i_in or c_out > price_ratio_max * i_out:
        failed["price"] = (f"price {c_in:g}/{c_out:g} per 1k tokens is above {price_ratio_max:g} x "
                           f"{incumbent.model_id}'s {i_in:g}/{i_out:g}")
    if incumbent.max_context_tokens is not None and (candidate.max_context_tokens or 0) < incumbent.max_context_tokens:
        failed["context"] = (f"context {candidate.max_context_tokens or 'unknown'} is below {incumbent.model_id}'s "
                             f"{incumbent.max_context_tokens}")
    missing = incumbent.capabilities - candidate.capabilities
    if missing:
        failed["capabilities"] = f"lacks {', '.join(sorted(missing))}, which {incumbent.model_id} has"
    return failed
