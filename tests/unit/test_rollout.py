from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from modelctl.config import load_upgrade
from modelctl.core.gates import VERDICTS, GateResult
from modelctl.core.rollout import (
    ACTIONS,
    PHASES,
    PhaseConfig,
    RolloutView,
    SegmentEvidence,
    decide,
    next_phase,
)
from modelctl.errors import ConfigError, InvalidInput

DEFAULT_ROLLOUT_CONFIG = load_upgrade().rollout_config()

START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
ENOUGH = (5000, 500)


def gate(verdict, name="success_rate", summary=None):
    return GateResult(name, verdict, summary or f"{name} {verdict}: candidate 95.0% vs incumbent 95.0%")


def view(phase="shadow", traffic=5):
    return RolloutView("gpt-new", "gpt-old", phase, traffic, START)


def run(*, phase="shadow", results, after, samples=ENOUGH, config=DEFAULT_ROLLOUT_CONFIG):
    """One segment's evidence."""
    evidence = [SegmentEvidence("technical", tuple(results), samples)]
    return decide(rollout=view(phase), evidence=evidence, now=START + after, config=config)


def test_phases_follow_the_promotion_path_and_end_at_full():
    assert [next_phase(p) for p in ("discovered", "shadow", "canary")] == ["shadow", "canary", "full"]
    assert next_phase("full") is next_phase("rolled_back") is next_phase("rejected") is None
    with pytest.raises(InvalidInput):
        next_phase("beta")


def test_a_discovered_candidate_starts_in_shadow_at_the_configured_share():
    decision = run(phase="discovered", results=[], after=timedelta(0), samples=(0, 0))
    assert (decision.action, decision.next_phase, decision.next_traffic_pct) == ("advance", "shadow", 5)


def test_a_failing_gate_rolls_back_at_once_even_before_the_minimums():
    failing = gate("fail", summary="success_rate fail: candidate 85.0% vs incumbent 95.0% (-10.0 points)")
    decision = run(results=[gate("pass", "latency_p95"), failing], after=timedelta(minutes=45), samples=(900, 40))
    assert (decision.action, decision.next_phase, decision.next_traffic_pct) == ("rollback", "rolled_back", 0)
    assert "success_rate" in decision.reason and "85.0%" in decision.reason
    assert "latency_p95" not in decision.reason


def test_passing_gates_wait_for_the_minimum_duration():
    decision = run(results=[gate("pass")], after=timedelta(hours=6))
    assert (decision.action, decision.next_phase, decision.next_traffic_pct) == ("wait", "shadow", 5)
    assert "6 h of the 24 h minimum" in decision.reason


def test_passing_gates_wait_for_the_minimum_samples_per_arm():
    decision = run(results=[gate("pass")], after=timedelta(hours=30), samples=(5000, 150))
    assert decision.action == "wait"
    assert "150 candidate" in decision.reason and "200" in decision.reason


@pytest.mark.parametrize(
    "phase, after, target, traffic",
    [("shadow", timedelta(hours=24), "canary", 20), ("canary", timedelta(days=3), "full", 100)],
)
def test_all_gates_passing_past_the_minimums_advances(phase, after, target, traffic):
    decision = run(phase=phase, results=[gate("pass"), gate("pass", "latency_p95")], after=after)
    assert (decision.action, decision.next_phase, decision.next_traffic_pct) == ("advance", target, traffic)
    assert f"moving to {target}" in decision.reason


def test_an_inconclusive_gate_waits_and_says_which():
    decision = run(
        results=[gate("pass"), gate("inconclusive", "latency_p95", "latency_p95 inconclusive: ratio 1.15")],
        after=timedelta(hours=30),
    )
    assert decision.action == "wait"
    assert "latency_p95 inconclusive: ratio 1.15" in decision.reason


def test_still_inconclusive_at_the_canary_maximum_is_rejected_by_default():
    decision = run(phase="canary", results=[gate("inconclusive")], after=timedelta(days=7))
    assert (decision.action, decision.next_phase, decision.next_traffic_pct) == ("reject", "rejected", 0)
    assert "7.0 days maximum" in decision.reason


