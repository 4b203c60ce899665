"""Learned quality as a lower confidence bound, so a handful of lucky scores cannot win routing.

Scores are in 0..1 and arrive as sufficient statistics (sum, sum of squares, n) because the store
aggregates them in SQL.

The bound is a Wilson-style score bound whose variance is the sample variance shrunk towards the
largest variance a 0..1 score with that mean can have, mu(1 - mu) (Bhatia-Davis inequality):

    v(mu) = (n * s2 + PRIOR_N * mu * (1 - mu)) / (n + PRIOR_N)

and the LCB is the smaller mu solving (mean - mu)^2 = z^2 * v(mu) / n. With few samples the prior
dominates and the bound is as wide as for coin flips (3 perfect scores: LCB 0.59); with many
consistent samples the sample variance takes over and the bound becomes tight (500 scores of 0.9:
LCB 0.90). With s2 = 0 and n small this is exactly the Wilson bound for a proportion.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from modelctl.errors import InvalidInput

# One-sided 95%: we only ever ask "is it at least this good".
DEFAULT_Z = 1.645
# Pseudo-samples of worst-case variance; makes n=3 look about as uncertain as it is.
PRIOR_N = 10
_TOLERANCE = 1e-9


@dataclass(frozen=True, slots=True)
class QualityEstimate:
    mean: float
    n: int
    lcb: float

    def as_dict(self) -> dict:
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
    # Rounding in SQL sums can make a zero variance slightly negative.
    sample_var = max(0.0, scores_sq_sum / n - mean * mean)
    weight = n + PRIOR_N
    a = z * z * PRIOR_N / (weight * n)  # coefficient of mu(1 - mu)
    b = z * z * sample_var / weight  # constant variance term
    # (mean - mu)^2 = a*mu*(1 - mu) + b  ->  (1 + a) mu^2 - (2 mean + a) mu + (mean^2 - b) = 0
    disc = a * a + 4 * a * mean * (1 - mean) + 4 * b * (1 + a)
    lcb = (2 * mean + a - math.sqrt(disc)) / (2 * (1 + a))
    return QualityEstimate(mean=mean, n=n, lcb=min(mean, max(0.0, lcb)))
