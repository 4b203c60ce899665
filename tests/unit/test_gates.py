import itertools
import math
from dataclasses import replace
from statistics import NormalDist

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from modelctl.config import load_upgrade
from modelctl.core.gates import (
    GATES,
    VERDICTS,
    ArmSample,
    LatencyHistogram,
    Moments,
    VerdictCounts,
    evaluate_gates,
    judged_quality,
    latency_bucket,
    mann_whitney_u,
)
from modelctl.errors import InvalidInput

CONFIG = load_upgrade().rollout_config().gates


def by_gate(results):
    return {r.gate: r for r in results}


def gates_for(control, candidate):
    return by_gate(evaluate_gates(control=control, candidate=candidate, config=CONFIG))


def lognormal_latencies(n, *, median_ms=900.0, sigma=0.5, factor=1.0):
    """n evenly spaced quantiles of a log-normal: a noise-free stand-in for measured latencies."""
    dist = NormalDist(math.log(median_ms * factor), sigma)
    return [math.exp(dist.inv_cdf((i + 0.5) / n)) for i in range(n)]


def arm(calls, successes, latencies=(), costs=(), quality=()):
    return ArmSample(
        calls=calls,
        successes=successes,
        latency=LatencyHistogram.of(latencies),
        cost=Moments.of(costs),
        quality=Moments.of(quality),
    )


# --- Mann-Whitney U -------------------------------------------------------------------------


def brute_force_u(x, y):
    """Pairs where y beats x, ties counting half: the definition of U, by enumeration."""
    return sum(1.0 if b > a else 0.5 if b == a else 0.0 for a, b in itertools.product(x, y))


def rank_based_z(x, y):
    """z from average ranks and the textbook tie-corrected variance, with continuity correction."""
    pooled = sorted(x + y)
    ranks = {}
    for value, group in itertools.groupby(pooled):
        size = len(list(group))
        start = sum(1 for v in pooled if v < value) + 1
        ranks[value] = start + (size - 1) / 2
    n1, n2 = len(x), len(y)
    n = n1 + n2
    u = sum(ranks[v] for v in y) - n2 * (n2 + 1) / 2
    ties = sum(t**3 - t for t in (pooled.count(v) for v in set(pooled)))
    sigma = math.sqrt(n1 * n2 / 12 * ((n + 1) - ties / (n * (n - 1))))
    excess = u - n1 * n2 / 2
    return u, math.copysign(max(abs(excess) - 0.5, 0.0), excess) / sigma


def test_mann_whitney_on_fully_separated_samples_matches_hand_computation():
    # U = 9 (every y beats every x); sigma^2 = 3*3*7/12 = 5.25; z = (9 - 4.5 - 0.5) / sqrt(5.25)
    u, z, p = mann_whitney_u([1, 2, 3], [4, 5, 6])
    assert u == 9
    assert z == pytest.approx(4 / math.sqrt(5.25))
    assert p == pytest.approx(0.0404, abs=1e-4)


@pytest.mark.parametrize(
    "x, y",
    [
        ([3, 1, 4, 1, 5], [9, 2, 6, 5, 3, 5]),
        ([10, 10, 10, 20], [10, 20, 20, 30, 30]),
        ([1.5, 2.5, 2.5, 7], [0.5, 2.5, 8]),
    ],
)
def test_mann_whitney_matches_enumeration_and_rank_formula_with_ties(x, y):
    u, z, p = mann_whitney_u(x, y)
    expected_u, expected_z = rank_based_z(x, y)
    assert u == brute_force_u(x, y) == pytest.approx(expected_u)
    assert z == pytest.approx(expected_z)
    assert p == pytest.approx(0.5 * math.erfc(expected_z / math.sqrt(2)))


def test_mann_whitney_on_identical_samples_shows_nothing():
    u, z, p = mann_whitney_u([5, 5, 5], [5, 5, 5])
    assert (u, z, p) == (4.5, 0.0, 0.5)