def test_shadow_hands_an_undecided_candidate_on_to_canary_at_its_maximum():
    """Shadow is a screen: 5% of 48 h cannot show an equal candidate within the success margin, and
    rejecting there sent 20% of equal candidates away (tests/benchmarks/rollout_sim.py)."""
    undecided = [gate("pass", "latency_p95"), gate("inconclusive", summary="success_rate inconclusive")]
    assert run(results=undecided, after=timedelta(hours=47, minutes=45)).action == "wait"
    decision = run(results=undecided, after=timedelta(hours=48))
    assert (decision.action, decision.next_phase, decision.next_traffic_pct) == ("advance", "canary", 20)
    assert "48 h maximum" in decision.reason and "success_rate inconclusive" in decision.reason
    failing = run(results=[*undecided, gate("fail", "quality")], after=timedelta(hours=48))
    assert failing.action == "rollback"
    rejecting = replace(DEFAULT_ROLLOUT_CONFIG, phases={
        **DEFAULT_ROLLOUT_CONFIG.phases, "shadow": replace(DEFAULT_ROLLOUT_CONFIG.phases["shadow"], on_max="reject")})
    assert run(results=undecided, after=timedelta(hours=48), config=rejecting).action == "reject"
    unseen = run(results=[gate("inconclusive", summary="success_rate: too few calls")], after=timedelta(hours=48),
                 samples=(300, 3))
    assert unseen.action == "reject"  # a screen that saw too few calls screened nothing


def test_the_canary_passes_gates_at_its_own_stricter_level():
    """Full needs the canary's own evidence at alpha 0.01, whatever the shadow did: the 1% bound."""
    assert DEFAULT_ROLLOUT_CONFIG.gates_for("canary").alpha == 0.01
    assert DEFAULT_ROLLOUT_CONFIG.gates_for("shadow") == DEFAULT_ROLLOUT_CONFIG.gates
    assert DEFAULT_ROLLOUT_CONFIG.on_max("canary") == "reject"
    with pytest.raises(ConfigError, match="canary"):
        advancing = replace(DEFAULT_ROLLOUT_CONFIG.phases["canary"], on_max="advance")
        replace(DEFAULT_ROLLOUT_CONFIG, phases={**DEFAULT_ROLLOUT_CONFIG.phases, "canary": advancing})


def test_hold_keeps_the_rollout_where_it_is_for_a_manual_decision():
    holding = replace(DEFAULT_ROLLOUT_CONFIG, on_timeout="hold")
    decision = run(phase="canary", results=[gate("inconclusive")], after=timedelta(days=8), config=holding)
    assert (decision.action, decision.next_phase, decision.next_traffic_pct) == ("hold", "canary", 5)
    assert "manual" in decision.reason


def test_a_regression_in_one_segment_rolls_back_however_well_the_others_do():
    """Found 5 of issue 16: pooled segments let a candidate 10 points worse on 5% of traffic reach full."""
    big = SegmentEvidence("simple", (gate("pass"), gate("pass", "latency_p95")), (95_000, 9_500))
    small = SegmentEvidence("research", (gate("fail", summary="success_rate fail: 85.0% vs 95.0%"),), (5_000, 500))
    decision = decide(rollout=view(), evidence=[big, small], now=START + timedelta(hours=30),
                      config=DEFAULT_ROLLOUT_CONFIG)
    assert (decision.action, decision.next_phase) == ("rollback", "rolled_back")
    assert "research: success_rate fail" in decision.reason and "simple" not in decision.reason


