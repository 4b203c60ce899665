"""The routing policy: which model answers a query, which follow it, and why the others cannot.

Pure (`bench_routing.py --only throughput` measures decisions per second): the service layer reads the
catalog, provider health, cooldowns, learned quality and rollouts into a `RoutingState` and calls
`route`. Every candidate appears in `Decision.reason` with its verdict, so `modelctl route` can
explain itself.

Confidence is the classifier's confidence times how clear the model choice was: 1.0 when the
policy's first choice serves, 0.85 when we are down the chain or serving a canary, and for a
learned objective the chosen model's LCB / mean (how well its quality is measured).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import KW_ONLY, dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any, NamedTuple

from modelctl.core.catalog import CAPABILITIES, Arm, ModelSpec
from modelctl.core.quality import QualityEstimate
from modelctl.errors import InvalidInput, NoEligibleModel

if TYPE_CHECKING:
    from modelctl.core.classify import Classification

OBJECTIVES = ("policy", "cost", "quality", "value")
REFINEMENT_TYPES = ("fast", "quality", "lmm")
ROUTABLE_STATUSES = frozenset({"stable", "deprecated"})
# Expected answer length by complexity, for cost estimates before the call.
OUTPUT_TOKENS = {"simple": 300, "moderate": 800, "complex": 1500}
# The answer length a catalog's avg_completion_ms prior describes: a refiner's short answer takes
# its share of that time after the first token.
PRIOR_ANSWER_TOKENS = OUTPUT_TOKENS["moderate"]
TOKENS_PER_ATTACHMENT = 1000
DEPRECATION_WARNING = timedelta(days=30)
MAX_QUERY_CHARS = 100_000
REFINEMENT_BUDGET_MS = 500

_KNOWN_CAPABILITIES = frozenset(CAPABILITIES)
_PREFERRED, _DOWN_CHAIN = 1.0, 0.85


# Immutable records follow the rule in CONTRIBUTING.md: policies, provider states and rollout arms
# are read-only records that `modelctl route` defines at start-up, so they are NamedTuples
# (cheaper to define at import; `bench_routing.py --only cold` holds the start-up figure).
class SegmentPolicy(NamedTuple):
    name: str
    chain: tuple[str, ...]
    budget_seconds: float | None
    objective: str = "policy"
    min_quality_ratio: float = 0.95
    # Objective value: quality (0..1) worth one US dollar per 1,000 calls.
    cost_weight: float = 0.15
    # After the chain, any other catalog model with the needed capabilities may follow.
    fallback_to_capable: bool = False


class RefinementPolicy(NamedTuple):
    name: str
    chain: tuple[str, ...]
    budget_ms: int = REFINEMENT_BUDGET_MS
    # Enforced on measured p95 by the services layer (usage aggregates), not per decision.
    p95_budget_ms: int = 800


class ProviderState(NamedTuple):
    name: str
    key_present: bool
    cooldown_until: datetime | None = None
    key_env: str | None = None  # the variable to set, named in the drop reason


class RolloutArm(NamedTuple):
    candidate_id: str
    incumbent_id: str
    segments: frozenset[str]
    phase: str  # "shadow" | "canary"
    traffic_pct: float
    salt: str


@dataclass(frozen=True, slots=True)
class RoutingState:
    models: Mapping[str, ModelSpec]
    providers: Mapping[str, ProviderState]
    model_cooldowns: Mapping[str, datetime] = field(default_factory=dict)
    quality: Mapping[tuple[str, str], QualityEstimate] = field(default_factory=dict)
    policies: Mapping[str, SegmentPolicy] = field(default_factory=dict)
    refinement: Mapping[str, RefinementPolicy] = field(default_factory=dict)
    rollouts: tuple[RolloutArm, ...] = ()
    # Measured expected latency (ms) for models with enough samples; others use catalog priors.
    latency: Mapping[str, float] = field(default_factory=dict)
    # What decisions derive from this state alone, worked out once: the state never changes and a
    # batch or a server decides many queries against it.
    derived: _Derived = field(default_factory=lambda: _Derived(), init=False, repr=False, compare=False)


# Requests, candidates and decisions are built per query and never changed afterwards; they are not
# frozen, as CONTRIBUTING.md allows for records built on the batch hot path (`bench_routing.py
# --only throughput` measures it).
@dataclass(slots=True)
class RouteRequest:
    query: str
    _: KW_ONLY
    now: datetime
    attachments: tuple[str, ...] = ()
    segment: str | None = None
    required_capabilities: frozenset[str] = frozenset()
    max_cost_usd: float | None = None
    deadline_ms: int | None = None
    objective: str | None = None
    min_quality_ratio: float | None = None
    cost_weight: float | None = None
    request_id: str | None = None
    ignore_keys: bool = False
    max_query_chars: int = MAX_QUERY_CHARS  # the configured limit (policy.yaml), checked with the query


@dataclass(slots=True)
class Candidate:
    model_id: str
    provider: str | None  # None when the chain names a model the catalog does not have
    verdict: str  # "chosen" | "fallback" | "dropped"
    reason: str
    estimated_cost: float | None
    estimated_latency_ms: float | None
    quality: QualityEstimate | None

    def as_dict(self) -> dict[str, Any]:
        return {
            "model_id": self.model_id,
            "provider": self.provider,
            "verdict": self.verdict,
            "reason": self.reason,
            "estimated_cost": self.estimated_cost,
            "estimated_latency_ms": self.estimated_latency_ms,
            "quality": self.quality.as_dict() if self.quality else None,
        }


@dataclass(slots=True)
class Decision:
    model_id: str
    provider: str
    fallback_models: tuple[str, ...]
    confidence: float
    estimated_cost: float | None
    estimated_latency: float | None  # seconds
    query_type: str
    complexity: str
    budget_seconds: float
    segment: str
    reason: tuple[Candidate, ...]
    arm: Arm = "control"
    shadow_model: str | None = None
    warnings: tuple[str, ...] = ()
    # Refinement only: no refiner fits the budget (model_id is the fastest), send the query on unrefined.
    bypass_recommended: bool = False

    def as_dict(self) -> dict[str, Any]:
        return {
            "model_id": self.model_id,
            "provider": self.provider,
            "fallback_models": list(self.fallback_models),
            "confidence": self.confidence,
            "estimated_cost": self.estimated_cost,
            "estimated_latency": self.estimated_latency,
            "query_type": self.query_type,
            "complexity": self.complexity,
            "budget_seconds": self.budget_seconds,
            "segment": self.segment,
            "reason": [c.as_dict() for c in self.reason],
            "arm": self.arm,
            "shadow_model": self.shadow_model,
            "warnings": list(self.warnings),
            "bypass_recommended": self.bypass_recommended,
        }


# --- validation -------------------------------------------------------------------------------


def validate_query(query: str, *, max_chars: int = MAX_QUERY_CHARS) -> str:
    """Accept any Unicode text; refuse only nothing, too much, and what no provider can be sent:
    NUL and lone surrogates (which have no UTF-8 form)."""
    if not query or query.isspace():
        raise InvalidInput("the query is empty; pass the question text")
    if len(query) > max_chars:
        raise InvalidInput(
            f"the query is {len(query):,} characters; the limit is {max_chars:,} characters"
        )
    nul = query.find("\x00")
    if nul >= 0:
        raise InvalidInput(f"the query contains a NUL character (U+0000) at position {nul + 1}; remove it")
    if not query.isascii():
        try:
            query.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise InvalidInput(
                f"the query contains a lone surrogate (U+{ord(query[exc.start]):04X}) at position "
                f"{exc.start + 1}, which is not text; fix how the input was decoded"
            ) from None
    return query


def validate_capabilities(capabilities: Iterable[str]) -> frozenset[str]:
    caps = frozenset(capabilities)
    if not caps <= _KNOWN_CAPABILITIES:
        unknown = sorted(caps - _KNOWN_CAPABILITIES)
        raise InvalidInput(
            f"unknown capability {', '.join(map(repr, unknown))}; valid: {', '.join(CAPABILITIES)}"
        )
    return caps


def validate_objective(objective: str) -> str:
    if objective not in OBJECTIVES:
        raise InvalidInput(f"unknown objective {objective!r}; valid: {', '.join(OBJECTIVES)}")
    return objective


def latency_budget_s(segment_budget_s: float | None, classification: Classification) -> float:
    """The one budget rule (`classify` reports it, `route` and `run` keep it): the segment's
    configured budget, raised to the complexity's when the query asks for more (depth, length,
    several questions)."""
    complexity_s = float(classification.budget_seconds)
    return complexity_s if segment_budget_s is None else max(float(segment_budget_s), complexity_s)


def _validate_request(request: RouteRequest) -> None:
    validate_query(request.query, max_chars=request.max_query_chars)
    validate_capabilities(request.required_capabilities)
    if request.max_cost_usd is not None and not request.max_cost_usd >= 0:
        raise InvalidInput(f"max cost must be a number >= 0, got {request.max_cost_usd}")
    if request.deadline_ms is not None and not request.deadline_ms > 0:
        raise InvalidInput(
            f"the deadline must be a positive number of ms, got {request.deadline_ms}"
        )
    ratio = request.min_quality_ratio
    if ratio is not None and not 0 < ratio <= 1:
        raise InvalidInput(f"the minimum quality ratio must be in (0, 1], got {ratio}")
    weight = request.cost_weight
    if weight is not None and not 0 <= weight < float("inf"):
        raise InvalidInput(f"the cost weight must be a number >= 0, got {weight}")


# --- filtering --------------------------------------------------------------------------------


def _utc(moment: datetime) -> datetime:
    """The store hands back naive UTC timestamps from SQLite; compare everything as aware UTC."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def expected_latency_ms(spec: ModelSpec, latency: Mapping[str, float]) -> float | None:
    """Measured expected latency when the store has enough samples, else the catalog prior."""
    measured = latency.get(spec.model_id)
    if measured is not None:
        return measured
    if spec.avg_ttft_ms is None and spec.avg_completion_ms is None:
        return None
    return (spec.avg_ttft_ms or 0.0) + (spec.avg_completion_ms or 0.0)


