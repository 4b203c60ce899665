"""Simulated rollouts: do the gates promote good candidates and stop bad ones, and how fast?

Run: nice python tests/benchmarks/rollout_sim.py [--per-case N] [--rates 100 500 2000] [--workers W]
     nice python tests/benchmarks/rollout_sim.py --real [--real-per-case N] [--real-rph R ...]

Each rollout has a known truth about the candidate against a 95%-successful incumbent (the issue's
list: equal; worse by 0.5-10 points in success or in quality; worse only in a segment carrying 5%
of the traffic; latency x1.1-x1.3, a slow tail, identical Pareto-tailed latency). A judge that
agrees with the truth 80% of the time compares shadow pairs and grades canary answers.

The default mode is the pure core: time moves in 15-minute ticks, each tick adds one window of
synthetic usage per segment (Poisson calls; successes; latencies as core.histogram buckets; costs
as moments; the judge's 0/1 grades of canary and control answers as quality moments; its verdicts
on shadow pairs), and the real gates (core.gates: evaluate_gates, judged_quality, each phase's
level from config) and core.rollout.decide say what to do, as `upgrade tick` would. That is fast
enough for the >= 100 rollouts per truth the 1% targets need.

`--real` drives the shipped code instead: usage rows go into a real SQLite store, requests are split
by the routing `run` uses, and each 15-minute step sets MODELCTL_NOW and calls the `upgrade tick`
service, which reads the rows back in SQL and writes its decisions. It re-reads every window each
tick, so it runs few rollouts per truth: it shows the real path agrees with the pure core.

Both read the shipped config/upgrade.yaml, plus the judge settings its commented `judge:` block
shows when it has none (judge.py's defaults: JudgeSettings).
"""

from __future__ import annotations

import argparse
import math
import random
import statistics
import sys
import time
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from functools import cache
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from modelctl.config import JudgeSettings, load_upgrade
from modelctl.core import histogram
from modelctl.core.gates import (
    ArmSample,
    LatencyHistogram,
    Moments,
    VerdictCounts,
    evaluate_gates,
    judged_quality,
)
from modelctl.core.rollout import RolloutConfig, RolloutView, SegmentEvidence, decide

UPGRADE = load_upgrade()  # the shipped config/upgrade.yaml
DEFAULT_ROLLOUT_CONFIG = UPGRADE.rollout_config()
JUDGE_SETTINGS = UPGRADE.judge or JudgeSettings(model="sim-judge", daily_budget_usd=1e9)

BASE_SUCCESS = 0.95
LATENCY_MEDIAN_MS = 900.0
LATENCY_SIGMA = 0.5  # log-scale spread: p95 is about 2.3x the median, as for chat completions
PARETO_SCALE_MS, PARETO_SHAPE = 400.0, 2.5
TAIL_FACTOR = 4.0
COST_MEDIAN_USD = 0.002
COST_SIGMA = 0.6
TICK = timedelta(minutes=15)
START = datetime(2026, 1, 5, tzinfo=UTC)
# A request's quality is "good" (1) or not (0): the candidate's P(good) is the incumbent's plus
# quality_delta, so P(candidate's answer loses a pair) - P(it wins) is exactly -quality_delta.
BASE_GOOD = 0.8
JUDGE_AGREEMENT = 0.8  # the judge reports the true verdict / grade this often, else another one
JUDGE = {"model": "sim-judge", "shadow_share": JUDGE_SETTINGS.shadow_share,
         "canary_share": JUDGE_SETTINGS.canary_share, "daily_budget_usd": 1e9,
         "margin": JUDGE_SETTINGS.margin, "timeout_s": 30}
QUERY = "How do I fix a segfault in my C code?"
SMALL_SEGMENT_SHARE = 0.05


@dataclass(frozen=True)
class Case:
    """A truth about the candidate against the incumbent, and which target it falls under."""

    name: str
    success_delta: float = 0.0
    quality_delta: float = 0.0
    latency_factor: float = 1.0
    tail_share: float = 0.0  # share of the candidate's calls TAIL_FACTOR x slower
    pareto: bool = False  # both arms' latencies Pareto-tailed
    small_segment_only: bool = False  # the truth holds only in a segment carrying 5% of traffic
    kind: str = "equal"  # "equal" | "worse" (than a margin) | "near" (within or at a margin)


