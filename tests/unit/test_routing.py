import json
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from modelctl.core.catalog import CAPABILITIES, STATUSES, ModelSpec
from modelctl.core.classify import Classification
from modelctl.core.quality import QualityEstimate, estimate
from modelctl.core.routing import (
    Decision,
    ProviderState,
    RefinementPolicy,
    RolloutArm,
    RouteRequest,
    RoutingState,
    SegmentPolicy,
    route,
    route_many,
    route_refinement,
    validate_capabilities,
    validate_objective,
    validate_query,
)
from modelctl.errors import InvalidInput, NoEligibleModel

NOW = datetime(2025, 1, 15, 12, 0, tzinfo=UTC)
GPT35 = "gpt-3.5-turbo-0125"
SONNET = "claude-3-5-sonnet-20241022"
GPT4O = "gpt-4o-2024-08-06"
MINI = "gpt-4o-mini-2024-07-18"
HAIKU = "claude-3-5-haiku-20241022"
TEXT = frozenset({"text_generation", "streaming", "function_calling", "tool_use"})
VISION = TEXT | {"multimodal"}


def spec(model_id, provider, caps, ctx, price_in, price_out, ttft, completion, **kw):
    return ModelSpec(
        model_id=model_id,
        provider=provider,
        capabilities=caps,
        max_context_tokens=ctx,
        input_cost_per_1k=price_in,
        output_cost_per_1k=price_out,
        avg_ttft_ms=ttft,
        avg_completion_ms=completion,
        **kw,
    )


CATALOG = {
    m.model_id: m
    for m in (
        spec(GPT35, "openai", TEXT, 16_385, 0.0005, 0.0015, 300, 900),
        spec(SONNET, "anthropic", VISION, 200_000, 0.003, 0.015, 600, 2400),
        spec(GPT4O, "openai", VISION, 128_000, 0.0025, 0.01, 500, 2000),
        spec(MINI, "openai", VISION, 128_000, 0.00015, 0.0006, 250, 150, is_refiner=True),
        spec(HAIKU, "anthropic", TEXT, 200_000, 0.0008, 0.004, 300, 150, is_refiner=True),
    )
}
POLICIES = {
    "simple": SegmentPolicy("simple", (GPT35, SONNET, GPT4O), 5),
    "technical": SegmentPolicy("technical", (SONNET, GPT4O, GPT35), 7),
    "research": SegmentPolicy("research", (GPT4O, SONNET, GPT35), 10),
    "multimedia": SegmentPolicy("multimedia", (GPT4O,), 10, fallback_to_capable=True),
}
KEYS = {p: ProviderState(p, key_present=True, cooldown_until=None) for p in ("openai", "anthropic")}
STATE = RoutingState(
    models=CATALOG,
    providers=KEYS,
    policies=POLICIES,
    refinement={"fast": RefinementPolicy("fast", (MINI, HAIKU))},
)


def classification(query_type="technical", complexity="moderate", confidence=0.8):
    budgets = {"simple": 5, "moderate": 7, "complex": 10}
    return Classification(query_type, complexity, budgets[complexity], confidence, ())


def decide(state=STATE, *, query_type="technical", complexity="moderate", **request) -> Decision:
    request.setdefault("now", NOW)
    query = request.pop("query", "How do I read a file line by line in Rust?")
    return route(RouteRequest(query, **request), classification(query_type, complexity), state)


def with_models(*changed: ModelSpec, **state_changes) -> RoutingState:
    return replace(STATE, models={**CATALOG, **{m.model_id: m for m in changed}}, **state_changes)


def trace_of(decision: Decision) -> dict:
    return {c.model_id: c for c in decision.reason}


# --- the original chains ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query_type", "chosen", "fallbacks"),
    [
        ("simple", GPT35, (SONNET, GPT4O)),
        ("technical", SONNET, (GPT4O, GPT35)),
        ("research", GPT4O, (SONNET, GPT35)),
    ],
)
def test_original_chains_serve_in_policy_order(query_type, chosen, fallbacks):
    d = decide(query_type=query_type)
    assert (d.model_id, d.fallback_models) == (chosen, fallbacks)
    assert d.segment == query_type and d.arm == "control" and d.warnings == ()
    assert [c.verdict for c in d.reason] == ["chosen", "fallback", "fallback"]
    assert d.confidence == 0.8  # the policy's first choice: as sure as the classifier