def short_answer_latency_ms(spec: ModelSpec, latency: Mapping[str, float], tokens_out: int) -> float | None:
    """A refinement-sized answer: measured latency when the store has enough samples, else the
    prior time to first token plus `tokens_out` at the prior's speed."""
    measured = latency.get(spec.model_id)
    if measured is not None:
        return measured
    if spec.avg_ttft_ms is None or spec.avg_completion_ms is None:
        return None
    return spec.avg_ttft_ms + spec.avg_completion_ms * min(tokens_out, PRIOR_ANSWER_TOKENS) / PRIOR_ANSWER_TOKENS


@dataclass(slots=True, repr=False, eq=False)
class _Eligible:
    """A model that passed every filter, with its estimates for this request."""

    spec: ModelSpec
    cost: float | None  # USD
    latency_ms: float | None


@dataclass(slots=True, repr=False, eq=False)
class _Placed:
    """An eligible model at its place in the serving order, and why it sits there."""

    eligible: _Eligible
    why: str


# _Facts and _Need are read in every candidate check; nothing compares or prints them, so they
# skip the generated __eq__ and __repr__.
@dataclass(slots=True, repr=False, eq=False)
class _Facts:
    """What `_Need.check` needs of a model that no query changes, for one day and key mode
    (shared by every decision of the day: never changed after construction)."""

    spec: ModelSpec
    retired: str | None
    unroutable: str | None  # its status, unless a rollout may serve it as a candidate
    candidate: bool
    no_provider: str | None  # provider not configured, or its key is missing
    provider_until: datetime | None
    model_until: datetime | None
    latency: float | None
    deprecation_warning: str | None
    short_answer: Callable[[int], float | None]  # latency of an answer of so many tokens (refinement)