def cases(gates) -> list[Case]:
    """The issue's truths; "worse" is beyond the configured margin, "near" within or at it.

    Quality truths are on the true 0/1 quality; the judge sees a 2-point drop as 1.2 points in its
    grades (2 x (0.8 - 0.2)) and 1.4 points in its pairwise verdicts, so "worse" for quality means
    the grades' drop (0.6 x the truth) is beyond gates.quality_margin.
    """
    observed = 2 * JUDGE_AGREEMENT - 1
    result = [Case("equal")]
    for points in (0.5, 1, 2, 5, 10):
        d = points / 100
        result.append(Case(f"success -{points:g} pt", success_delta=-d,
                           kind="worse" if d > gates.success_margin + 1e-9 else "near"))
    for points in (0.5, 1, 2, 5, 10):
        d = points / 100
        result.append(Case(f"quality -{points:g} pt (judge)", quality_delta=-d,
                           kind="worse" if observed * d > gates.quality_margin + 1e-9 else "near"))
    result += [
        Case("success -10 pt in a 5% segment", success_delta=-0.10, small_segment_only=True, kind="worse"),
        Case("quality -10 pt in a 5% segment", quality_delta=-0.10, small_segment_only=True, kind="worse"),
        Case("latency x1.1", latency_factor=1.1, kind="near"),
        Case("latency x1.2", latency_factor=1.2, kind="near"),
        Case("latency x1.3", latency_factor=1.3, kind="worse"),
        Case("tail: 7% of calls x4", tail_share=0.07, kind="worse"),
        Case("identical Pareto latency", pareto=True, kind="equal"),
    ]
    return result


# --------------------------------------------------------------------------- the pure core


def _poisson(rng: random.Random, mean: float) -> int:
    """Exact by inversion for small means, normal approximation above 10 (plenty for counts)."""
    if mean <= 0:
        return 0
    if mean > 10:
        return max(0, round(rng.gauss(mean, math.sqrt(mean))))
    term = math.exp(-mean)
    cumulative, k, u = term, 0, rng.random()
    while u > cumulative:
        k += 1
        term *= mean / k
        cumulative += term
    return k


def _binomial(rng: random.Random, n: int, p: float) -> int:
    if n < 50:
        return sum(rng.random() < p for _ in range(n))
    return min(n, max(0, round(rng.gauss(n * p, math.sqrt(n * p * (1 - p))))))


@dataclass(frozen=True)
class LatencyLaw:
    """A latency distribution: log-normal (median x factor) with a share of calls TAIL_FACTOR x slower,
    or Pareto."""

    factor: float = 1.0
    tail_share: float = 0.0
    pareto: bool = False

    def cdf_log(self, log_ms: float) -> float:
        if self.pareto:
            return 0.0 if log_ms <= math.log(PARETO_SCALE_MS) else 1 - math.exp(
                PARETO_SHAPE * (math.log(PARETO_SCALE_MS) - log_ms))
        mu = math.log(LATENCY_MEDIAN_MS * self.factor)
        body = statistics.NormalDist(mu, LATENCY_SIGMA).cdf(log_ms)
        if not self.tail_share:
            return body
        slow = statistics.NormalDist(mu + math.log(TAIL_FACTOR), LATENCY_SIGMA).cdf(log_ms)
        return (1 - self.tail_share) * body + self.tail_share * slow


def law_of(case: Case, *, candidate: bool) -> LatencyLaw:
    if case.pareto:
        return LatencyLaw(pareto=True)
    if not candidate:
        return LatencyLaw()
    return LatencyLaw(case.latency_factor, case.tail_share)


@cache
def _bucket_plan(law: LatencyLaw, expected_ok: float) -> tuple[list, list, list, float]:
    """Buckets expecting more than 3 calls per window, drawn one by one; the rest pooled.

    Pooling Poisson counts and splitting them again are exact, so the pool is drawn as one Poisson
    count spread over its buckets by their probabilities: far fewer draws than bucket by bucket.
    A big bucket's count is a rounded normal draw; the gates only see sums of hundreds of windows,
    where that approximation vanishes.
    """
    log_g = math.log(histogram.GROWTH)
    first = 1
    while law.cdf_log(first * log_g) < 1e-7:
        first += 8
    first = max(1, first - 8)
    big, small, small_weights = [], [], []
    index, below = first, law.cdf_log((first - 1) * log_g)
    while below < 1 - 1e-7:
        upper = law.cdf_log(index * log_g)
        mean = expected_ok * (upper - below)
        if mean > 3:
            big.append((index, mean, math.sqrt(mean)))
        elif mean > 0:
            small.append(index)
            small_weights.append(mean)
        index, below = index + 1, upper
    cumulative = [sum(small_weights[: i + 1]) for i in range(len(small_weights))]
    return big, small, cumulative, sum(small_weights)


