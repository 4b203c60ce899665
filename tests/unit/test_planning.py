"""Time to decision (issue 16, build D): the estimate from the gate's mathematics against a simulation
of the real gate looked at every 15 minutes."""

from __future__ import annotations

import math
import random
import statistics

import pytest

from modelctl.core.gates import ArmSample, GateConfig, evaluate_gates
from modelctl.core.planning import PhasePlan, SegmentTraffic, estimate_phase, information_needed

GATES = GateConfig(alpha=0.05, fail_alpha=0.001, success_margin=0.05, latency_p95_max_ratio=1.2,
                   cost_max_ratio=1.2, quality_margin=0.02, min_samples=20)
PLAN = PhasePlan("shadow", traffic_pct=10, min_hours=0, max_hours=10_000, min_samples=20, alpha=GATES.alpha,
                 success_margin=GATES.success_margin)
TRAFFIC = SegmentTraffic("technical", requests_per_hour=200, success_rate=0.9)


def _hours_to_pass(rng: random.Random, *, limit_h: float) -> float:
    """Ticks every 15 minutes over an equal candidate's growing window until the success gate passes."""
    control = candidate = ArmSample()
    per_tick_c, per_tick_t = 50, 5  # 200/h incumbent; a 10% shadow copies 20/h
    p = TRAFFIC.success_rate
    tick = 0
    while tick * 0.25 < limit_h:
        tick += 1
        control += ArmSample(per_tick_c, sum(rng.random() < p for _ in range(per_tick_c)))
        candidate += ArmSample(per_tick_t, sum(rng.random() < p for _ in range(per_tick_t)))
        (success, *_) = evaluate_gates(control=control, candidate=candidate, config=GATES)
        if success.verdict == "pass":
            return tick * 0.25
    return math.inf


def test_the_median_estimate_is_within_a_factor_of_two_of_the_simulated_median():
    estimate = estimate_phase(PLAN, [TRAFFIC])
    rng = random.Random(16)
    simulated = statistics.median(_hours_to_pass(rng, limit_h=20 * estimate.median_hours) for _ in range(200))
    assert estimate.median_hours / 2 <= simulated <= estimate.median_hours * 2, (simulated, estimate)
    assert estimate.hours > estimate.median_hours  # 80% takes longer than half


def test_slow_traffic_warns_and_names_what_to_change():
    slow = estimate_phase(PhasePlan("shadow", 5, 24, 48, 200, 0.05, 0.01),
                          [SegmentTraffic("simple", 2000, 0.99), SegmentTraffic("technical", 100, 0.99)])
    assert slow.segment == "technical" and slow.too_slow
    assert "traffic_pct" in slow.advice() and "max_hours" in slow.advice() and "success_margin" in slow.advice()
    fast = estimate_phase(PhasePlan("shadow", 5, 24, 48, 200, 0.05, 0.01), [SegmentTraffic("simple", 2000, 0.99)])
    assert not fast.too_slow and fast.advice() is None and fast.hours == 24  # the minimum binds
    assert math.isinf(estimate_phase(PLAN, [SegmentTraffic("simple", 0, 0.99)]).hours)


@pytest.mark.parametrize("alpha", [0.01, 0.05, 0.1])
def test_more_power_or_a_stricter_alpha_needs_more_information(alpha):
    assert information_needed(alpha, 0.8) > information_needed(alpha, 0.5)
    assert information_needed(alpha / 2, 0.5) > information_needed(alpha, 0.5)