@dataclass(slots=True)
class _Plan:
    """A segment's candidates in policy order, the chain's own models, and its learned quality."""

    chain: tuple[str, ...]
    in_chain: frozenset[str]
    quality: dict[str, QualityEstimate]
    first: str | None  # the policy's first choice (a retired one's successor in its place)
    replacing: dict[str, str]  # successor -> the retired chain model whose place it takes


class _PlanKey(NamedTuple):
    policy: str
    segment: str
    capabilities: frozenset[str]
    learned: bool
    today: date  # retirements take effect by the day


@dataclass(slots=True)
class _Derived:
    """What a RoutingState's decisions derive from it alone: the models' facts for one day and key
    mode at a time, and each segment's plan."""

    facts_for: tuple[date, bool] | None = None
    facts: dict[str, _Facts] = field(default_factory=dict)
    plans: dict[_PlanKey, _Plan] = field(default_factory=dict)


def _facts_table(state: RoutingState, today: date, ignore_keys: bool) -> dict[str, _Facts]:
    """Every catalog model's facts, worked out once per day and key mode."""
    derived = state.derived
    if derived.facts_for != (today, ignore_keys):
        derived.facts = {mid: _model_facts(state, spec, today, ignore_keys) for mid, spec in state.models.items()}
        derived.facts_for = (today, ignore_keys)
    return derived.facts


def _retired(spec: ModelSpec, today: date) -> bool:
    return spec.deprecation_date is not None and spec.deprecation_date <= today