def test_mann_whitney_direction_follows_the_second_sample():
    _, z_slow, p_slow = mann_whitney_u(range(100), range(50, 150))
    _, z_fast, p_fast = mann_whitney_u(range(50, 150), range(100))
    assert z_slow > 0 > z_fast
    assert p_slow < 0.001 and p_fast > 0.999


# --- success rate ---------------------------------------------------------------------------


def test_equal_success_needs_enough_calls_to_show_non_inferiority():
    small = by_gate(evaluate_gates(control=arm(1000, 950), candidate=arm(1000, 950), config=CONFIG))
    large = by_gate(evaluate_gates(control=arm(20000, 19000), candidate=arm(20000, 19000), config=CONFIG))
    assert small["success_rate"].verdict == "inconclusive"
    assert large["success_rate"].verdict == "pass"
    # Agresti-Caffo: (950 + 1) / 1002 per arm, margin 0.01 over the pooled standard error; the
    # always-valid p-value is 1 / the half-normal mixture ratio with its scale at the margin.
    adjusted = 951 / 1002
    se = math.sqrt(2 * adjusted * (1 - adjusted) / 1002)
    z, rho = 0.01 / se, (0.01 / se) ** 2
    ratio = 2 / math.sqrt(1 + rho) * math.exp(rho * z * z / (2 * (1 + rho))) * NormalDist().cdf(
        z * math.sqrt(rho / (1 + rho)))
    assert small["success_rate"].p_value == pytest.approx(1 / ratio)


def test_ten_point_drop_fails_within_a_few_hundred_calls():
    result = by_gate(evaluate_gates(control=arm(5000, 4750), candidate=arm(300, 255), config=CONFIG))
    success = result["success_rate"]
    assert success.verdict == "fail"
    assert success.p_value < CONFIG.fail_alpha
    assert "85.0%" in success.summary and "95.0%" in success.summary


def test_a_drop_inside_the_margin_passes_but_one_beyond_it_fails_on_large_samples():
    n = 1_000_000
    within = by_gate(evaluate_gates(control=arm(n, 950_000), candidate=arm(n, 945_000), config=CONFIG))
    beyond = by_gate(evaluate_gates(control=arm(n, 950_000), candidate=arm(n, 930_000), config=CONFIG))
    assert within["success_rate"].verdict == "pass"
    assert beyond["success_rate"].verdict == "fail"


def test_a_few_early_failures_do_not_fail_the_gate():
    result = by_gate(evaluate_gates(control=arm(500, 475), candidate=arm(25, 22), config=CONFIG))
    assert result["success_rate"].verdict == "inconclusive"


def test_all_successes_and_huge_counts_are_handled():
    perfect = by_gate(evaluate_gates(control=arm(100, 100), candidate=arm(100, 100), config=CONFIG))
    assert perfect["success_rate"].figures["rate_candidate"] == 1.0
    huge = 10**15
    result = by_gate(evaluate_gates(control=arm(huge, huge - 10**12), candidate=arm(huge, huge), config=CONFIG))
    assert result["success_rate"].verdict == "pass"
    assert math.isfinite(result["success_rate"].figures["z"])


def test_empty_arms_are_inconclusive_not_errors():
    results = evaluate_gates(control=ArmSample(), candidate=ArmSample(), config=CONFIG)
    assert [r.gate for r in results] == ["success_rate", "latency_p95"]
    assert all(r.verdict == "inconclusive" and r.p_value is None for r in results)
    assert "too few" in results[0].summary


# --- latency --------------------------------------------------------------------------------


def latency_result(factor, n_candidate, n_control=20000):
    control = arm(n_control, n_control, lognormal_latencies(n_control))
    candidate = arm(n_candidate, n_candidate, lognormal_latencies(n_candidate, factor=factor))
    return by_gate(evaluate_gates(control=control, candidate=candidate, config=CONFIG))["latency_p95"]


def test_same_latency_passes_with_enough_calls():
    result = latency_result(1.0, 2000)
    assert result.verdict == "pass"
    assert result.figures["ratio"] == pytest.approx(1.0, abs=0.05)
    assert result.figures["ratio_high"] <= CONFIG.latency_p95_max_ratio


