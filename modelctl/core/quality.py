"""Learned quality as a lower confidence bound, so a handful of lucky scores cannot win routing.

Scores are in 0..1 and arrive as sufficient statistics (sum, sum of squares, n) because the store
aggregates them in SQL.

The bound is the Wilson score bound with its variance scaled by how spread the scores are. A 0..1
score with mean mu has variance at most mu(1 - mu) (Bhatia-Davis), reached by pass/fail scores.
The observed fraction of that maximum, r = s2 / (mean(1 - mean)), is shrunk towards 1 with
PRIOR_N pseudo-samples, and the LCB is the smaller mu solving

    (mean - mu)^2 = z^2 * r' * mu(1 - mu) / n,      r' = (n r + PRIOR_N) / (n + PRIOR_N)

So pass/fail scores get exactly the Wilson bound; a few samples are treated as pass/fail however
they look (3 perfect scores: LCB 0.53); many consistent graded scores earn a tight bound (500
scores of 0.9: LCB 0.897).
"""

from __future__ import annotations

import math
from typing import NamedTuple

from modelctl.errors import InvalidInput

# One-sided 95%: we only ever ask "is it at least this good".
DEFAULT_Z = 1.645
# Pseudo-samples of pass/fail spread: a few graded scores cannot claim to be consistent.
PRIOR_N = 10
_TOLERANCE = 1e-9


class QualityEstimate(NamedTuple):  # not a dataclass: see the note in core/routing.py
    mean: float
    n: int
    lcb: float

    def as_dict(self) -> dict[str, float]:
        return {"mean": self.mean, "n": self.n, "lcb": self.lcb}


def estimate(
    scores_sum: float, scores_sq_sum: float, n: int, *, z: float = DEFAULT_Z
) -> QualityEstimate:
    """Mean and lower confidence bound of 0..1 scores; n=0 gives mean 0 and LCB 0 (no evidence)."""
    if n < 0 or not z >= 0:
        raise InvalidInput(f"quality statistics need n >= 0 and z >= 0 (got n={n}, z={z})")
    if n == 0:
        return QualityEstimate(mean=0.0, n=0, lcb=0.0)
    mean = scores_sum / n
    if not -_TOLERANCE <= mean <= 1 + _TOLERANCE:
        raise InvalidInput(f"quality scores must be in 0..1; their mean is {mean:.4g} over n={n}")
    mean = min(1.0, max(0.0, mean))
    max_var = mean * (1 - mean)
    # Rounding in SQL sums can make a zero variance slightly negative; all-0 or all-1 scores say
    # nothing about spread, so they count as pass/fail.
    spread = min(1.0, max(0.0, scores_sq_sum / n - mean * mean) / max_var) if max_var > 0 else 1.0
    a = z * z * (n * spread + PRIOR_N) / ((n + PRIOR_N) * n)
    lcb = (2 * mean + a - math.sqrt(a * a + 4 * a * max_var)) / (2 * (1 + a))
    return QualityEstimate(mean=mean, n=n, lcb=min(mean, max(0.0, lcb)))