def _model_facts(state: RoutingState, spec: ModelSpec, today: date, ignore_keys: bool) -> _Facts:
    retired = None
    if _retired(spec, today):
        if spec.successor in state.models:
            successor = f"; its successor {spec.successor} takes its place"
        elif spec.successor:
            successor = f"; use {spec.successor} (not in the catalog: `modelctl discover` or `models import`)"
        else:
            successor = ""
        retired = f"retired: its deprecation date {spec.deprecation_date} has passed{successor}"
    unroutable = None
    if spec.status not in ROUTABLE_STATUSES:
        unroutable = f"status is {spec.status}; only stable and deprecated models are routed"
    no_provider, provider_until = None, None
    provider = state.providers.get(spec.provider)
    if provider is None:  # not in providers.yaml: nothing could call it, keys or not
        no_provider = f"provider {spec.provider} is not configured"
    else:
        if not provider.key_present and not ignore_keys:
            where = f": set {provider.key_env}" if provider.key_env else " in its environment variable"
            no_provider = f"provider {spec.provider} has no API key{where}"
        if provider.cooldown_until is not None:
            provider_until = _utc(provider.cooldown_until)
    model_until = state.model_cooldowns.get(spec.model_id)
    warning = None
    when = spec.deprecation_date
    if when is not None and when - today <= DEPRECATION_WARNING:
        successor = f"; move to {spec.successor}" if spec.successor else ""
        warning = f"{spec.model_id} is deprecated on {when} (in {(when - today).days} days){successor}"
    return _Facts(
        spec=spec,
        retired=retired,
        unroutable=unroutable,
        candidate=spec.status == "candidate",
        no_provider=no_provider,
        provider_until=provider_until,
        model_until=None if model_until is None else _utc(model_until),
        latency=expected_latency_ms(spec, state.latency),
        deprecation_warning=warning,
        short_answer=lambda tokens: short_answer_latency_ms(spec, state.latency, tokens),
    )


@dataclass(slots=True, repr=False, eq=False)
class _Need:
    """What a request asks of every candidate, computed once per decision."""

    facts: dict[str, _Facts]
    capabilities: frozenset[str]
    tokens_in: int
    tokens_out: int
    budget_ms: float
    max_cost: float | None
    now: datetime
    # Refinement: a short answer's latency counts, and a model with no latency figure cannot be
    # trusted with the promise of its budget.
    refinement: bool = False

    def check(self, facts: _Facts, rollout: bool) -> _Eligible | str:
        """The model with its estimates, or the reason (for a person) why it cannot serve.

        `rollout`: the model is a rollout's candidate, which may serve while in "candidate" status.
        """
        if facts.retired is not None:
            return facts.retired
        if facts.unroutable is not None and not (rollout and facts.candidate):
            return facts.unroutable
        spec = facts.spec
        if not self.capabilities <= spec.capabilities:
            return f"lacks capability {', '.join(sorted(self.capabilities - spec.capabilities))}"
        if spec.max_context_tokens is not None and spec.max_context_tokens < self.tokens_in:
            return (
                f"context window of {spec.max_context_tokens:,} tokens is smaller than the "
                f"estimated prompt of {self.tokens_in:,} tokens"
            )
        if facts.no_provider is not None:
            return facts.no_provider
        if facts.provider_until is not None and facts.provider_until > self.now:
            return f"provider {spec.provider} is cooling down until {facts.provider_until.isoformat()}"
        if facts.model_until is not None and facts.model_until > self.now:
            return f"model is cooling down until {facts.model_until.isoformat()}"
        latency = facts.short_answer(self.tokens_out) if self.refinement else facts.latency
        if latency is None:
            if self.refinement:
                return "no measured or prior latency, so it cannot promise the budget"
        elif latency > self.budget_ms:
            return (
                f"expected latency {latency:,.0f} ms exceeds the budget of {self.budget_ms:,.0f} ms"
            )
        tokens_out = self.tokens_out
        if spec.max_output_tokens is not None and spec.max_output_tokens < tokens_out:
            tokens_out = spec.max_output_tokens
        cost = spec.cost_usd(self.tokens_in, tokens_out)
        if self.max_cost is not None:
            if cost is None:
                return f"unpriced, and a max cost of ${self.max_cost:.4g} is set"
            if cost > self.max_cost:
                return f"estimated cost ${cost:.4g} exceeds the max cost of ${self.max_cost:.4g}"
        return _Eligible(spec, cost, latency)

    def split(
        self,
        chain: Iterable[str],
        *,
        quality: Mapping[str, QualityEstimate],
        rollout_id: str | None = None,
        role: str = "",
    ) -> tuple[list[_Eligible], list[Candidate]]:
        """Models that can serve (in chain order), and dropped ones with their reason."""
        kept: list[_Eligible] = []
        dropped: list[Candidate] = []
        table = self.facts
        for mid in chain:
            facts = table.get(mid)
            if facts is None:
                why = f"{role}not in the catalog" if mid == rollout_id else "not in the catalog"
                dropped.append(Candidate(mid, None, "dropped", why, None, None, None))
                continue
            result = self.check(facts, mid == rollout_id)
            if isinstance(result, str):
                why = f"{role}{result}" if mid == rollout_id else result
                dropped.append(
                    Candidate(mid, facts.spec.provider, "dropped", why, None, None, quality.get(mid))
                )
            else:
                kept.append(result)
        return kept, dropped