def test_half_again_slower_fails_and_mann_whitney_agrees():
    result = latency_result(1.5, 2000)
    assert result.verdict == "fail"
    assert result.figures["ratio"] == pytest.approx(1.5, abs=0.08)
    assert result.p_value < 1e-10


def test_slower_but_within_the_limit_is_not_failed():
    result = latency_result(1.1, 2000)
    assert result.verdict != "fail"


def test_p95_cannot_pass_on_too_few_calls_to_bound_it():
    result = latency_result(1.0, 60)
    assert result.verdict == "inconclusive"
    assert result.figures["ratio_high"] == math.inf


def test_histogram_mann_whitney_equals_raw_when_values_fall_in_distinct_buckets():
    x, y = [10, 20, 40, 80], [15, 30, 60, 120, 240]
    assert len({latency_bucket(v) for v in x + y}) == len(x + y)
    result = by_gate(evaluate_gates(control=arm(40, 40, x * 10), candidate=arm(50, 50, y * 10), config=CONFIG))
    u, z, _ = mann_whitney_u(x * 10, y * 10)
    assert result["latency_p95"].figures["mann_whitney_u"] == u
    assert result["latency_p95"].figures["mann_whitney_z"] == pytest.approx(z)


# --- cost and quality -----------------------------------------------------------------------


def test_cost_gate_passes_a_cheaper_model_and_fails_a_twice_as_expensive_one():
    costs = [0.001 + 0.0001 * (i % 7) for i in range(500)]
    control = arm(500, 475, costs=costs)
    cheaper = gates_for(control, arm(500, 475, costs=[c * 0.7 for c in costs]))
    pricier = gates_for(control, arm(500, 475, costs=[c * 2 for c in costs]))
    assert cheaper["cost_per_call"].verdict == "pass"
    assert pricier["cost_per_call"].verdict == "fail"
    assert pricier["cost_per_call"].figures["ratio"] == pytest.approx(2.0)


def test_free_models_pass_the_cost_gate():
    free = arm(50, 50, costs=[0.0] * 50)
    result = gates_for(free, free)
    assert result["cost_per_call"].verdict == "pass"


def test_cost_gate_is_absent_when_nothing_is_priced_and_inconclusive_when_one_side_is():
    unpriced = evaluate_gates(control=arm(100, 95), candidate=arm(100, 95), config=CONFIG)
    assert "cost_per_call" not in by_gate(unpriced)
    half = by_gate(evaluate_gates(control=arm(100, 95, costs=[0.01] * 100), candidate=arm(100, 95), config=CONFIG))
    assert half["cost_per_call"].verdict == "inconclusive"


def test_quality_gate_only_when_both_arms_are_scored():
    scores = [0.6 + 0.01 * (i % 30) for i in range(300)]
    one_sided = evaluate_gates(control=arm(300, 300, quality=scores), candidate=arm(300, 300), config=CONFIG)
    assert "quality" not in by_gate(one_sided)
    scored = arm(300, 300, quality=scores)
    same = gates_for(scored, scored)
    worse = gates_for(scored, arm(300, 300, quality=[s - 0.1 for s in scores]))
    assert same["quality"].verdict == "pass"
    assert worse["quality"].verdict == "fail"


# --- inputs ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "make",
    [
        lambda: ArmSample(calls=5, successes=6),
        lambda: ArmSample(calls=-1),
        lambda: LatencyHistogram.of([-3.0]),
        lambda: LatencyHistogram.of([math.nan]),
        lambda: LatencyHistogram(0, (1, -1)),
        lambda: Moments.of([math.inf]),
        lambda: replace(CONFIG, alpha=0.0),
        lambda: replace(CONFIG, fail_alpha=0.7),
        lambda: replace(CONFIG, latency_p95_max_ratio=0.9),
        lambda: replace(CONFIG, min_samples=0),
    ],
)
def test_bad_inputs_are_reported_as_invalid_input(make):
    with pytest.raises(InvalidInput):
        make()


# --- properties -----------------------------------------------------------------------------