def test_multimedia_is_gpt4o_then_any_other_multimodal_model():
    d = decide(query="What is in this picture?", attachments=("cat.png",), query_type="multimedia")
    assert d.model_id == GPT4O
    assert set(d.fallback_models) == {SONNET, MINI}
    assert GPT35 not in trace_of(d) and HAIKU not in trace_of(d)


def test_attachments_require_a_multimodal_model_even_in_a_text_segment():
    d = decide(attachments=("scan.pdf",), segment="simple")
    assert d.model_id == SONNET
    assert trace_of(d)[GPT35].reason == "lacks capability multimodal"


def test_estimates_come_from_prices_and_latency_priors():
    d = decide(query="x" * 4000, query_type="technical", complexity="complex")
    # 1,000 tokens in, 1,500 out at Sonnet's prices; 600 + 2400 ms prior.
    assert d.estimated_cost == pytest.approx((1000 * 0.003 + 1500 * 0.015) / 1000)
    assert d.estimated_latency == pytest.approx(3.0)


def test_measured_latency_replaces_the_prior():
    d = decide(replace(STATE, latency={SONNET: 9000.0}))
    assert d.model_id == GPT4O
    assert "expected latency 9,000 ms" in trace_of(d)[SONNET].reason


# --- every drop reason --------------------------------------------------------------------------


def dropped_reason(state=STATE, model=SONNET, **request) -> str:
    d = decide(state, **request)
    assert d.model_id != model
    candidate = trace_of(d)[model]
    assert candidate.verdict == "dropped"
    return candidate.reason


@pytest.mark.parametrize("status", ["candidate", "disabled", "retired"])
def test_models_outside_stable_and_deprecated_are_never_routed(status):
    state = with_models(replace(CATALOG[SONNET], status=status))
    assert dropped_reason(state) == (
        f"status is {status}; only stable and deprecated models are routed"
    )


def test_deprecated_models_still_serve():
    assert decide(with_models(replace(CATALOG[SONNET], status="deprecated"))).model_id == SONNET


def test_missing_capability_is_named():
    long = with_models(replace(CATALOG[GPT4O], capabilities=VISION | {"long_context"}))
    reason = dropped_reason(long, required_capabilities=frozenset({"long_context", "multimodal"}))
    assert reason == "lacks capability long_context"
    assert trace_of(decide(long, required_capabilities=frozenset({"long_context"})))[
        GPT35
    ].reason == "lacks capability long_context"


def test_context_window_smaller_than_the_prompt_says_both_numbers():
    # 80,000 chars -> 20,000 tokens: over GPT-3.5's 16,385, within the others.
    reason = dropped_reason(model=GPT35, query="word " * 16_000, query_type="simple")
    assert "16,385" in reason and "20,000" in reason


def test_each_attachment_counts_a_thousand_tokens():
    small = replace(CATALOG[SONNET], max_context_tokens=2500)
    reason = dropped_reason(with_models(small), attachments=("a.png", "b.png", "c.png"))
    # 42 characters of query -> 10 tokens, plus 3 x 1,000.
    assert "2,500 tokens" in reason and "3,010 tokens" in reason


def test_missing_key_drops_the_provider_unless_keys_are_ignored():
    no_key = {**KEYS, "anthropic": ProviderState("anthropic", key_present=False)}
    state = replace(STATE, providers=no_key)
    assert "anthropic has no API key" in dropped_reason(state)
    assert decide(state, ignore_keys=True).model_id == SONNET


def test_unconfigured_provider_is_dropped():
    state = replace(STATE, providers={"openai": KEYS["openai"]})
    assert dropped_reason(state) == "provider anthropic is not configured"
    assert decide(state, ignore_keys=True).model_id != SONNET  # ignoring keys cannot call it either


def test_provider_cooldown_says_until_when_and_expires():
    until = NOW + timedelta(minutes=5)
    cooling = {**KEYS, "anthropic": ProviderState("anthropic", True, cooldown_until=until)}
    state = replace(STATE, providers=cooling)
    assert dropped_reason(state) == f"provider anthropic is cooling down until {until.isoformat()}"
    assert decide(state, now=until + timedelta(seconds=1)).model_id == SONNET


def test_model_cooldown_from_a_naive_utc_timestamp():
    state = replace(STATE, model_cooldowns={SONNET: datetime(2025, 1, 15, 12, 30)})
    assert dropped_reason(state) == "model is cooling down until 2025-01-15T12:30:00+00:00"