# --- ordering ---------------------------------------------------------------------------------


def _rank(
    kept: list[_Eligible],
    *,
    objective: str,
    ratio: float,
    weight: float,
    quality: Mapping[str, QualityEstimate],
    in_chain: frozenset[str],
    replacing: Mapping[str, str],
) -> tuple[list[_Placed], float | None, str | None]:
    """Kept models in serving order with why each sits there; the first's clarity; a warning.

    Objective cost is relative to each segment's best; objective value trades absolute quality
    against absolute cost (LCB - weight x $ per 1,000 calls), so spend goes where a dollar buys
    the most quality across segments.

    Models without quality data for the segment are never chosen by a learned objective; they
    follow the measured ones in chain order. Clarity is None for the policy order.
    """
    measured = [k for k in kept if k.spec.model_id in quality]
    if objective == "policy" or not measured:
        ranked = [_Placed(k, _chain_place(k.spec.model_id, in_chain, replacing)) for k in kept]
        if objective == "policy" or not kept:
            return ranked, None, None
        return ranked, None, (
            f"objective {objective}: no quality data for this segment among eligible models; "
            "using the policy chain order"
        )

    def lcb(k: _Eligible) -> float:
        return quality[k.spec.model_id].lcb

    best = max(lcb(k) for k in measured)
    inf = float("inf")

    # sorted() is stable and `measured` is in chain order, so ties keep the policy's preference.
    def by_cost(k: _Eligible) -> tuple[float, float]:
        return (inf if k.cost is None else k.cost, -lcb(k))

    def by_quality(k: _Eligible) -> tuple[float, float]:
        return (-lcb(k), inf if k.cost is None else k.cost)

    if objective == "cost":
        floor = ratio * best
        good = sorted([k for k in measured if lcb(k) >= floor], key=by_cost)
        poor = sorted([k for k in measured if lcb(k) < floor], key=by_quality)
        within = f"quality LCB within {ratio:g} x the best ({best:.3f})"
        ranked = [_Placed(k, f"costlier, {within}") for k in good]
        ranked[0].why = f"cheapest with {within}"
        below = f"quality LCB below {ratio:g} x the best ({best:.3f})"
        ranked += [_Placed(k, below) for k in poor]
    elif objective == "value":

        def value(k: _Eligible) -> float:
            return lcb(k) - (inf if k.cost is None else weight * k.cost * 1000)

        ranked = [_Placed(k, f"lower quality LCB - {weight:g} x $/1k calls ({value(k):.3f})")
                  for k in sorted(measured, key=value, reverse=True)]
        ranked[0].why = f"best quality LCB - {weight:g} x $/1k calls ({value(ranked[0].eligible):.3f})"
    else:
        ranked = [_Placed(k, "lower quality LCB") for k in sorted(measured, key=by_quality)]
        ranked[0].why = f"best quality LCB ({best:.3f})"
    ranked += [
        _Placed(k, "no quality data for this segment; a fallback in chain order")
        for k in kept
        if k.spec.model_id not in quality
    ]
    top = quality[ranked[0].eligible.spec.model_id]
    return ranked, (top.lcb / top.mean if top.mean > 0 else 0.0), None


def _chain_place(model_id: str, in_chain: frozenset[str], replacing: Mapping[str, str]) -> str:
    if model_id in replacing:
        return f"next in the policy chain, in place of retired {replacing[model_id]}"
    if model_id in in_chain:
        return "next in the policy chain"
    return "has the needed capabilities (after the policy chain)"


def _arm_hash(salt: str, request_id: str) -> float:
    """Uniform in [0, 1), stable across processes for the same salt and request id."""
    import hashlib  # only requests under a rollout pay for loading OpenSSL

    digest = hashlib.blake2b((salt + request_id).encode("utf-8", "surrogatepass"), digest_size=8)
    return int.from_bytes(digest.digest(), "big") / 2**64


def _rollout_for(
    request: RouteRequest, *, segment: str, rollouts: Iterable[RolloutArm]
) -> RolloutArm | None:
    """The rollout whose traffic share this request falls in, if any (first rollout per segment)."""
    if not request.request_id:
        return None
    for arm in rollouts:
        if segment in arm.segments:
            hit = _arm_hash(arm.salt, request.request_id) < arm.traffic_pct / 100
            return arm if hit else None
    return None