# Moments of the log-normal cost per call: mean, variance, and the relative spread of a variance estimate.
_COST_MEAN = COST_MEDIAN_USD * math.exp(COST_SIGMA**2 / 2)
_COST_VAR = (math.exp(COST_SIGMA**2) - 1) * _COST_MEAN**2
_COST_KURTOSIS = sum(c * math.exp(k * COST_SIGMA**2) for c, k in ((1, 4), (2, 3), (3, 2))) - 3


def arm_usage(rng: random.Random, *, expected_calls: float, success_rate: float, law: LatencyLaw,
              good_rate: float, scored_share: float) -> ArmSample:
    """One arm's calls in one window, drawn as a Poisson process (calls arrive at random).

    Successful calls are split over latency buckets; cost per call is log-normal and enters as its
    window mean and variance (every simulated candidate costs what the incumbent costs); a
    `scored_share` of successful calls get the judge's 0/1 grade as their quality.
    """
    big, small, small_cum, small_mean = _bucket_plan(law, expected_calls * success_rate)
    counts = Counter(rng.choices(small, cum_weights=small_cum, k=_poisson(rng, small_mean))) if small else Counter()
    gauss = rng.gauss
    for index, mean, sd in big:
        counts[index] = max(0, round(gauss(mean, sd)))
    successes = sum(counts.values())
    calls = successes + _poisson(rng, expected_calls * (1 - success_rate))
    cost = Moments()
    if successes:
        mean = rng.gauss(_COST_MEAN, math.sqrt(_COST_VAR / successes))
        spread = math.sqrt((_COST_KURTOSIS - 1) / successes)
        variance = _COST_VAR * max(0.05, rng.gauss(1.0, spread))
        cost = Moments(successes, mean * successes, (successes - 1) * variance + successes * mean * mean)
    quality = Moments()
    if scored_share:
        scored = _binomial(rng, successes, scored_share)
        graded_good = good_rate * JUDGE_AGREEMENT + (1 - good_rate) * (1 - JUDGE_AGREEMENT)
        ones = _binomial(rng, scored, graded_good)
        quality = Moments(scored, float(ones), float(ones))
    return ArmSample(calls, successes, LatencyHistogram.from_counts(counts), cost, quality)


def judged_pairs(rng: random.Random, *, expected_pairs: float, good_incumbent: float,
                 good_candidate: float) -> VerdictCounts:
    """The judge's verdicts on a window's judged shadow pairs: true win / tie / loss by the two
    answers' qualities, reported right JUDGE_AGREEMENT of the time, else as one of the other two."""
    win = (1 - good_incumbent) * good_candidate
    loss = good_incumbent * (1 - good_candidate)
    tie = 1 - win - loss
    other = (1 - JUDGE_AGREEMENT) / 2

    def reported(p: float) -> float:
        return JUDGE_AGREEMENT * p + other * (1 - p)

    return VerdictCounts(*(_poisson(rng, expected_pairs * reported(p)) for p in (win, tie, loss)))


@dataclass(frozen=True)
class Segment:
    name: str
    share: float  # of the rollout's requests
    affected: bool  # the truth holds here


def segments_of(case: Case) -> tuple[Segment, ...]:
    if case.small_segment_only:
        return Segment("main", 1 - SMALL_SEGMENT_SHARE, False), Segment("small", SMALL_SEGMENT_SHARE, True)
    return (Segment("main", 1.0, True),)