def test_expected_latency_over_the_deadline():
    assert dropped_reason(deadline_ms=2900) == (
        "expected latency 3,000 ms exceeds the budget of 2,900 ms"
    )


def test_estimated_cost_over_the_max_cost():
    reason = dropped_reason(max_cost_usd=0.01)
    assert reason.startswith("estimated cost $0.012") and "max cost of $0.01" in reason


def test_unpriced_model_is_dropped_only_when_a_max_cost_is_set():
    unpriced = with_models(replace(CATALOG[SONNET], input_cost_per_1k=None))
    assert dropped_reason(unpriced, max_cost_usd=1.0) == "unpriced, and a max cost of $1 is set"
    d = decide(unpriced)
    assert d.model_id == SONNET and d.estimated_cost is None


def test_output_estimate_follows_complexity():
    # Sonnet: 10 tokens in; 300 / 800 / 1500 tokens out at $0.015 per 1k.
    for complexity, tokens_out in (("simple", 300), ("moderate", 800), ("complex", 1500)):
        d = decide(query="q" * 40, complexity=complexity)
        assert d.estimated_cost == pytest.approx((10 * 0.003 + tokens_out * 0.015) / 1000)


def test_model_past_its_deprecation_date_is_retired_and_names_its_successor():
    old = replace(CATALOG[SONNET], deprecation_date=date(2025, 1, 1), successor="claude-next")
    reason = dropped_reason(with_models(old))
    assert reason == ("retired: its deprecation date 2025-01-01 has passed; use claude-next "
                      "(not in the catalog: `modelctl discover` or `models import`)")


def test_a_retired_chain_model_s_successor_takes_its_place():
    """technical is SONNET -> GPT4O -> GPT35: once SONNET retires, its successor serves first."""
    successor = replace(CATALOG[SONNET], model_id="claude-next", deprecation_date=None)
    old = replace(CATALOG[SONNET], deprecation_date=date(2025, 1, 1), successor="claude-next")
    d = decide(with_models(old, successor))
    assert (d.model_id, d.fallback_models) == ("claude-next", (GPT4O, GPT35))
    assert d.confidence == pytest.approx(0.8)  # still the policy's first choice
    trace = trace_of(d)
    assert trace["claude-next"].reason == f"first choice of the technical policy, in place of retired {SONNET}"
    assert trace[SONNET].reason == (
        "retired: its deprecation date 2025-01-01 has passed; its successor claude-next takes its place")


def test_a_successor_already_in_the_chain_moves_up_to_the_retired_model_s_place():
    old = replace(CATALOG[SONNET], deprecation_date=date(2025, 1, 1), successor=GPT35)
    d = decide(with_models(old))
    assert (d.model_id, d.fallback_models) == (GPT35, (GPT4O,))


def test_one_state_follows_the_request_day_across_a_deprecation_date():
    """A gateway keeps one routing state across midnight: verdicts follow each request's day."""
    soon = replace(CATALOG[SONNET], status="deprecated", deprecation_date=date(2025, 1, 16))
    state = with_models(soon)
    today = decide(state)
    assert today.model_id == SONNET and today.warnings == (f"{SONNET} is deprecated on 2025-01-16 (in 1 days)",)
    after = decide(state, now=NOW + timedelta(days=2))
    assert after.model_id == GPT4O
    assert trace_of(after)[SONNET].reason == "retired: its deprecation date 2025-01-16 has passed"
    assert decide(state).model_id == SONNET


def test_chain_entry_missing_from_the_catalog():
    policies = {**POLICIES, "technical": SegmentPolicy("technical", ("gpt-5", SONNET), 7)}
    d = decide(replace(STATE, policies=policies))
    assert trace_of(d)["gpt-5"].reason == "not in the catalog"
    assert trace_of(d)["gpt-5"].provider is None
    assert d.model_id == SONNET and d.confidence < 0.8  # the policy's first choice could not serve


def test_nothing_eligible_raises_with_a_summary_and_the_trace():
    with pytest.raises(NoEligibleModel) as err:
        decide(max_cost_usd=0.0, required_capabilities=frozenset({"multimodal"}))
    message = str(err.value)
    assert "all 3 candidates were dropped" in message
    assert f"{GPT35}: lacks capability multimodal" in message
    assert [c.model_id for c in err.value.trace] == [SONNET, GPT4O, GPT35]
    assert all(c.verdict == "dropped" for c in err.value.trace)


# --- segments, budgets, warnings ----------------------------------------------------------------