def _deprecation_warnings(ranked: list[_Placed], need: _Need) -> list[str]:
    out = []
    for placed in ranked:
        warning = need.facts[placed.eligible.spec.model_id].deprecation_warning
        if warning is not None:
            out.append(warning)
    return out


def _trace(
    ranked: list[_Placed],
    *,
    dropped: list[Candidate],
    quality: Mapping[str, QualityEstimate],
) -> tuple[Candidate, ...]:
    """Serving order first (chosen, then fallbacks), then every dropped model."""
    trace = [
        Candidate(
            placed.eligible.spec.model_id,
            placed.eligible.spec.provider,
            "fallback" if i else "chosen",
            placed.why,
            placed.eligible.cost,
            placed.eligible.latency_ms,
            quality.get(placed.eligible.spec.model_id),
        )
        for i, placed in enumerate(ranked)
    ]
    trace.extend(dropped)
    return tuple(trace)


def _no_eligible(what: str, dropped: list[Candidate]) -> NoEligibleModel:
    if not dropped:
        return NoEligibleModel(f"no model can serve {what}: its policy lists no models")
    why = "; ".join(f"{c.model_id}: {c.reason}" for c in dropped)
    return NoEligibleModel(
        f"no model can serve {what}; all {len(dropped)} candidates were dropped: {why}",
        trace=list(dropped),
    )


_MAX_PLANS = 4096  # distinct (policy, segment, capabilities) a long-lived state remembers


def _candidates(
    state: RoutingState,
    policy: SegmentPolicy,
    *,
    segment: str,
    capabilities: frozenset[str],
    learned: bool,
    today: date,
) -> _Plan:
    """The same for every query of the segment on a day, so worked out once per state and day.

    A retired chain model's catalog successor takes its place (right after it: the retired model
    stays in the chain to be dropped, with its reason, in the trace)."""
    plans = state.derived.plans
    key = _PlanKey(policy.name, segment, capabilities, learned, today)
    plan = plans.get(key)
    if plan is not None:
        return plan
    models = state.models
    replacing: dict[str, str] = {}
    listed: list[str] = []
    for mid in policy.chain:
        spec = models.get(mid)
        successor = spec.successor if spec is not None and _retired(spec, today) else None
        if successor is not None and successor in models:
            replacing.setdefault(successor, mid)
            listed += [mid, successor]
        else:
            listed.append(mid)
    chain = list(dict.fromkeys(listed))
    in_chain = frozenset(chain)
    first = next((m for m in chain if m not in replacing.values()), None)
    if policy.fallback_to_capable:
        chain += [
            mid
            for mid in sorted(models)
            if mid not in in_chain and capabilities <= models[mid].capabilities
        ]
    quality = {mid: q for (seg, mid), q in state.quality.items() if seg == segment and q.n > 0}
    if learned:
        # A learned objective weighs every model measured on this segment, not only the chain's:
        # a custom segment (say, a task name) is defined by its evidence, not by a chain.
        chain += [mid for mid in sorted(quality) if mid not in set(chain)]
    if len(plans) >= _MAX_PLANS:
        plans.clear()
    plan = plans[key] = _Plan(tuple(chain), in_chain, quality, first, replacing)
    return plan


# --- entry points -----------------------------------------------------------------------------


def route(request: RouteRequest, classification: Classification, state: RoutingState) -> Decision:
    """Choose the serving model, fallbacks and rollout arm; NoEligibleModel when nothing fits."""
    return _route(request, classification, state)[0]


MAX_REMEMBERED = 16_384  # decisions a batch keeps (a few KB each)


def route_many(state: RoutingState) -> Callable[[RouteRequest, Classification], dict[str, Any]]:
    """`route(...).as_dict()` for a batch of requests against one state.

    A decision depends on the query's text only through its classification and its length in
    tokens, so requests that agree on those, on their options and on their rollout arm get the
    same decision, but for its confidence, which scales the classification's own. Each distinct
    decision is made once and its dict shared; the caller must not change the dicts it gets.
    """
    memo: dict[tuple[Any, ...], tuple[dict[str, Any], float]] = {}

    def decide(request: RouteRequest, classification: Classification) -> dict[str, Any]:
        _validate_request(request)
        query_type = classification.query_type
        segment = request.segment or query_type
        arm = _rollout_for(request, segment=segment, rollouts=state.rollouts)
        key = (segment, query_type, classification.complexity, classification.budget_seconds,
               _tokens_in(request), bool(request.attachments), request.required_capabilities,
               request.max_cost_usd, request.deadline_ms, request.objective, request.min_quality_ratio,
               request.cost_weight, request.ignore_keys, request.now, arm)
        known = memo.get(key)
        if known is None:
            decision, clarity = _route(request, classification, state)
            if len(memo) >= MAX_REMEMBERED:
                memo.clear()
            known = memo[key] = (decision.as_dict(), clarity)
        answer, clarity = known
        answer = dict(answer)
        answer["confidence"] = round(classification.confidence * clarity, 3)
        return answer

    return decide