counts = st.integers(min_value=0, max_value=10**12)


@st.composite
def arm_samples(draw):
    calls = draw(counts)
    successes = draw(st.integers(min_value=0, max_value=calls))
    histogram = LatencyHistogram(
        draw(st.integers(min_value=0, max_value=400)), tuple(draw(st.lists(counts, max_size=40)))
    )
    floats = st.floats(min_value=0, max_value=1e6, allow_nan=False)

    def moments():
        n = draw(st.integers(min_value=0, max_value=10**9))
        mean = draw(floats)
        spread = draw(floats)
        return Moments(n, n * mean, n * (mean * mean + spread))

    return ArmSample(calls, successes, histogram, moments(), moments())


@settings(max_examples=300, deadline=None)
@given(control=arm_samples(), candidate=arm_samples())
def test_gates_never_raise_and_always_give_a_known_verdict(control, candidate):
    results = evaluate_gates(control=control, candidate=candidate, config=CONFIG)
    names = [r.gate for r in results]
    assert len(names) == len(set(names)) and set(names) <= set(GATES)
    assert ("quality" in names) == bool(control.quality.count and candidate.quality.count)
    for result in results:
        assert result.verdict in VERDICTS
        assert result.p_value is None or 0.0 <= result.p_value <= 1.0
        assert result.summary.startswith(result.gate)


@settings(max_examples=200, deadline=None)
@given(sample=arm_samples())
def test_a_candidate_identical_to_its_incumbent_never_fails(sample):
    results = evaluate_gates(control=sample, candidate=sample, config=CONFIG)
    assert all(r.verdict != "fail" for r in results)


@settings(max_examples=100, deadline=None)
@given(
    first=st.lists(st.tuples(st.booleans(), st.floats(min_value=0, max_value=1e7)), max_size=30),
    second=st.lists(st.tuples(st.booleans(), st.floats(min_value=0, max_value=1e7)), max_size=30),
)
def test_adding_windows_equals_summarising_their_calls_together(first, second):
    def summary(calls):
        return ArmSample.from_calls(
            successes=[ok for ok, _ in calls],
            latencies_ms=[ms for ok, ms in calls if ok],
            costs=[ms / 1e6 for _, ms in calls],
        )

    combined = summary(first) + summary(second)
    together = summary(first + second)
    assert (combined.calls, combined.successes) == (together.calls, together.successes)
    assert combined.latency == together.latency
    assert combined.cost.count == together.cost.count
    assert combined.cost.total == pytest.approx(together.cost.total)


# --- repeated looks (upgrade tick re-judges the growing window every 15 minutes) ---------------

LOOKS = 50


def _looks(rng, draw_control, draw_candidate, config, gate, *, rollouts, per_look=40):
    """How many simulated rollouts this gate passes / fails at some look of LOOKS cumulative ones."""
    passed = failed = 0
    for _ in range(rollouts):
        control, candidate = ArmSample(), ArmSample()
        for _ in range(LOOKS):
            control += draw_control(rng, per_look)
            candidate += draw_candidate(rng, per_look)
            verdict = by_gate(evaluate_gates(control=control, candidate=candidate, config=config))[gate].verdict
            if verdict != "inconclusive":
                passed += verdict == "pass"
                failed += verdict == "fail"
                break
    return passed / rollouts, failed / rollouts


def _calls(rate=1.0, *, latency=lambda rng: 1.0, cost=lambda rng: 0.0, quality=None):
    def draw(rng, n):
        outcomes = [rng.random() < rate for _ in range(n)]
        return ArmSample.from_calls(
            successes=outcomes,
            latencies_ms=[latency(rng) for ok in outcomes if ok],
            costs=[cost(rng) for ok in outcomes if ok],
            quality=[quality(rng) for _ in outcomes] if quality else (),
        )

    return draw


# Wide tolerances keep each simulation small; the tests' validity does not depend on the scale.
WIDE = replace(CONFIG, success_margin=0.1, quality_margin=0.1)


