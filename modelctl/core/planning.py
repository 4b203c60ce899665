"""Time to decision: how long a rollout phase needs before an equal candidate can pass its gates.

At 100 requests/hour a 5% shadow sees 5 candidate calls an hour, and an equal candidate needs
hundreds of calls before the sequential success-rate gate (core.gates) can show it is within the
margin: the phase times out first and equal candidates are rejected. This module turns the gate's
own mathematics into hours, so `promote` and `upgrade status` can say so before the phase starts.

For an equal candidate the success gate's z-statistic has mean sqrt(rho), where rho = (margin / se)^2
is the gate's information (core.gates._information with tau = margin), and standard deviation 1.
The gate passes once always_valid_p(z, rho) < alpha. `information_needed` finds the rho at which
z = sqrt(rho) - q (q the standard-normal quantile of `power`) passes: at that information an equal
candidate's z is above the boundary with probability `power`. The sequential test stops at the
first tick that crosses, so this fixed-information figure is an upper bound on the time an equal
candidate needs; tests/unit/test_planning.py checks by simulating ticks that the median estimate is
within a factor of 2 of the simulated median. With success rate p and call rates r_c (incumbent)
and r_t (candidate) per hour, se^2 = p (1 - p) (1 / (r_c h) + 1 / (r_t h)), so the hours are
rho p (1 - p) (1 / r_c + 1 / r_t) / margin^2, and never less than the phase's min_hours or the hours
needed to collect min_samples calls per arm. Only the success-rate gate is planned: the latency
gate's need depends on the shape of the latency distribution and the quality gate's on scoring.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from statistics import NormalDist

from modelctl.core.gates import always_valid_p

# The estimate warned about: the time by which 80% of equal candidates have passed.
POWER = 0.8


def information_needed(alpha: float, power: float) -> float:
    """The gate information rho at which an equal candidate passes with probability `power`."""
    q = NormalDist().inv_cdf(power)

    def passes(rho: float) -> bool:
        z = math.sqrt(rho) - q
        return z > 0 and always_valid_p(z, (rho,)) < alpha

    lo, hi = 0.0, 1.0
    while not passes(hi):
        lo, hi = hi, hi * 2
    for _ in range(60):
        mid = (lo + hi) / 2
        if passes(mid):
            hi = mid
        else:
            lo = mid
    return hi


@dataclass(frozen=True, slots=True)
class SegmentTraffic:
    """A segment's measured requests per hour and the incumbent's success rate there."""

    segment: str
    requests_per_hour: float
    success_rate: float


@dataclass(frozen=True, slots=True)
class PhasePlan:
    """The phase settings and gate levels the estimate depends on."""

    phase: str
    traffic_pct: float
    min_hours: float
    max_hours: float
    min_samples: int  # per arm: the larger of the phase's and the gates' minimum
    alpha: float
    success_margin: float


@dataclass(frozen=True, slots=True)
class PhaseEstimate:
    """Hours an equal candidate needs in `phase`: `hours` at POWER, `median_hours` at one half.

    `segment` is the slowest segment (every segment must pass on its own); hours are infinite
    when it has no measured traffic.
    """

    phase: str
    segment: str
    requests_per_hour: float
    hours: float
    median_hours: float
    max_hours: float
    candidate_calls: int

    @property
    def too_slow(self) -> bool:
        return self.hours > self.max_hours

    def advice(self) -> str | None:
        """What to change when an equal candidate would likely time out; None when it would not."""
        if not self.too_slow:
            return None
        if math.isinf(self.hours):
            needed = "has no measured traffic, so an equal candidate cannot pass within"
        else:
            needed = (f"({self.requests_per_hour:,.1f} requests/h) needs about {self.hours:,.0f} h for an equal "
                      f"candidate to pass ({POWER:.0%} of the time), more than")
        return (f"{self.phase} on {self.segment} {needed} its max_hours "
                f"{self.max_hours:g}: raise the phase's traffic_pct or max_hours, or widen gates.success_margin "
                "in upgrade.yaml")

    def as_dict(self) -> dict[str, object]:
        def finite(value: float) -> float | None:
            return round(value, 1) if math.isfinite(value) else None

        return {"phase": self.phase, "segment": self.segment,
                "requests_per_hour": round(self.requests_per_hour, 2), "hours": finite(self.hours),
                "median_hours": finite(self.median_hours), "max_hours": self.max_hours,
                "candidate_calls": self.candidate_calls, "warning": self.advice()}


def _arm_rates(phase: str, requests_per_hour: float, traffic_pct: float) -> tuple[float, float]:
    """(incumbent, candidate) calls per hour: a shadow copies a share while the incumbent serves all;
    a canary serves a share and the incumbent the rest."""
    share = traffic_pct / 100
    incumbent = requests_per_hour * (1 if phase == "shadow" else 1 - share)
    return incumbent, requests_per_hour * share


def segment_hours(plan: PhasePlan, traffic: SegmentTraffic, *, power: float) -> float:
    """Hours one segment needs in the phase for an equal candidate to pass with probability `power`."""
    r_c, r_t = _arm_rates(plan.phase, traffic.requests_per_hour, plan.traffic_pct)
    if r_c <= 0 or r_t <= 0:
        return math.inf
    p = traffic.success_rate
    rho = information_needed(plan.alpha, power)
    hours = rho * p * (1 - p) * (1 / r_c + 1 / r_t) / plan.success_margin ** 2
    return max(hours, plan.min_hours, plan.min_samples / r_t, plan.min_samples / r_c)


def estimate_phase(plan: PhasePlan, traffic: list[SegmentTraffic]) -> PhaseEstimate:
    """The phase's time to decision: its slowest segment's."""
    if not traffic:
        return PhaseEstimate(plan.phase, "-", 0.0, math.inf, math.inf, plan.max_hours, 0)
    slowest = max(traffic, key=lambda t: segment_hours(plan, t, power=POWER))
    hours = segment_hours(plan, slowest, power=POWER)
    _, r_t = _arm_rates(plan.phase, slowest.requests_per_hour, plan.traffic_pct)
    calls = math.ceil(hours * r_t) if math.isfinite(hours) else 0
    return PhaseEstimate(plan.phase, slowest.segment, slowest.requests_per_hour, hours,
                         segment_hours(plan, slowest, power=0.5), plan.max_hours, calls)