def test_segment_without_policy_falls_back_to_the_query_type_policy_and_says_so():
    d = decide(segment="billing-bot")
    assert d.segment == "billing-bot" and d.model_id == SONNET
    assert d.warnings == (
        "no routing policy for segment 'billing-bot'; using the technical policy",
    )


def test_budget_precedence_deadline_then_policy_then_classifier():
    assert decide(deadline_ms=2500).budget_seconds == 2.5
    assert decide().budget_seconds == 7.0
    no_budget = {**POLICIES, "technical": POLICIES["technical"]._replace(budget_seconds=None)}
    assert decide(replace(STATE, policies=no_budget), complexity="complex").budget_seconds == 10.0


def test_deprecation_within_thirty_days_warns_with_the_successor():
    soon = replace(CATALOG[SONNET], status="deprecated", deprecation_date=date(2025, 1, 27),
                   successor="claude-3-7-sonnet")
    d = decide(with_models(soon))
    assert d.model_id == SONNET
    assert d.warnings == (
        f"{SONNET} is deprecated on 2025-01-27 (in 12 days); move to claude-3-7-sonnet",
    )
    later = replace(soon, deprecation_date=date(2025, 3, 15))
    assert decide(with_models(later)).warnings == ()


def test_decision_is_json_ready():
    d = decide(replace(STATE, quality={("technical", SONNET): estimate(90, 81, 100)}))
    out = json.loads(json.dumps(d.as_dict()))
    assert out["model_id"] == SONNET and out["fallback_models"] == [GPT4O, GPT35]
    assert out["reason"][0]["quality"]["n"] == 100
    assert [r["verdict"] for r in out["reason"]] == ["chosen", "fallback", "fallback"]


# --- learned objectives -------------------------------------------------------------------------


def scored(mean: float, n: int) -> QualityEstimate:
    return estimate(mean * n, mean * mean * n, n)


def learned(**per_model: QualityEstimate) -> RoutingState:
    ids = {"sonnet": SONNET, "gpt4o": GPT4O, "gpt35": GPT35}
    return replace(STATE, quality={("technical", ids[k]): q for k, q in per_model.items()})


def test_cost_objective_takes_the_cheapest_model_within_the_quality_ratio():
    state = learned(sonnet=scored(0.90, 500), gpt4o=scored(0.88, 500), gpt35=scored(0.60, 500))
    d = decide(state, objective="cost")
    assert d.model_id == GPT4O  # cheaper than Sonnet, close enough; GPT-3.5 is too far behind
    assert d.fallback_models == (SONNET, GPT35)
    assert trace_of(d)[GPT4O].reason.startswith("cheapest with quality LCB within 0.95")
    assert "below 0.95" in trace_of(d)[GPT35].reason
    assert decide(state, objective="cost", min_quality_ratio=0.6).model_id == GPT35


def test_policy_objective_and_ratio_come_from_the_segment_policy():
    state = learned(sonnet=scored(0.90, 500), gpt4o=scored(0.88, 500), gpt35=scored(0.60, 500))
    cost_first = POLICIES["technical"]._replace(objective="cost", min_quality_ratio=0.5)
    state = replace(state, policies={**POLICIES, "technical": cost_first})
    assert decide(state).model_id == GPT35


def test_quality_objective_takes_the_best_lower_bound():
    state = learned(sonnet=scored(0.85, 500), gpt4o=scored(0.92, 500))
    d = decide(state, objective="quality")
    assert d.model_id == GPT4O and d.fallback_models == (SONNET, GPT35)


def test_three_perfect_scores_do_not_beat_five_hundred_at_point_nine():
    state = learned(gpt35=scored(1.0, 3), sonnet=scored(0.9, 500))
    assert decide(state, objective="quality").model_id == SONNET
    # GPT-3.5 is far cheaper, but its bound is not within the ratio of Sonnet's.
    assert decide(state, objective="cost").model_id == SONNET


def test_models_without_data_are_never_picked_by_a_learned_objective_but_stay_as_fallbacks():
    state = learned(gpt35=scored(0.5, 200))
    for objective in ("cost", "quality"):
        d = decide(state, objective=objective)
        assert d.model_id == GPT35
        assert d.fallback_models == (SONNET, GPT4O)  # chain order
        assert "no quality data" in trace_of(d)[SONNET].reason


def test_learned_objective_without_any_data_uses_the_chain_and_says_so():
    d = decide(objective="cost")
    assert d.model_id == SONNET
    assert any("no quality data" in w for w in d.warnings)