def window(rng: random.Random, case: Case, segment: Segment, *, phase: str, traffic_pct: float,
           requests_per_hour: float, judge: JudgeSettings | None) -> tuple[ArmSample, ArmSample, VerdictCounts]:
    """(incumbent, candidate, judged shadow pairs) of one segment in one 15-minute window.

    Shadow duplicates its share of requests to the candidate, so the incumbent still serves all of
    them; canary moves the share to the candidate. Canary and control answers are graded in canary.
    """
    requests = requests_per_hour * segment.share * TICK.total_seconds() / 3600
    share = traffic_pct / 100
    bad = segment.affected
    success_t = BASE_SUCCESS + (case.success_delta if bad else 0.0)
    good_t = BASE_GOOD + (case.quality_delta if bad else 0.0)
    scored = judge.canary_share if judge and phase == "canary" else 0.0
    control = arm_usage(rng, expected_calls=requests if phase == "shadow" else requests * (1 - share),
                        success_rate=BASE_SUCCESS, law=law_of(case, candidate=False), good_rate=BASE_GOOD,
                        scored_share=scored)
    candidate = arm_usage(rng, expected_calls=requests * share, success_rate=success_t,
                          law=law_of(case, candidate=bad), good_rate=good_t, scored_share=scored)
    verdicts = VerdictCounts()
    if judge and phase == "shadow":
        pairs = requests * share * BASE_SUCCESS * success_t * judge.shadow_share
        verdicts = judged_pairs(rng, expected_pairs=pairs, good_incumbent=BASE_GOOD, good_candidate=good_t)
    return control, candidate, verdicts


@dataclass(frozen=True)
class Outcome:
    case: Case
    final_phase: str  # full, rolled_back, rejected, or active (undecided at the simulation's end)
    hours: float
    ended_in: str  # the phase the decision was taken in


def run_core(case: Case, seed: str, config: RolloutConfig, judge: JudgeSettings | None,
             requests_per_hour: float) -> Outcome:
    """One rollout through the real gates and `decide`, tick by tick, until it leaves the active phases."""
    rng = random.Random(seed)
    view = RolloutView("candidate", "incumbent", "discovered", 0, START)
    now = START
    segments = segments_of(case)
    decision = decide(rollout=view, evidence=(), now=now, config=config)
    while True:
        if decision.action in ("rollback", "reject", "hold") or decision.next_phase == "full":
            final = "active" if decision.action == "hold" else decision.next_phase
            return Outcome(case, final, (now - START) / timedelta(hours=1), view.phase)
        if decision.action == "advance":
            view = replace(view, phase=decision.next_phase, traffic_pct=decision.next_traffic_pct,
                           phase_started_at=now)
            gates = config.gates_for(view.phase)
            totals = {s.name: (ArmSample(), ArmSample(), VerdictCounts()) for s in segments}
        now += TICK
        evidence = []
        for segment in segments:
            control, candidate, verdicts = window(rng, case, segment, phase=view.phase,
                                                  traffic_pct=view.traffic_pct,
                                                  requests_per_hour=requests_per_hour, judge=judge)
            c, t, v = totals[segment.name]
            c, t = c + control, t + candidate
            v = VerdictCounts(v.wins + verdicts.wins, v.ties + verdicts.ties, v.losses + verdicts.losses)
            totals[segment.name] = (c, t, v)
            results = evaluate_gates(control=c, candidate=t, config=gates)
            if judge and view.phase == "shadow":
                results.append(judged_quality(v, margin=judge.margin, config=gates))
            evidence.append(SegmentEvidence(segment.name, tuple(results), (c.calls, t.calls)))
        decision = decide(rollout=view, evidence=evidence, now=now, config=config)


Job = tuple[Case, int, int, RolloutConfig, "JudgeSettings | None", float]


def _simulate_case(job: Job) -> list[Outcome]:
    case, per_case, seed, config, judge, requests_per_hour = job
    # a string seed: hash() of a str changes from process to process
    return [run_core(case, f"{seed}-{case.name}-{requests_per_hour:g}-{i}", config, judge, requests_per_hour)
            for i in range(per_case)]


def simulate(jobs: list[Job], *, workers: int) -> list[Outcome]:
    """Results do not depend on `workers`: each rollout draws from its own seed."""
    with ProcessPoolExecutor(max_workers=workers) as pool:
        return [o for part in pool.map(_simulate_case, jobs) for o in part]


def _pct(part: int, whole: int) -> str:
    return f"{100 * part / whole:5.1f}%" if whole else "   n/a"


