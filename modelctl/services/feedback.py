"""User feedback: a score in 0..1 on the answer a request got, evidence for the canary quality gate.

The CLI (`modelctl feedback`) and the API (`POST /feedback`) both come here, so both refuse the
same scores with the same message and find the same served attempt.
"""

from __future__ import annotations

import math
from typing import Any

from modelctl.clock import rfc3339
from modelctl.errors import InvalidInput, NotFound, shown
from modelctl.store import feedback as repo
from modelctl.store.db import Store

MAX_REQUEST_ID = 200  # usage.request_id's width


def _checked(request_id: str, score: float) -> None:
    if not request_id.strip() or len(request_id) > MAX_REQUEST_ID:
        raise InvalidInput(f"request_id: must be 1 to {MAX_REQUEST_ID} characters, not all white space")
    if isinstance(score, bool) or not isinstance(score, (int, float)) or not math.isfinite(score) \
            or not 0 <= score <= 1:
        raise InvalidInput(f"score: must be a number from 0 to 1 (0 = useless, 1 = perfect), not {score!r}")


def record_feedback(store: Store, request_id: str, *, score: float) -> dict[str, Any]:
    """Score the attempt that answered `request_id`; a later score replaces an earlier one."""
    _checked(request_id, score)
    with store.write() as conn:
        served = repo.score_served_attempt(conn, request_id=request_id, score=float(score))
        if served is None:
            attempts = repo.recorded_attempts(conn, request_id)
            if attempts:
                raise NotFound(f"request {shown(request_id)} was never answered: its {attempts} recorded "
                               "attempt(s) failed or were shadow or judge calls, so there is nothing to score")
            raise NotFound(f"no request {shown(request_id)} in the usage records; use the request_id that "
                           "`modelctl run --json` printed (rows removed by `usage prune` cannot be scored)")
    return {
        "request_id": request_id,
        "score": float(score),
        "replaced": served.quality,
        "model_id": served.model_id,
        "provider": served.provider,
        "arm": served.arm,
        "segment": served.segment,
        "attempt": served.attempt,
        "ts": rfc3339(served.ts),
    }