def test_quality_data_of_other_segments_is_ignored():
    state = replace(STATE, quality={("research", GPT35): scored(0.99, 1000)})
    assert decide(state, objective="quality").model_id == SONNET


def test_confidence_reflects_how_well_the_chosen_model_is_measured():
    well = decide(learned(sonnet=scored(0.9, 2000)), objective="quality").confidence
    barely = decide(learned(sonnet=scored(0.9, 5)), objective="quality").confidence
    assert 0 < barely < well <= 0.8


# --- rollout arms -------------------------------------------------------------------------------

NEXT = "claude-next-20250101"


def rollout_state(phase: str, pct: float, *, status: str = "candidate") -> RoutingState:
    candidate = spec(NEXT, "anthropic", VISION, 200_000, 0.003, 0.015, 500, 2000, status=status)
    arm = RolloutArm(NEXT, SONNET, frozenset({"technical"}), phase, pct, salt="r1")
    return with_models(candidate, rollouts=(arm,))


def test_canary_arm_serves_the_candidate_with_the_chain_behind_it():
    d = decide(rollout_state("canary", 100), request_id="req-1")
    assert (d.model_id, d.arm, d.shadow_model) == (NEXT, "canary", None)
    assert d.fallback_models == (SONNET, GPT4O, GPT35)


def test_control_arm_and_requests_without_id_never_see_the_candidate():
    assert decide(rollout_state("canary", 0), request_id="req-1").model_id == SONNET
    d = decide(rollout_state("canary", 100))
    assert (d.model_id, d.arm) == (SONNET, "control") and NEXT not in trace_of(d)


def test_rollout_applies_only_to_its_segments():
    assert decide(rollout_state("canary", 100), request_id="r", query_type="research").arm == (
        "control"
    )


def test_canary_candidate_that_fails_the_filters_falls_back_to_control():
    d = decide(rollout_state("canary", 100, status="disabled"), request_id="req-1")
    assert (d.model_id, d.arm) == (SONNET, "control")
    assert trace_of(d)[NEXT].reason.startswith("canary candidate: status is disabled")
    assert d.warnings == (f"canary candidate {NEXT} cannot serve; using control",)


def test_shadow_arm_duplicates_to_the_candidate_while_control_serves():
    d = decide(rollout_state("shadow", 100), request_id="req-1")
    assert (d.model_id, d.arm, d.shadow_model) == (SONNET, "control", NEXT)
    cooldowns = {NEXT: NOW + timedelta(hours=1)}
    cooling = replace(rollout_state("shadow", 100), model_cooldowns=cooldowns)
    blocked = decide(cooling, request_id="req-1")
    assert (blocked.model_id, blocked.shadow_model) == (SONNET, None)
    assert trace_of(blocked)[NEXT].reason.startswith("shadow candidate: model is cooling down")


def test_arm_split_is_deterministic_and_matches_the_traffic_share():
    state = rollout_state("canary", 20)
    arms = [decide(state, request_id=f"req-{i}").arm for i in range(10_000)]
    assert 0.185 < arms.count("canary") / len(arms) < 0.215
    assert [decide(state, request_id=f"req-{i}").arm for i in range(200)] == arms[:200]


def test_arm_split_depends_on_the_salt():
    a = rollout_state("canary", 50)
    b = replace(a, rollouts=(a.rollouts[0]._replace(salt="another"),))
    ids = [f"req-{i}" for i in range(200)]
    assert [decide(a, request_id=i).arm for i in ids] != [decide(b, request_id=i).arm for i in ids]


# --- refinement ---------------------------------------------------------------------------------


def refine(state=STATE, kind="fast", **request) -> Decision:
    request.setdefault("now", NOW)
    return route_refinement(RouteRequest("make this query clearer pls", **request), state, kind)


def test_refinement_takes_the_first_refiner_within_500_ms():
    d = refine()
    assert (d.model_id, d.fallback_models, d.bypass_recommended) == (MINI, (HAIKU,), False)
    # time to first token plus a query-sized answer (6 tokens) at the prior's speed
    assert d.budget_seconds == 0.5 and d.estimated_latency == pytest.approx((250 + 150 * 6 / 800) / 1000)


def test_a_refiner_is_judged_by_a_short_answer_not_a_whole_completion():
    slow_writer = replace(CATALOG[MINI], avg_ttft_ms=300, avg_completion_ms=1500)  # 1,800 ms in all
    d = refine(with_models(slow_writer))
    assert d.model_id == MINI and not d.bypass_recommended