def _tokens_in(request: RouteRequest) -> int:
    """The prompt's estimated size: what context windows and prices are checked against."""
    return len(request.query) // 4 + TOKENS_PER_ATTACHMENT * len(request.attachments)


def _route(request: RouteRequest, classification: Classification, state: RoutingState) -> tuple[Decision, float]:
    """The decision, and the clarity of its choice (its confidence over the classification's)."""
    _validate_request(request)
    warnings: list[str] = []
    query_type = classification.query_type
    segment = request.segment or query_type
    policy = state.policies.get(segment)
    if policy is None:
        policy = state.policies.get(query_type)
        if policy is None:
            raise NoEligibleModel(
                f"no routing policy for segment {segment!r} or query type {query_type!r}; "
                "add one to the routing policy"
            )
        warnings.append(f"no routing policy for segment {segment!r}; using the {query_type} policy")
    objective = validate_objective(request.objective or policy.objective)
    ratio = request.min_quality_ratio or policy.min_quality_ratio
    weight = policy.cost_weight if request.cost_weight is None else request.cost_weight
    if request.deadline_ms is not None:
        budget_s = request.deadline_ms / 1000
    else:
        budget_s = latency_budget_s(policy.budget_seconds, classification)
    capabilities = request.required_capabilities | {"text_generation"}
    if request.attachments or query_type == "multimedia":
        capabilities = capabilities | {"multimodal"}
    now = _utc(request.now)
    need = _Need(
        facts=_facts_table(state, now.date(), request.ignore_keys),
        capabilities=capabilities,
        tokens_in=_tokens_in(request),
        tokens_out=OUTPUT_TOKENS[classification.complexity],
        budget_ms=budget_s * 1000,
        max_cost=request.max_cost_usd,
        now=now,
    )

    plan = _candidates(
        state, policy, segment=segment, capabilities=capabilities, learned=objective != "policy",
        today=now.date(),
    )
    chain, quality = plan.chain, plan.quality
    arm = _rollout_for(request, segment=segment, rollouts=state.rollouts)
    canary = arm if arm is not None and arm.phase == "canary" else None
    if canary is not None:
        chain = (canary.candidate_id, *(m for m in chain if m != canary.candidate_id))

    kept, dropped = need.split(
        chain,
        quality=quality,
        rollout_id=canary.candidate_id if canary else None,
        role="canary candidate: ",
    )
    if not kept:
        raise _no_eligible(f"segment {segment!r}", dropped)

    served_arm: Arm = "control"
    if canary is not None and kept[0].spec.model_id == canary.candidate_id:
        ranked, _, warning = _rank(
            kept[1:], objective=objective, ratio=ratio, weight=weight, quality=quality, in_chain=plan.in_chain,
            replacing=plan.replacing,
        )
        ranked.insert(
            0,
            _Placed(
                kept[0],
                f"canary arm of rollout {canary.candidate_id} vs {canary.incumbent_id} "
                f"({canary.traffic_pct:g}% of traffic)",
            ),
        )
        served_arm, clarity = "canary", _DOWN_CHAIN
    else:
        if canary is not None:
            warnings.append(f"canary candidate {canary.candidate_id} cannot serve; using control")
        ranked, learned_clarity, warning = _rank(
            kept, objective=objective, ratio=ratio, weight=weight, quality=quality, in_chain=plan.in_chain,
            replacing=plan.replacing,
        )
        if learned_clarity is not None:
            clarity = learned_clarity
        elif ranked[0].eligible.spec.model_id == plan.first:
            clarity, ranked[0].why = _PREFERRED, f"first choice of the {policy.name} policy"
            if plan.first in plan.replacing:
                ranked[0].why += f", in place of retired {plan.replacing[plan.first]}"
        else:
            clarity, ranked[0].why = _DOWN_CHAIN, f"first eligible model of the {policy.name} policy"
    if warning:
        warnings.append(warning)

    chosen = ranked[0].eligible
    shadow_model = None
    if arm is not None and arm.phase == "shadow" and arm.candidate_id != chosen.spec.model_id:
        shadow_kept, shadow_dropped = need.split(
            (arm.candidate_id,),
            quality=quality,
            rollout_id=arm.candidate_id,
            role="shadow candidate: ",
        )
        if shadow_kept:
            shadow_model = arm.candidate_id
        dropped.extend(shadow_dropped)

    warnings.extend(_deprecation_warnings(ranked, need))
    return Decision(
        model_id=chosen.spec.model_id,
        provider=chosen.spec.provider,
        fallback_models=tuple([placed.eligible.spec.model_id for placed in ranked[1:]]),
        confidence=round(classification.confidence * clarity, 3),
        estimated_cost=chosen.cost,
        estimated_latency=None if chosen.latency_ms is None else chosen.latency_ms / 1000,
        query_type=query_type,
        complexity=classification.complexity,
        budget_seconds=budget_s,
        segment=segment,
        reason=_trace(ranked, dropped=dropped, quality=quality),
        arm=served_arm,
        shadow_model=shadow_model,
        warnings=tuple(warnings),
    ), clarity