def wilson(k: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """95% Wilson score interval of a binomial proportion."""
    if not n:
        return 0.0, 1.0
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def _check(case: Case, rph: float, count: Counter, n: int) -> str:
    """The issue's targets that apply to this row: worse -> full <= 1% (any rate); at 2,000 req/h
    equal -> full >= 90% and rolled back <= 1%."""
    if case.kind == "worse":
        return "ok" if count["full"] <= 0.01 * n else "MISS full>1%"
    if case.kind == "equal" and rph >= 2000:
        misses = []
        if count["full"] < 0.9 * n:
            misses.append("full<90%")
        if count["rolled_back"] > 0.01 * n:
            misses.append("rolled back>1%")
        return "MISS " + ",".join(misses) if misses else "ok"
    return ""


def table(results: dict[float, list[Outcome]], all_cases: list[Case]) -> list[str]:
    """truth x rate: n, full, rolled back, rejected, still active, median hours to the decision, target."""
    lines = [f"{'truth':<32} {'kind':<6} {'req/h':>6} {'n':>4} {'full':>7} {'rolled back':>12} {'rejected':>9} "
             f"{'active':>7} {'median h':>9}  target"]
    for case in all_cases:
        for rph, outcomes in results.items():
            mine = [o for o in outcomes if o.case == case]
            if not mine:
                continue
            n = len(mine)
            count = Counter(o.final_phase for o in mine)
            lines.append(f"{case.name:<32} {case.kind:<6} {rph:>6,.0f} {n:>4} {_pct(count['full'], n):>7} "
                         f"{_pct(count['rolled_back'], n):>12} {_pct(count['rejected'], n):>9} "
                         f"{_pct(count['active'], n):>7} {statistics.median(o.hours for o in mine):9.1f}  "
                         f"{_check(case, rph, count, n)}".rstrip())
    return lines


def pooled(results: dict[float, list[Outcome]]) -> list[str]:
    """The targets over all truths of a kind, with 95% Wilson intervals: what n rollouts can claim."""
    lines = []
    for rph, outcomes in results.items():
        for kind, phase in (("worse", "full"), ("equal", "full"), ("equal", "rolled_back")):
            mine = [o for o in outcomes if o.case.kind == kind]
            k = sum(o.final_phase == phase for o in mine)
            low, high = wilson(k, len(mine))
            lines.append(f"{rph:>6,.0f} req/h: {kind} -> {phase}: {k}/{len(mine)} "
                         f"({_pct(k, len(mine)).strip()}, 95% CI {100 * low:.2f}-{100 * high:.2f}%)")
    return lines


def estimated_median_hours(requests_per_hour: float, config: RolloutConfig = DEFAULT_ROLLOUT_CONFIG) -> float:
    """core.planning's median time to full for an equal candidate on one segment at this rate: the
    sum of its shadow and canary estimates (what `promote` and `upgrade status` show), a phase that
    hands undecided candidates on at its maximum (on_max: advance) taking at most that long."""
    from modelctl.core.planning import PhasePlan, SegmentTraffic, estimate_phase

    total = 0.0
    for phase in ("shadow", "canary"):
        p, gates = config.phases[phase], config.gates
        plan = PhasePlan(phase, p.traffic_pct, p.min_duration.total_seconds() / 3600,
                         p.max_duration.total_seconds() / 3600, max(p.min_samples, gates.min_samples),
                         config.gates_for(phase).alpha, gates.success_margin)
        hours = estimate_phase(plan, [SegmentTraffic("sim", requests_per_hour, BASE_SUCCESS)]).median_hours
        if config.on_max(phase) == "advance":
            hours = min(hours, plan.max_hours)
        total += hours
    return total


def uncapped(config: RolloutConfig, factor: float = 20) -> RolloutConfig:
    """The config with the canary's maximum lifted, so a slow rate's time to full is observed, not cut."""
    canary = config.phases["canary"]
    lifted = replace(canary, max_duration=canary.max_duration * factor)
    return replace(config, phases={**config.phases, "canary": lifted})


def time_to_decision_check(*, rates: list[float], per_case: int, seed: int, workers: int) -> list[str]:
    """core.planning's estimate against the simulated median time to full of equal candidates.

    Planning models the success gate only, so these rollouts run without the judge, and with the
    canary's maximum lifted so the median is seen rather than cut off at 168 h.
    """
    lines = []
    config = uncapped(DEFAULT_ROLLOUT_CONFIG)
    equal = Case("equal")
    for rph in rates:
        outcomes = simulate([(equal, per_case, seed, config, None, rph)], workers=workers)
        hours = [o.hours for o in outcomes if o.final_phase == "full"]
        simulated = statistics.median(hours) if len(hours) > len(outcomes) / 2 else math.inf
        estimate = estimated_median_hours(rph)
        within = estimate / 2 <= simulated <= estimate * 2
        lines.append(f"{rph:>6,.0f} req/h: equal candidate (no judge, canary max lifted), time to full: estimate "
                     f"{estimate:.1f} h, simulated median {simulated:.1f} h over {len(outcomes)} rollouts "
                     f"({len(hours)} reached full): {'within' if within else 'NOT within'} a factor of 2")
    return lines


# --------------------------------------------------------------------------- the real code path


def _latency(rng: random.Random, case: Case, candidate: bool) -> float:
    if case.pareto:
        return 400.0 * rng.paretovariate(2.5)
    factor = case.latency_factor if candidate else 1.0
    value = rng.lognormvariate(math.log(LATENCY_MEDIAN_MS * factor), LATENCY_SIGMA)
    if candidate and case.tail_share and rng.random() < case.tail_share:
        value *= TAIL_FACTOR
    return value


def _judged(rng: random.Random, truth: str, options: tuple[str, ...]) -> str:
    """The judge's report of `truth`: right JUDGE_AGREEMENT of the time, else another option at random."""
    if rng.random() < JUDGE_AGREEMENT:
        return truth
    return rng.choice([o for o in options if o != truth])


def _sim_config_dir(root: Path, segments: list[str], pairs: dict[str, int]) -> None:
    """policy.yaml with one segment per simulated segment (chain: its incumbent), and the shipped
    upgrade.yaml with a judge."""
    import yaml

    from modelctl.paths import bundled_config_dir

    bundled = bundled_config_dir()
    policy = yaml.safe_load((bundled / "policy.yaml").read_text())
    for segment in segments:
        policy["segments"][segment] = {"chain": [f"sim-inc-{pairs[segment]}"], "budget_seconds": 10}
    root.mkdir(parents=True, exist_ok=True)
    (root / "policy.yaml").write_text(yaml.safe_dump(policy))
    (root / "upgrade.yaml").write_text((bundled / "upgrade.yaml").read_text() + "judge:\n"
                                       + "".join(f"  {k}: {v}\n" for k, v in JUDGE.items()))


def run_real(*, cases: list[Case], per_case: int, seed: int, requests_per_hour: float,
             max_hours: float = 400) -> list[Outcome]:
    """Every case x per_case rollouts side by side in one SQLite store, through the real code path.

    Each rollout has segments of its own (sim-K-main, and sim-K-small carrying 5% of its traffic
    when the truth is about a small segment). Every 15 simulated minutes: each request gets a
    request id and is routed by core.routing's batch router (`route_many`, the split `run` uses:
    `_rollout_for` on the request id's hash) against the routing state `Router.load` reads from the
    store; its outcome is drawn from the truth instead of a provider call and recorded as `run`
    records an attempt (UsageRecord -> usage_tuple -> insert_usage, batched per tick; the health
    bookkeeping is left out); a shadow decision adds the candidate's shadow row, and for the
    judge's shadow share (services.judge.sampled) a verdict is stored with store.judge.insert_verdict;
    canary and control answers in the judge's canary share get a 0..1 grade as their quality. The
    judge agrees with the truth 80% of the time. Then MODELCTL_NOW moves and `upgrade tick` runs.
    Returns an Outcome per rollout; rollouts still active after max_hours count as "active".
    """
    import os
    import tempfile

    from modelctl.core.catalog import ModelSpec
    from modelctl.core.classify import classify
    from modelctl.core.routing import route_many
    from modelctl.core.usage import UsageRecord
    from modelctl.services import upgrade
    from modelctl.services.database import open_database
    from modelctl.services.judge import sampled
    from modelctl.services.routing import Router
    from modelctl.store import catalog as catalog_repo
    from modelctl.store.judge import insert_verdict
    from modelctl.store.rollouts import list_rollouts
    from modelctl.store.usage import insert_usage, usage_tuple

    home = Path(tempfile.mkdtemp(prefix="rollout-sim-"))
    jobs = [case for case in cases for _ in range(per_case)]
    segments_of = {k: (f"sim-{k}-main", f"sim-{k}-small") if case.small_segment_only else (f"sim-{k}-main",)
                   for k, case in enumerate(jobs)}
    pairs = {segment: k for k, segs in segments_of.items() for segment in segs}
    os.environ["MODELCTL_HOME"] = str(home)
    os.environ["MODELCTL_CONFIG_DIR"] = str(home / "config")
    start = START.replace(tzinfo=None)
    os.environ["MODELCTL_NOW"] = start.isoformat()
    _sim_config_dir(home / "config", list(pairs), pairs)
    store = open_database()
    caps = frozenset({"text_generation"})
    with store.write() as conn:
        catalog_repo.upsert_models(conn, [
            ModelSpec(f"sim-{role}-{k}", "openai", status=status, capabilities=caps)
            for k in range(len(jobs)) for role, status in (("inc", "stable"), ("cand", "candidate"))
        ], now=start)
    for k in range(len(jobs)):
        upgrade.promote(store, f"sim-cand-{k}", replaces=f"sim-inc-{k}", segments=segments_of[k])
    rollout_ids = {r.candidate_id: r.id for r in list_rollouts(store)}
    rng = random.Random(seed)
    classification = classify(QUERY)
    per_tick = requests_per_hour * TICK.total_seconds() / 3600
    outcomes: dict[int, Outcome] = {}
    now, serial = start, 0
    while len(outcomes) < len(jobs) and now - start < timedelta(hours=max_hours):
        router = Router.load(store, now=now, ignore_keys=True)
        decide = route_many(router.state)
        rows, verdicts = [], []
        for k, case in enumerate(jobs):
            if k in outcomes:
                continue
            for segment in segments_of[k]:
                small = segment.endswith("-small")
                share = (SMALL_SEGMENT_SHARE if small else 1 - SMALL_SEGMENT_SHARE) if case.small_segment_only else 1
                truth_here = not case.small_segment_only or small
                for _ in range(_poisson(rng, per_tick * share)):
                    serial += 1
                    rid = f"{k}.{serial}"
                    answer = decide(router.request(QUERY, segment=segment, request_id=rid), classification)
                    ts = now + TICK * rng.random()
                    served_by_candidate = answer["arm"] == "canary"
                    outcome = {}
                    for who in ("incumbent", "candidate"):
                        candidate = who == "candidate"
                        bad = candidate and truth_here
                        ok = rng.random() < BASE_SUCCESS + (case.success_delta if bad else 0.0)
                        good = rng.random() < BASE_GOOD + (case.quality_delta if bad else 0.0)
                        outcome[who] = (ok, good, _latency(rng, case, candidate))
                    served = outcome["candidate" if served_by_candidate else "incumbent"]
                    quality = None
                    if served[0] and answer["arm"] in ("canary", "control") and sampled(
                            rid, JUDGE["canary_share"], purpose="canary") and any(
                            r.phase == "canary" for r in router.state.rollouts if segment in r.segments):
                        quality = float(_judged(rng, "1" if served[1] else "0", ("0", "1")))
                    rows.append(_usage_row(UsageRecord, usage_tuple, model_id=answer["model_id"], arm=answer["arm"],
                                           segment=segment, rid=rid, attempt=0, outcome=served, quality=quality,
                                           ts=ts, rng=rng))
                    if answer.get("shadow_model"):
                        shadow = outcome["candidate"]
                        rows.append(_usage_row(UsageRecord, usage_tuple, model_id=answer["shadow_model"],
                                               arm="shadow", segment=segment, rid=rid, attempt=1, outcome=shadow,
                                               quality=None, ts=ts, rng=rng))
                        if served[0] and shadow[0] and sampled(rid, JUDGE["shadow_share"], purpose="shadow"):
                            truth = ("tie" if shadow[1] == served[1] else "win" if shadow[1] else "loss")
                            verdicts.append({"rollout_id": rollout_ids[answer["shadow_model"]],
                                                 "candidate_id": answer["shadow_model"],
                                                 "incumbent_id": answer["model_id"],
                                                 "segment": segment, "request_id": rid,
                                                 "verdict": _judged(rng, truth, ("win", "tie", "loss")),
                                                 "judge_model": JUDGE["model"], "cost_usd": 0.0, "now": ts})
        with store.write() as conn:
            insert_usage(conn, rows)
            for verdict in verdicts:
                insert_verdict(conn, **verdict)
        now += TICK
        os.environ["MODELCTL_NOW"] = now.isoformat()
        for t in upgrade.tick(store).transitions:
            k = int(t.rollout.candidate_id.removeprefix("sim-cand-"))
            if t.phase in ("full", "rolled_back", "rejected"):
                outcomes[k] = Outcome(jobs[k], t.phase, (now - start) / timedelta(hours=1), t.rollout.phase)
    for k, case in enumerate(jobs):
        outcomes.setdefault(k, Outcome(case, "active", max_hours, ""))
    return [outcomes[k] for k in sorted(outcomes)]


def _usage_row(record_type, usage_tuple, *, model_id: str, arm: str, segment: str, rid: str, attempt: int,
               outcome: tuple[bool, bool, float], quality: float | None, ts: datetime, rng: random.Random) -> tuple:
    """One call as `run` records it (services.run._record's UsageRecord and usage_tuple)."""
    ok, _, latency_ms = outcome
    record = record_type(model_id=model_id, latency_ms=latency_ms if ok else latency_ms / 3, success=ok,
                         error_kind=None if ok else "unavailable", segment=segment, request_id=rid, arm=arm,
                         attempt=attempt, quality=quality, tokens_in=200 if ok else 0, tokens_out=300 if ok else 0)
    cost = rng.lognormvariate(math.log(COST_MEDIAN_USD), COST_SIGMA) if ok else None
    return usage_tuple(record, provider="openai", cost_usd=cost, ts=ts)


def _real_job(job: tuple) -> list[Outcome]:
    cases, per_case, seed, rph, max_hours = job
    return run_real(cases=cases, per_case=per_case, seed=seed, requests_per_hour=rph, max_hours=max_hours)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--per-case", type=int, default=100, help="rollouts per truth at 2,000 req/h")
    parser.add_argument("--slow-per-case", type=int, default=40, help="rollouts per truth at lower rates")
    parser.add_argument("--rates", type=float, nargs="+", default=[100.0, 500.0, 2000.0], help="requests/hour")
    parser.add_argument("--seed", type=int, default=20260105)
    parser.add_argument("--workers", type=int, default=2, help="processes (the figures do not depend on it)")
    parser.add_argument("--cases", help="only truths whose name contains one of these (comma-separated)")
    parser.add_argument("--real", action="store_true", help="drive the real store and `upgrade tick` service")
    parser.add_argument("--real-per-case", type=int, default=2, help="rollouts per truth and rate with --real")
    parser.add_argument("--real-rph", type=float, nargs="+", default=[100.0, 500.0, 2000.0],
                        help="requests/hour per rollout with --real")
    parser.add_argument("--real-max-hours", type=float, default=400, help="simulated hours at most with --real")
    args = parser.parse_args()
    started = time.perf_counter()
    all_cases = cases(DEFAULT_ROLLOUT_CONFIG.gates)
    if args.cases:
        all_cases = [c for c in all_cases if any(w in c.name for w in args.cases.split(","))]
    config = DEFAULT_ROLLOUT_CONFIG
    phases = ", ".join(f"{name} {p.traffic_pct:g}% {p.min_duration / timedelta(hours=1):g}-"
                       f"{p.max_duration / timedelta(hours=1):g} h alpha {config.gates_for(name).alpha:g}"
                       f" on_max {config.on_max(name)}" for name, p in config.phases.items() if name != "full")
    print(f"shipped config/upgrade.yaml: {phases}; judge shadow_share {JUDGE['shadow_share']:g}, canary_share "
          f"{JUDGE['canary_share']:g}, margin {JUDGE['margin']:g} (80% agreement); seed {args.seed}")
    print("targets: worse -> full <= 1% (every rate); at 2,000 req/h equal -> full >= 90%, rolled back <= 1%\n")
    results: dict[float, list[Outcome]] = {}
    if args.real:
        for rph in args.real_rph:
            # one store per worker, each with every case: rollouts of all cases side by side in time
            jobs = [(all_cases, math.ceil(args.real_per_case / args.workers), args.seed + w, rph,
                     args.real_max_hours) for w in range(args.workers)]
            with ProcessPoolExecutor(max_workers=args.workers) as pool:
                results[rph] = [o for part in pool.map(_real_job, jobs) for o in part]
        print("real code path (route_many split, usage rows, judge verdicts, upgrade tick every 15 min):")
    else:
        for rph in args.rates:
            per_case = args.per_case if rph >= 2000 else args.slow_per_case
            jobs = [(case, per_case, args.seed, DEFAULT_ROLLOUT_CONFIG, JUDGE_SETTINGS, rph) for case in all_cases]
            results[rph] = simulate(jobs, workers=args.workers)
        print("pure core (core.gates + core.rollout.decide every 15 simulated minutes):")
    print("\n".join(table(results, all_cases)))
    print()
    print("\n".join(pooled(results)))
    print()
    rates = args.real_rph if args.real else args.rates
    print("\n".join(time_to_decision_check(rates=[r for r in rates if r <= 100] or rates[:1],
                                         per_case=args.slow_per_case, seed=args.seed, workers=args.workers)))
    print(f"\n{time.perf_counter() - started:.0f} s", file=sys.stderr)


if __name__ == "__main__":
    main()