def test_refinement_uses_measured_latency_and_names_the_fastest_when_nothing_fits():
    d = refine(replace(STATE, latency={MINI: 700.0, HAIKU: 650.0}))
    assert d.bypass_recommended and d.model_id == HAIKU and d.fallback_models == ()
    assert "the fastest is " + HAIKU in d.warnings[-1] and "bypass refinement" in d.warnings[-1]
    assert {c.model_id: c.verdict for c in d.reason} == {HAIKU: "chosen", MINI: "dropped"}
    assert "over the 500 ms budget" in trace_of(d)[HAIKU].reason
    assert json.loads(json.dumps(d.as_dict()))["bypass_recommended"] is True


def test_refinement_without_a_policy_tries_catalog_refiners_fastest_first():
    d = refine(kind="quality")
    assert d.model_id == MINI and set(d.fallback_models) == {HAIKU}
    assert "no quality refinement policy" in d.warnings[0]


def test_refiner_with_no_latency_figure_cannot_promise_the_budget():
    unknown = replace(CATALOG[MINI], avg_ttft_ms=None, avg_completion_ms=None)
    d = refine(with_models(unknown))
    assert d.model_id == HAIKU
    assert "no measured or prior latency" in trace_of(d)[MINI].reason


def test_unknown_refinement_type_lists_the_valid_ones():
    with pytest.raises(InvalidInput, match="fast, quality, lmm"):
        refine(kind="turbo")


# --- validation ---------------------------------------------------------------------------------


@pytest.mark.parametrize("query", ["", "   \n\t "])
def test_empty_query_is_rejected(query):
    with pytest.raises(InvalidInput, match="query is empty"):
        validate_query(query)


def test_too_long_query_names_the_limit():
    with pytest.raises(InvalidInput, match="the limit is 100,000 characters"):
        validate_query("a" * 100_001)
    with pytest.raises(InvalidInput, match="limit is 10 characters"):
        validate_query("a" * 11, max_chars=10)


def test_nul_and_lone_surrogates_are_refused_with_their_position():
    with pytest.raises(InvalidInput, match=r"NUL character \(U\+0000\) at position 6"):
        validate_query("hello\x00 world")
    with pytest.raises(InvalidInput, match=r"lone surrogate \(U\+D800\) at position 5"):
        validate_query("café\ud800")


@pytest.mark.parametrize(
    "query",
    ["tabs\tnew\nlines\r\n", "café\x85 next line", "line\x1b[31m red", "\x7f\x07 bell",
     "no\u00a0break\u2028separator", "emoji 😀 and 中文"],
)
def test_any_unicode_text_is_accepted(query):
    # U+0085 (NEL) is common in text decoded from Windows-1252; refusing it refused real prompts
    assert validate_query(query) == query


@settings(max_examples=1000, deadline=None)
@given(query=st.text(min_size=1, max_size=20).filter(lambda q: not q.isspace()))
def test_a_query_is_refused_exactly_when_it_holds_nul_or_a_lone_surrogate(query):
    bad = [c for c in query if c == "\x00" or 0xD800 <= ord(c) <= 0xDFFF]
    if bad:
        with pytest.raises(InvalidInput, match=f"U\\+{ord(bad[0]):04X}\\) at position {query.index(bad[0]) + 1}"):
            validate_query(query)
    else:
        assert validate_query(query) == query


def test_route_validates_its_request():
    with pytest.raises(InvalidInput, match="query is empty"):
        decide(query=" ")
    with pytest.raises(InvalidInput, match="max cost"):
        decide(max_cost_usd=-1.0)
    with pytest.raises(InvalidInput, match="deadline"):
        decide(deadline_ms=0)
    with pytest.raises(InvalidInput, match="quality ratio"):
        decide(min_quality_ratio=1.5)


def test_unknown_capability_lists_the_valid_ones():
    with pytest.raises(InvalidInput) as err:
        validate_capabilities({"vision", "tool_use"})
    assert "'vision'" in str(err.value) and ", ".join(CAPABILITIES) in str(err.value)


def test_unknown_objective_lists_the_valid_ones():
    assert validate_objective("cost") == "cost"
    with pytest.raises(InvalidInput, match="valid: policy, cost, quality"):
        decide(objective="cheap")


# --- properties ---------------------------------------------------------------------------------
# Mostly plausible input, so most examples reach a decision, with every kind of trouble mixed in.
# Strategies are built once at module level: building them on every draw is slow.