@pytest.mark.parametrize(
    "gate, control, at_margin, equal",
    [
        ("success_rate", _calls(0.7), _calls(0.6), _calls(0.7)),
        ("cost_per_call", _calls(cost=lambda rng: rng.expovariate(1.0)),
         _calls(cost=lambda rng: rng.expovariate(1 / CONFIG.cost_max_ratio)),
         _calls(cost=lambda rng: rng.expovariate(1.0))),
        ("quality", _calls(quality=lambda rng: rng.random()), _calls(quality=lambda rng: rng.random() - 0.1),
         _calls(quality=lambda rng: rng.random())),
        ("latency_p95", _calls(latency=lambda rng: rng.lognormvariate(6.8, 0.5)),
         _calls(latency=lambda rng: CONFIG.latency_p95_max_ratio * rng.lognormvariate(6.8, 0.5)),
         _calls(latency=lambda rng: rng.lognormvariate(6.8, 0.5))),
    ],
)
def test_a_candidate_exactly_at_the_tolerance_passes_at_most_alpha_of_the_time_over_50_looks(
        gate, control, at_margin, equal):
    """Found 6 of issue 16: a fixed-level test re-run every tick passed 13-15% at the margin."""
    import random

    rng = random.Random(20260316)
    rollouts = 100 if gate == "latency_p95" else 300
    false_pass, _ = _looks(rng, control, at_margin, WIDE, gate, rollouts=rollouts)
    assert false_pass <= WIDE.alpha
    # ... and not by never passing anything: an equal candidate is passed, not failed.
    true_pass, false_fail = _looks(rng, control, equal, WIDE, gate, rollouts=50)
    assert true_pass >= 0.5 and false_fail <= 0.02


# --- the shadow quality gate on the judge's verdicts ---------------------------------------------

JUDGE_MARGIN = 0.1


def _judged_looks(rng, *, win, loss, rollouts, per_look=40):
    """Like _looks, for judged_quality on pairs won / lost with these chances (the rest tied)."""
    passed = failed = 0
    for _ in range(rollouts):
        wins = ties = losses = 0
        for _ in range(LOOKS):
            for _ in range(per_look):
                u = rng.random()
                wins, losses, ties = wins + (u < win), losses + (win <= u < win + loss), ties + (u >= win + loss)
            verdict = judged_quality(VerdictCounts(wins, ties, losses), margin=JUDGE_MARGIN, config=CONFIG).verdict
            if verdict != "inconclusive":
                passed += verdict == "pass"
                failed += verdict == "fail"
                break
    return passed / rollouts, failed / rollouts


def test_judged_quality_at_the_margin_passes_at_most_alpha_of_the_time_over_50_looks():
    """The candidate loses exactly `margin` more often than it wins: the gate must hold alpha however often it looks."""
    import random

    rng = random.Random(20260317)
    false_pass, _ = _judged_looks(rng, win=0.2, loss=0.2 + JUDGE_MARGIN, rollouts=300)
    assert false_pass <= CONFIG.alpha
    true_pass, false_fail = _judged_looks(rng, win=0.25, loss=0.25, rollouts=50)
    assert true_pass >= 0.5 and false_fail <= 0.02
    _, caught = _judged_looks(rng, win=0.1, loss=0.5, rollouts=50)
    assert caught >= 0.9


def test_judged_quality_waits_for_pairs_and_keeps_a_variance_when_all_tie():
    few = judged_quality(VerdictCounts(wins=3, ties=2, losses=0), margin=JUDGE_MARGIN, config=CONFIG)
    assert few.verdict == "inconclusive" and "too few judged pairs" in few.summary
    ties = judged_quality(VerdictCounts(ties=25), margin=JUDGE_MARGIN, config=CONFIG)
    assert ties.verdict == "inconclusive" and ties.p_value > CONFIG.alpha  # 25 ties are not proof yet
    many = judged_quality(VerdictCounts(wins=300, ties=400, losses=300), margin=JUDGE_MARGIN, config=CONFIG)
    assert many.verdict == "pass" and many.figures["n_candidate"] == 1000
    with pytest.raises(InvalidInput):
        VerdictCounts(wins=-1)