def route_refinement(request: RouteRequest, state: RoutingState, refinement_type: str) -> Decision:
    """Pick a refiner that answers within its budget; when none can, name the fastest anyway and
    recommend bypassing refinement.

    A refined query is about as long as the original, so the output estimate equals the input.
    Without a refinement policy for the type, every catalog refiner is tried, fastest first.
    """
    _validate_request(request)
    if refinement_type not in REFINEMENT_TYPES:
        raise InvalidInput(
            f"unknown refinement type {refinement_type!r}; valid: {', '.join(REFINEMENT_TYPES)}"
        )
    warnings: list[str] = []
    tokens_in = _tokens_in(request)
    policy = state.refinement.get(refinement_type)
    if policy is not None:
        chain = list(dict.fromkeys(policy.chain))
        budget_ms = float(request.deadline_ms or policy.budget_ms)
    else:
        inf = float("inf")
        refiners = sorted(
            (m for m in state.models.values() if m.is_refiner),
            key=lambda m: (short_answer_latency_ms(m, state.latency, tokens_in) or inf, m.model_id),
        )
        chain = [m.model_id for m in refiners]
        budget_ms = float(request.deadline_ms or REFINEMENT_BUDGET_MS)
        warnings.append(
            f"no {refinement_type} refinement policy; trying catalog refiners, fastest first"
        )
    now = _utc(request.now)
    need = _Need(
        facts=_facts_table(state, now.date(), request.ignore_keys),
        capabilities=request.required_capabilities | {"text_generation"},
        tokens_in=tokens_in,
        tokens_out=tokens_in,
        budget_ms=budget_ms,
        max_cost=request.max_cost_usd,
        now=now,
        refinement=True,
    )
    kept, dropped = need.split(chain, quality={})
    bypass = not kept
    if bypass:
        # Nothing keeps the budget: name the fastest refiner that fails on time alone, so a client
        # that refines anyway knows which to call.
        need.budget_ms = float("inf")
        usable, _ = need.split(chain, quality={})
        if not usable:
            raise _no_eligible(f"refinement {refinement_type!r}", dropped)
        fastest = min(usable, key=lambda k: k.latency_ms if k.latency_ms is not None else float("inf"))
        dropped = [c for c in dropped if c.model_id != fastest.spec.model_id]
        ranked = [_Placed(fastest, f"fastest refiner, but over the {budget_ms:,.0f} ms budget; bypass recommended")]
        warnings.append(
            f"no refiner can answer within {budget_ms:,.0f} ms; the fastest is {fastest.spec.model_id} "
            f"(expected {fastest.latency_ms:,.0f} ms): bypass refinement and send the query as it is"
        )
    else:
        ranked = [_Placed(k, "next refiner in order") for k in kept]
        ranked[0].why = "first refiner in order that fits the budget"
    warnings.extend(_deprecation_warnings(ranked, need))
    chosen = ranked[0].eligible
    return Decision(
        model_id=chosen.spec.model_id,
        provider=chosen.spec.provider,
        fallback_models=tuple([placed.eligible.spec.model_id for placed in ranked[1:]]),
        confidence=0.0 if bypass else _PREFERRED if chain[0] == chosen.spec.model_id else _DOWN_CHAIN,
        estimated_cost=chosen.cost,
        estimated_latency=None if chosen.latency_ms is None else chosen.latency_ms / 1000,
        query_type="refinement",
        complexity="simple",
        budget_seconds=budget_ms / 1000,
        segment=f"refinement:{refinement_type}",
        reason=_trace(ranked, dropped=dropped, quality={}),
        warnings=tuple(warnings),
        bypass_recommended=bypass,
    )