IDS = [f"m{i}" for i in range(8)]
PROVIDERS = ("openai", "anthropic", "ollama")
QUERY_TYPES = ("simple", "technical", "research", "multimedia")
usual = st.sampled_from
# One draw in four. Not integers(0, 3) == 0: hypothesis favours boundaries.
rarely = usual([False, False, False, True])


def now_and_then(draw, trouble, common):
    """Draw `trouble` one time in four, else `common` (a strategy or a plain value)."""
    if draw(rarely):
        return draw(trouble)
    return draw(common) if isinstance(common, st.SearchStrategy) else common


readable = st.text(st.characters(blacklist_categories=("Cc", "Cs")), min_size=1, max_size=200)
price = st.floats(0, 0.05)
fast, slow = st.floats(0, 2000), st.none() | st.floats(3000, 30_000)
small_context = st.integers(0, 5000)
any_status = usual(STATUSES)
some_date = st.dates(date(2024, 12, 1), date(2025, 6, 1))
capabilities = st.frozensets(usual(CAPABILITIES), max_size=2)
moment = st.datetimes(datetime(2025, 1, 1), datetime(2025, 2, 1))
naive_or_aware = moment.map(lambda t: t.replace(tzinfo=UTC) if t.microsecond % 2 else t)
model_ids = st.lists(usual(IDS), min_size=3, max_size=8, unique=True)
policy_fields = st.fixed_dictionaries(
    {
        "budget_seconds": st.none() | st.floats(0.5, 15),
        "objective": usual(["policy", "cost", "quality"]),
        "min_quality_ratio": st.floats(0.5, 1),
        "fallback_to_capable": st.booleans(),
    }
)
quality_data = st.dictionaries(
    st.tuples(usual(["technical", "simple"]), usual(IDS)),
    st.builds(scored, st.floats(0, 1), st.integers(0, 1000)),
)
arm_fields = st.tuples(
    usual(IDS), usual(["shadow", "canary"]), usual([0, 20, 100]), st.text(max_size=5)
)


@st.composite
def states(draw):
    catalog = {}
    for m in draw(model_ids):
        catalog[m] = ModelSpec(
            model_id=m,
            provider=draw(usual(PROVIDERS)),
            status=now_and_then(draw, any_status, "stable"),
            capabilities=frozenset(CAPABILITIES) - draw(capabilities),
            max_context_tokens=now_and_then(draw, small_context, None),
            max_output_tokens=draw(st.none() | st.integers(1, 4_000)),
            input_cost_per_1k=now_and_then(draw, st.none(), price),
            output_cost_per_1k=now_and_then(draw, st.none(), price),
            avg_ttft_ms=now_and_then(draw, slow, fast),
            avg_completion_ms=now_and_then(draw, slow, fast),
            is_refiner=draw(st.booleans()),
            deprecation_date=now_and_then(draw, some_date, None),
        )
    chain = usual([*catalog, *catalog, "ghost"])
    policies = {
        qt: SegmentPolicy(qt, tuple(draw(chain) for _ in range(draw(st.integers(2, 5)))),
                          **draw(policy_fields))
        for qt in now_and_then(draw, st.just(QUERY_TYPES[1:]), QUERY_TYPES)
    }
    rollouts = []
    for _ in range(draw(st.integers(1, 2))):
        incumbent, phase, pct, salt = draw(arm_fields)
        candidate = draw(usual([*catalog, "ghost"]))
        segments = frozenset({"simple", "technical"})
        rollouts.append(RolloutArm(candidate, incumbent, segments, phase, pct, salt))
    providers = {
        p: ProviderState(
            p,
            key_present=now_and_then(draw, st.just(False), True),
            cooldown_until=now_and_then(draw, naive_or_aware, None),
        )
        for p in now_and_then(draw, st.just(PROVIDERS[:2]), PROVIDERS)
    }
    return RoutingState(
        models=catalog,
        providers=providers,
        model_cooldowns=draw(st.dictionaries(usual(IDS), naive_or_aware, max_size=2)),
        quality=draw(quality_data),
        policies=policies,
        rollouts=tuple(rollouts),
        latency=draw(st.dictionaries(usual(IDS), st.floats(0, 12_000), max_size=3)),
    )