def test_every_segment_is_promoted_on_its_own_evidence():
    passing = SegmentEvidence("simple", (gate("pass"),), ENOUGH)
    thin = SegmentEvidence("research", (gate("pass"),), (5000, 120))
    undecided = SegmentEvidence("technical", (gate("inconclusive", summary="success_rate inconclusive"),), ENOUGH)
    for other in (thin, undecided):
        decision = decide(rollout=view(), evidence=[passing, other], now=START + timedelta(hours=30),
                          config=DEFAULT_ROLLOUT_CONFIG)
        assert decision.action == "wait"
        assert f"{other.segment}: " in decision.reason and "simple" not in decision.reason
    decision = decide(rollout=view(), evidence=[passing, replace(thin, samples=ENOUGH)],
                      now=START + timedelta(hours=30), config=DEFAULT_ROLLOUT_CONFIG)
    assert decision.action == "advance"


def test_no_gate_results_never_promote():
    decision = run(results=[], after=timedelta(hours=30))
    assert decision.action == "wait"
    assert "no gate" in decision.reason


def test_finished_rollouts_and_mixed_clocks_are_refused():
    with pytest.raises(InvalidInput):
        run(phase="full", results=[gate("pass")], after=timedelta(days=1))
    with pytest.raises(InvalidInput):
        decide(
            rollout=view(),
            evidence=[SegmentEvidence("technical", (gate("pass"),), ENOUGH)],
            now=datetime(2026, 3, 3),
            config=DEFAULT_ROLLOUT_CONFIG,
        )


@pytest.mark.parametrize(
    "make",
    [
        lambda: replace(DEFAULT_ROLLOUT_CONFIG, phases={"shadow": PhaseConfig(5), "full": PhaseConfig(100)}),
        lambda: replace(DEFAULT_ROLLOUT_CONFIG, phases={**DEFAULT_ROLLOUT_CONFIG.phases, "beta": PhaseConfig(5)}),
        lambda: replace(DEFAULT_ROLLOUT_CONFIG, on_timeout="ignore"),
        lambda: PhaseConfig(5, timedelta(hours=48), timedelta(hours=24)),
        lambda: PhaseConfig(0),
        lambda: PhaseConfig(150),
        lambda: PhaseConfig(5, alpha=0.6),
        lambda: PhaseConfig(5, on_max="promote"),
    ],
)
def test_bad_rollout_config_is_a_config_error(make):
    with pytest.raises(ConfigError):
        make()


def test_defaults_follow_the_original_design():
    phases = DEFAULT_ROLLOUT_CONFIG.phases
    assert (phases["shadow"].traffic_pct, phases["shadow"].min_duration, phases["shadow"].max_duration) == (
        5,
        timedelta(hours=24),
        timedelta(hours=48),
    )
    assert (phases["canary"].traffic_pct, phases["canary"].min_duration, phases["canary"].max_duration) == (
        20,
        timedelta(days=3),
        timedelta(days=7),
    )
    assert phases["full"].traffic_pct == 100


@given(
    phase=st.sampled_from(["shadow", "canary"]),
    verdicts=st.lists(st.sampled_from(VERDICTS), max_size=4),
    minutes=st.integers(min_value=-60, max_value=60 * 24 * 10),
    samples=st.tuples(st.integers(0, 10**9), st.integers(0, 10**9)),
)
def test_decisions_obey_the_table(phase, verdicts, minutes, samples):
    results = [gate(v, f"gate{i}") for i, v in enumerate(verdicts)]
    decision = run(phase=phase, results=results, after=timedelta(minutes=minutes), samples=samples)
    phase_config = DEFAULT_ROLLOUT_CONFIG.phases[phase]
    assert decision.action in ACTIONS and decision.next_phase in PHASES and decision.reason
    if "fail" in verdicts:
        assert decision.action == "rollback"
    if decision.action == "advance" and timedelta(minutes=minutes) < phase_config.max_duration:
        assert verdicts and set(verdicts) == {"pass"}
        assert timedelta(minutes=minutes) >= phase_config.min_duration
        assert min(samples) >= phase_config.min_samples
    if decision.action == "advance":
        assert phase == "shadow" or set(verdicts) == {"pass"}  # only shadow hands an undecided one on
        assert verdicts and min(samples) >= DEFAULT_ROLLOUT_CONFIG.gates.min_samples
    if decision.action == "reject":
        assert timedelta(minutes=minutes) >= phase_config.max_duration