NONSENSE = {
    "query": st.text(max_size=50),
    "required_capabilities": st.just(frozenset({"telepathy"})),
    "max_cost_usd": st.just(float("nan")) | st.floats(max_value=-0.001),
    "deadline_ms": st.integers(-10, 0),
    "objective": st.just("vibes"),
    "min_quality_ratio": st.just(0.0) | st.floats(1.001, 5),
}
spoilable = usual(sorted(NONSENSE))
attachments = st.lists(st.text(max_size=5), min_size=1).map(tuple)
request_fields = st.fixed_dictionaries(
    {
        "query": readable,
        "now": moment.map(lambda t: t.replace(tzinfo=UTC)),
        "segment": st.none() | usual(["simple", "technical", "custom"]),
        "max_cost_usd": st.none() | st.floats(0, 0.05),
        "deadline_ms": st.none() | st.integers(1, 20_000),
        "objective": st.none() | usual(["policy", "cost", "quality"]),
        "min_quality_ratio": st.none() | st.floats(0.01, 1),
        "request_id": st.none() | st.text(max_size=8),
        "ignore_keys": st.booleans(),
    }
)


@st.composite
def route_requests(draw):
    fields = draw(request_fields)
    fields["attachments"] = now_and_then(draw, attachments, ())
    fields["required_capabilities"] = now_and_then(draw, capabilities, frozenset())
    if draw(rarely):
        spoiled = draw(spoilable)
        fields[spoiled] = draw(NONSENSE[spoiled])
    return RouteRequest(**fields)


requests = route_requests()
classifications = st.builds(
    Classification,
    usual(QUERY_TYPES),
    usual(["simple", "moderate", "complex"]),
    usual([5, 7, 10]),
    st.floats(0, 1),
    st.just(()),
)


@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow])
@given(requests, classifications, states())
def test_route_never_fails_unexpectedly_and_respects_the_constraints(request, cls, state):
    try:
        d = route(request, cls, state)
    except (NoEligibleModel, InvalidInput):
        return
    needed = request.required_capabilities | {"text_generation"}
    if request.attachments or cls.query_type == "multimedia":
        needed |= {"multimodal"}
    served = [d.model_id, *d.fallback_models]
    assert len(set(served)) == len(served)
    candidates = {c.model_id: c for c in d.reason}
    for model_id in served:
        m = state.models[model_id]
        assert needed <= m.capabilities
        assert m.status in ("stable", "deprecated") or (
            model_id == d.model_id and d.arm == "canary" and m.status == "candidate"
        )
        assert m.deprecation_date is None or m.deprecation_date > request.now.date()
        c = candidates[model_id]
        if request.max_cost_usd is not None:
            assert c.estimated_cost is not None and c.estimated_cost <= request.max_cost_usd
        if c.estimated_latency_ms is not None:
            assert c.estimated_latency_ms <= d.budget_seconds * 1000
    assert 0 <= d.confidence <= 1
    json.dumps(d.as_dict())


@settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(requests, classifications), min_size=1, max_size=6), states(), st.data())
def test_a_batch_decides_each_request_as_route_alone_would(pairs, state, data):
    """route_many makes each distinct decision once; every answer must still be route()'s own,
    with its own confidence, rollout arm and errors."""
    # the same requests again with another text of the same length, another confidence and
    # request id: the answers the batch serves from what it remembers
    pairs += [(replace(r, query=r.query[::-1], request_id=data.draw(st.none() | st.text(max_size=8))),
               cls._replace(confidence=data.draw(st.floats(0, 1)))) for r, cls in pairs]
    decide = route_many(state)
    for request, cls in pairs:
        try:
            expected = route(request, cls, state).as_dict()
        except (NoEligibleModel, InvalidInput) as exc:
            with pytest.raises(type(exc)):
                decide(request, cls)
            continue
        assert decide(request, cls) == expected


@settings(max_examples=100, suppress_health_check=[HealthCheck.too_slow])
@given(requests, states(), usual(["fast", "quality", "lmm", "other"]))
def test_refinement_never_fails_unexpectedly_and_stays_within_budget(request, state, kind):
    try:
        d = route_refinement(request, state, kind)
    except (InvalidInput, NoEligibleModel):  # no refiner usable at all, whatever the time
        return
    budget_ms = request.deadline_ms or 500
    if d.bypass_recommended:
        assert d.model_id and d.fallback_models == () and d.estimated_latency * 1000 > budget_ms
        return
    for model_id in (d.model_id, *d.fallback_models):
        c = next(c for c in d.reason if c.model_id == model_id)
        assert c.estimated_latency_ms is not None and c.estimated_latency_ms <= budget_ms
