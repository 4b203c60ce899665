"""Simulated rollouts: do the gates promote good candidates and stop bad ones, and how fast?

Run: python tests/benchmarks/rollout_sim.py [--rollouts-per-case N] [--seed S] [--workers W]
     python tests/benchmarks/rollout_sim.py --sweep --rollouts-per-case 40   (alternatives, ~2 min)
     python tests/benchmarks/rollout_sim.py --real [--real-per-case N] [--real-rph R]

`--real` drives the shipped code instead of the pure core: usage rows go into a real SQLite store
(one segment and one incumbent/candidate pair per rollout, all rollouts at once), and each
15-minute step sets MODELCTL_NOW and calls the `upgrade tick` service, which reads the rows back
in SQL and writes its decisions. Rows are drawn per call, so it runs at a lower request rate; the
pure-core table at that same rate is printed beside it.

Each rollout has a known truth (success rate -10..+2 points around a 95% incumbent, latency x0.8 /
x1 / x1.3). Time moves in 15-minute ticks; each tick adds one window of synthetic usage, the gates
are computed over the phase window and `decide` says what to do, exactly as `upgrade tick` would.
The same windows are replayed through a fixed threshold ("overall score >= 0.8", the original
design) for comparison. Output: tables on stdout; `--sweep` compares alternative settings instead.
"worse" means any success drop or the x1.3 latency; "equal/better" is 0/+2 points at x0.8/x1.
"""

from __future__ import annotations

import argparse
import itertools
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

from modelctl.config import load_upgrade
from modelctl.core import histogram
from modelctl.core.gates import ArmSample, LatencyHistogram, Moments, evaluate_gates
from modelctl.core.rollout import RolloutConfig, RolloutView, SegmentEvidence, decide

DEFAULT_ROLLOUT_CONFIG = load_upgrade().rollout_config()  # the shipped config/upgrade.yaml

BASE_SUCCESS = 0.95
LATENCY_MEDIAN_MS = 900.0
LATENCY_SIGMA = 0.5  # log-scale spread: p95 is about 2.3x the median, as for chat completions
COST_MEDIAN_USD = 0.002
COST_SIGMA = 0.6
REQUESTS_PER_HOUR = 2000
TICK = timedelta(minutes=15)
SUCCESS_DELTAS = (-0.10, -0.05, -0.02, 0.0, 0.02)
LATENCY_FACTORS = (0.8, 1.0, 1.3)
START = datetime(2026, 1, 5, tzinfo=UTC)


@dataclass(frozen=True)
class Truth:
    success_delta: float
    latency_factor: float

    @property
    def worse(self) -> bool:
        return self.success_delta < 0 or self.latency_factor > 1


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


def _bucket_probabilities(latency_factor: float) -> list[tuple[int, float]]:
    """P(latency bucket) under the log-normal latency model; bucket i holds (G^(i-1), G^i]."""
    mu = math.log(LATENCY_MEDIAN_MS * latency_factor)
    log_g = math.log(histogram.GROWTH)
    first = int((mu - 4.5 * LATENCY_SIGMA) / log_g)
    last = int((mu + 4.5 * LATENCY_SIGMA) / log_g) + 1
    cdf = statistics.NormalDist(mu, LATENCY_SIGMA).cdf
    return [(i, cdf(i * log_g) - cdf((i - 1) * log_g)) for i in range(first, last + 1)]


# Moments of the log-normal cost per call: mean, variance, and the relative spread of a variance estimate.
_COST_MEAN = COST_MEDIAN_USD * math.exp(COST_SIGMA**2 / 2)
_COST_VAR = (math.exp(COST_SIGMA**2) - 1) * _COST_MEAN**2
_COST_KURTOSIS = sum(c * math.exp(k * COST_SIGMA**2) for c, k in ((1, 4), (2, 3), (3, 2))) - 3


@cache
def _bucket_plan(latency_factor: float, expected_ok: float) -> tuple[list, list, list, float]:
    """Buckets expecting more than 3 calls per window, drawn one by one; the rest pooled.

    Pooling Poisson counts and splitting them again are exact, so the pool is drawn as one Poisson
    count spread over its buckets by their probabilities: far fewer draws than bucket by bucket.
    A big bucket's count is a rounded normal draw; the gates only see sums of hundreds of windows,
    where that approximation vanishes.
    """
    big, small, small_weights = [], [], []
    for index, probability in _bucket_probabilities(latency_factor):
        mean = expected_ok * probability
        if mean > 3:
            big.append((index, mean, math.sqrt(mean)))
        else:
            small.append(index)
            small_weights.append(mean)
    return big, small, list(itertools.accumulate(small_weights)), sum(small_weights)


def arm_usage(
    rng: random.Random, *, expected_calls: float, success_rate: float, latency_factor: float
) -> ArmSample:
    """One arm's calls in one window, drawn as a Poisson process (calls arrive at random).

    Successful calls are split over latency buckets; cost per call is log-normal and enters as
    its window mean and variance (normal approximations, plenty for a gate that is not under test
    here: every simulated candidate costs what the incumbent costs).
    """
    big, small, small_cum, small_mean = _bucket_plan(latency_factor, expected_calls * success_rate)
    counts = Counter(rng.choices(small, cum_weights=small_cum, k=_poisson(rng, small_mean)))
    gauss = rng.gauss
    for index, mean, sd in big:
        counts[index] = max(0, round(gauss(mean, sd)))
    successes = sum(counts.values())
    calls = successes + _poisson(rng, expected_calls * (1 - success_rate))
    cost = Moments()
    if calls:
        mean = rng.gauss(_COST_MEAN, math.sqrt(_COST_VAR / calls))
        spread = math.sqrt((_COST_KURTOSIS - 1) / calls)
        variance = _COST_VAR * max(0.05, rng.gauss(1.0, spread))
        cost = Moments(calls, mean * calls, (calls - 1) * variance + calls * mean * mean)
    return ArmSample(calls, successes, LatencyHistogram.from_counts(counts), cost)


def window_usage(
    rng: random.Random,
    *,
    truth: Truth,
    phase: str,
    traffic_pct: float,
    minutes: float = 15,
    requests_per_hour: float = REQUESTS_PER_HOUR,
) -> tuple[ArmSample, ArmSample]:
    """(incumbent, candidate) usage of one window of one phase.

    Shadow duplicates its share of requests to the candidate, so the incumbent still serves all
    of them; canary and full move the share to the candidate.
    """
    requests = requests_per_hour * minutes / 60
    share = traffic_pct / 100
    control_calls = requests if phase == "shadow" else requests * (1 - share)
    control = arm_usage(rng, expected_calls=control_calls, success_rate=BASE_SUCCESS, latency_factor=1.0)
    candidate = arm_usage(
        rng,
        expected_calls=requests * share,
        success_rate=BASE_SUCCESS + truth.success_delta,
        latency_factor=truth.latency_factor,
    )
    return control, candidate


class Windows:
    """One rollout's usage, window by window per phase, shared by every policy replayed on it."""

    def __init__(self, seed: int, truth: Truth, config: RolloutConfig, requests_per_hour: float) -> None:
        self._seed, self._truth, self._config, self._rph = seed, truth, config, requests_per_hour
        self._drawn: dict[str, list[tuple[ArmSample, ArmSample]]] = {}
        self._rngs: dict[str, random.Random] = {}

    def get(self, phase: str, k: int) -> tuple[ArmSample, ArmSample]:
        drawn = self._drawn.setdefault(phase, [])
        rng = self._rngs.setdefault(phase, random.Random(f"{self._seed}-{phase}"))
        while len(drawn) <= k:
            drawn.append(
                window_usage(
                    rng,
                    truth=self._truth,
                    phase=phase,
                    traffic_pct=self._config.phases[phase].traffic_pct,
                    requests_per_hour=self._rph,
                )
            )
        return drawn[k]

    def total(self, phase: str, ticks: int) -> tuple[ArmSample, ArmSample]:
        """Sum of the phase's first `ticks` windows.

        Windows no policy has looked at yet are drawn as one aggregate: the sum of independent
        Poisson windows is one Poisson window of the summed length, so this is exact in law.
        """
        drawn = self._drawn.get(phase, [])[:ticks]
        control, candidate = ArmSample(), ArmSample()
        for window in drawn:
            control, candidate = control + window[0], candidate + window[1]
        missing = ticks - len(drawn)
        if missing > 0:
            rest = window_usage(
                random.Random(f"{self._seed}-{phase}-rest"),
                truth=self._truth,
                phase=phase,
                traffic_pct=self._config.phases[phase].traffic_pct,
                minutes=TICK.total_seconds() / 60 * missing,
                requests_per_hour=self._rph,
            )
            control, candidate = control + rest[0], candidate + rest[1]
        return control, candidate


@dataclass(frozen=True)
class Outcome:
    truth: Truth
    final_phase: str
    hours: float
    candidate_calls: int


def run_gated(windows: Windows, truth: Truth, config: RolloutConfig) -> Outcome:
    """Drive one rollout through `evaluate_gates` + `decide` until it leaves the active phases."""
    view = RolloutView("candidate", "incumbent", "discovered", 0, START)
    now = START
    exposed, k = 0, 0
    control, candidate = ArmSample(), ArmSample()
    while True:
        if view.phase == "discovered":
            decision = decide(rollout=view, evidence=(), now=now, config=config)
        else:
            now += TICK
            window = windows.get(view.phase, k)
            control, candidate = control + window[0], candidate + window[1]
            exposed += window[1].calls
            k += 1
            results = tuple(evaluate_gates(control=control, candidate=candidate, config=config.gates))
            evidence = [SegmentEvidence("technical", results, (control.calls, candidate.calls))]
            decision = decide(rollout=view, evidence=evidence, now=now, config=config)
        if decision.action in ("rollback", "reject") or decision.next_phase == "full":
            return Outcome(truth, decision.next_phase, (now - START) / timedelta(hours=1), exposed)
        if decision.action == "advance":
            view = replace(
                view, phase=decision.next_phase, traffic_pct=decision.next_traffic_pct, phase_started_at=now
            )
            control, candidate, k = ArmSample(), ArmSample(), 0


def _p95(hist: LatencyHistogram) -> float:
    rank = max(1, math.ceil(0.95 * hist.total))
    return histogram.bucket_value(hist.buckets_at_ranks([rank])[rank])


def overall_score(control: ArmSample, candidate: ArmSample) -> float:
    """The original design's kind of score: mean of success rate and latency relative to the incumbent."""
    if not candidate.calls or not candidate.latency.total or not control.latency.total:
        return 0.0
    latency_score = min(1.0, _p95(control.latency) / _p95(candidate.latency))
    return (candidate.successes / candidate.calls + latency_score) / 2


def run_threshold(windows: Windows, truth: Truth, config: RolloutConfig, threshold: float = 0.8) -> Outcome:
    """Same windows, fixed threshold: at each phase's minimum duration, score >= 0.8 promotes, else rollback."""
    now = START
    exposed = 0
    for phase in ("shadow", "canary"):
        ticks = math.ceil(config.phases[phase].min_duration / TICK)
        control, candidate = windows.total(phase, ticks)
        exposed += candidate.calls
        now += ticks * TICK
        if overall_score(control, candidate) < threshold:
            return Outcome(truth, "rolled_back", (now - START) / timedelta(hours=1), exposed)
    return Outcome(truth, "full", (now - START) / timedelta(hours=1), exposed)


def _pct(part: int, whole: int) -> str:
    return f"{100 * part / whole:5.1f}%" if whole else "   n/a"


def summarize(name: str, outcomes: list[Outcome]) -> str:
    worse = [o for o in outcomes if o.truth.worse]
    good = [o for o in outcomes if not o.truth.worse]
    worse_full = sum(o.final_phase == "full" for o in worse)
    good_full = sum(o.final_phase == "full" for o in good)
    good_back = sum(o.final_phase == "rolled_back" for o in good)
    n10 = sum(o.truth.success_delta == -0.10 for o in outcomes)
    bad10 = [o for o in outcomes if o.truth.success_delta == -0.10 and o.final_phase == "rolled_back"]
    if bad10:
        calls = f"{statistics.median(o.candidate_calls for o in bad10):,.0f}"
        hours = f"{statistics.median(o.hours for o in bad10):.1f}"
    else:
        calls = hours = "never" if n10 else "-"
    return (
        f"{name:<34} {_pct(worse_full, len(worse))} {f'({worse_full}/{len(worse)})':>11}  "
        f"{_pct(good_full, len(good))} {f'({good_full}/{len(good)})':>11}  {_pct(good_back, len(good)):>11}  "
        f"{calls:>10} {hours:>6}  {f'({len(bad10)}/{n10} rolled back)' if n10 else ''}"
    )


# "rolled back" counts equal-or-better candidates rolled back: false alarms.
HEADER = (
    f"{'policy':<34} {'worse -> full':>18}  {'equal/better->full':>18}  {'rolled back':>11}  "
    f"{'-10 pt: calls':>10} {'hours':>6}"
)


def by_case(outcomes: list[Outcome]) -> list[str]:
    lines = [f"{'truth':<22} {'full':>6} {'rolled_back':>12} {'rejected':>9} {'median h':>9}"]
    for delta in SUCCESS_DELTAS:
        for factor in LATENCY_FACTORS:
            case = [o for o in outcomes if o.truth == Truth(delta, factor)]
            if not case:
                continue
            counts = {p: sum(o.final_phase == p for o in case) for p in ("full", "rolled_back", "rejected")}
            lines.append(
                f"success {100 * delta:+4.0f} pt, x{factor:<4}  {_pct(counts['full'], len(case))} "
                f"{_pct(counts['rolled_back'], len(case)):>12} {_pct(counts['rejected'], len(case)):>9} "
                f"{statistics.median(o.hours for o in case):9.1f}"
            )
    return lines


Job = tuple[Truth, int, int, RolloutConfig, float]


def _simulate_case(job: Job) -> tuple[list[Outcome], list[Outcome]]:
    truth, per_case, seed, config, requests_per_hour = job
    gated, fixed = [], []
    for i in range(per_case):
        rollout_seed = hash((seed, truth.success_delta, truth.latency_factor, i))
        windows = Windows(rollout_seed, truth, config, requests_per_hour)
        gated.append(run_gated(windows, truth, config))
        fixed.append(run_threshold(windows, truth, config))
    return gated, fixed


def simulate(jobs: list[Job], *, workers: int) -> tuple[list[Outcome], list[Outcome]]:
    """Results do not depend on `workers`: each rollout draws from its own seed."""
    with ProcessPoolExecutor(max_workers=workers) as pool:
        parts = list(pool.map(_simulate_case, jobs))
    return [o for g, _ in parts for o in g], [o for _, f in parts for o in f]


def _with(config: RolloutConfig, *, min_samples: int | None = None, **gates: float) -> RolloutConfig:
    phases = dict(config.phases)
    if min_samples is not None:
        phases = {name: replace(pc, min_samples=min_samples) for name, pc in phases.items()}
    return replace(config, phases=phases, gates=replace(config.gates, **gates))


def sweep(*, per_case: int, seed: int, workers: int) -> list[str]:
    """Alternatives to the defaults on the truths that decide them: equal, slightly worse, slower, better."""
    truths = [Truth(0.0, 1.0), Truth(0.02, 0.8), Truth(-0.02, 1.0), Truth(0.0, 1.3)]
    variants = [
        ("defaults", REQUESTS_PER_HOUR, DEFAULT_ROLLOUT_CONFIG),
        ("fail_alpha 0.05 (no correction)", REQUESTS_PER_HOUR, _with(DEFAULT_ROLLOUT_CONFIG, fail_alpha=0.05)),
        ("fail_alpha 0.01", REQUESTS_PER_HOUR, _with(DEFAULT_ROLLOUT_CONFIG, fail_alpha=0.01)),
        ("success_margin 2 points", REQUESTS_PER_HOUR, _with(DEFAULT_ROLLOUT_CONFIG, success_margin=0.02)),
        ("100 req/h, min_samples 0", 100, _with(DEFAULT_ROLLOUT_CONFIG, min_samples=0)),
        ("100 req/h, min_samples 200", 100, DEFAULT_ROLLOUT_CONFIG),
        ("100 req/h, min_samples 500", 100, _with(DEFAULT_ROLLOUT_CONFIG, min_samples=500)),
    ]
    names = ", ".join(f"{100 * t.success_delta:+.0f} pt x{t.latency_factor}" for t in truths)
    lines = [f"sweep: {per_case} rollouts each of {names}", HEADER]
    for name, rph, config in variants:
        gated, _ = simulate([(t, per_case, seed, config, rph) for t in truths], workers=workers)
        lines.append(summarize(name, gated))
    return lines


# --------------------------------------------------------------------------- the real code path

# A request's quality is "good" (1) or not (0): the candidate's P(good) is the incumbent's plus
# quality_delta, so P(candidate's answer loses a pair) - P(it wins) is exactly -quality_delta.
BASE_GOOD = 0.8
JUDGE_AGREEMENT = 0.8  # the judge reports the true verdict / grade this often, else another one
JUDGE = {"model": "sim-judge", "shadow_share": 0.5, "canary_share": 0.1, "daily_budget_usd": 1e9,
         "margin": 0.05, "timeout_s": 30}
QUERY = "How do I fix a segfault in my C code?"
SMALL_SEGMENT_SHARE = 0.05


@dataclass(frozen=True)
class Case:
    """A truth about the candidate against the incumbent, and which target it falls under."""

    name: str
    success_delta: float = 0.0
    quality_delta: float = 0.0
    latency_factor: float = 1.0
    tail_share: float = 0.0  # share of the candidate's calls 4x slower
    pareto: bool = False  # both arms' latencies Pareto-tailed
    small_segment_only: bool = False  # the truth holds only in a segment carrying 5% of traffic
    kind: str = "equal"  # "equal" | "worse" (than a margin) | "near" (within or at a margin)


def real_cases(gates) -> list[Case]:
    """The issue's truths; "worse" is beyond the configured margin, "near" within or at it."""
    cases = [Case("equal")]
    for points in (0.5, 1, 2, 5, 10):
        d = points / 100
        cases.append(Case(f"success -{points:g} pt", success_delta=-d,
                          kind="worse" if d > gates.success_margin + 1e-9 else "near"))
    for points in (0.5, 1, 2, 5, 10):
        d = points / 100
        cases.append(Case(f"quality -{points:g} pt", quality_delta=-d,
                          kind="worse" if d > gates.quality_margin + 1e-9 else "near"))
    cases += [
        Case("success -10 pt in a 5% segment", success_delta=-0.10, small_segment_only=True, kind="worse"),
        Case("latency x1.1", latency_factor=1.1, kind="near"),
        Case("latency x1.2", latency_factor=1.2, kind="near"),
        Case("latency x1.3", latency_factor=1.3, kind="worse"),
        Case("tail: 7% of calls x4", tail_share=0.07, kind="worse"),
        Case("identical Pareto latency", pareto=True, kind="equal"),
    ]
    return cases


def _latency(rng: random.Random, case: Case, candidate: bool) -> float:
    if case.pareto:
        return 400.0 * rng.paretovariate(2.5)
    factor = case.latency_factor if candidate else 1.0
    value = rng.lognormvariate(math.log(LATENCY_MEDIAN_MS * factor), LATENCY_SIGMA)
    if candidate and case.tail_share and rng.random() < case.tail_share:
        value *= 4
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
             max_hours: float = 400) -> list[tuple[Case, str, float]]:
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
    Returns (case, final phase, hours) per rollout; rollouts still active after max_hours count as
    "active".
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
    outcomes: dict[int, tuple[Case, str, float]] = {}
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
                outcomes[k] = (jobs[k], t.phase, (now - start) / timedelta(hours=1))
    for k, case in enumerate(jobs):
        outcomes.setdefault(k, (case, "active", max_hours))
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


def _real_job(job: tuple) -> list[tuple[Case, str, float]]:
    cases, per_case, seed, rph, max_hours = job
    return run_real(cases=cases, per_case=per_case, seed=seed, requests_per_hour=rph, max_hours=max_hours)


def real_table(results: dict[float, list[tuple[Case, str, float]]], cases: list[Case]) -> list[str]:
    """truth x rate: n, full%, rolled back%, rejected%, median hours to the decision."""
    lines = [f"{'truth':<32} {'kind':<6} {'req/h':>6} {'n':>4} {'full':>7} {'rolled back':>12} {'rejected':>9} "
             f"{'active':>7} {'median h':>9}"]
    for case in cases:
        for rph, outcomes in results.items():
            mine = [o for o in outcomes if o[0] == case]
            if not mine:
                continue
            n = len(mine)
            count = Counter(o[1] for o in mine)
            lines.append(f"{case.name:<32} {case.kind:<6} {rph:>6,.0f} {n:>4} {_pct(count['full'], n):>7} "
                         f"{_pct(count['rolled_back'], n):>12} {_pct(count['rejected'], n):>9} "
                         f"{_pct(count['active'], n):>7} {statistics.median(o[2] for o in mine):9.1f}")
    return lines


def estimated_median_hours(requests_per_hour: float, config: RolloutConfig = DEFAULT_ROLLOUT_CONFIG) -> float:
    """core.planning's median time to full for an equal candidate on one segment at this rate,
    the sum of its shadow and canary estimates (what `promote` and `upgrade status` show)."""
    from modelctl.core.planning import PhasePlan, SegmentTraffic, estimate_phase

    total = 0.0
    for phase in ("shadow", "canary"):
        p, gates = config.phases[phase], config.gates
        plan = PhasePlan(phase, p.traffic_pct, p.min_duration.total_seconds() / 3600,
                         p.max_duration.total_seconds() / 3600, max(p.min_samples, gates.min_samples),
                         gates.alpha, gates.success_margin)
        total += estimate_phase(plan, [SegmentTraffic("sim", requests_per_hour, BASE_SUCCESS)]).median_hours
    return total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rollouts-per-case", type=int, default=70, help="rollouts per truth (15 truths)")
    parser.add_argument("--seed", type=int, default=20260105)
    parser.add_argument("--workers", type=int, default=2, help="processes (the figures do not depend on it)")
    parser.add_argument("--sweep", action="store_true", help="compare alternative alphas, margins, min samples")
    parser.add_argument("--real", action="store_true", help="drive the real store and `upgrade tick` service")
    parser.add_argument("--real-per-case", type=int, default=2, help="rollouts per truth and rate with --real")
    parser.add_argument("--real-rph", type=float, nargs="+", default=[100.0, 500.0, 2000.0],
                        help="requests/hour per rollout with --real")
    parser.add_argument("--real-max-hours", type=float, default=400, help="simulated hours at most with --real")
    parser.add_argument("--cases", help="with --real: only truths whose name contains one of these (comma-separated)")
    args = parser.parse_args()
    started = time.perf_counter()
    if args.real:
        cases = real_cases(DEFAULT_ROLLOUT_CONFIG.gates)
        if args.cases:
            cases = [c for c in cases if any(w in c.name for w in args.cases.split(","))]
        results: dict[float, list] = {}
        for rph in args.real_rph:
            # one store per worker, each with every case: rollouts of all cases side by side in time
            jobs = [(cases, math.ceil(args.real_per_case / args.workers), args.seed + w, rph, args.real_max_hours)
                    for w in range(args.workers)]
            with ProcessPoolExecutor(max_workers=args.workers) as pool:
                results[rph] = [o for part in pool.map(_real_job, jobs) for o in part]
        print(f"real code path (route_many split, usage rows, judge verdicts, upgrade tick every 15 min), "
              f"seed {args.seed}, shipped config/upgrade.yaml + a judge (80% agreement)")
        print("targets at 2,000 req/h: worse -> full <= 1%, equal -> full >= 90%, equal -> rolled back <= 1%\n")
        print("\n".join(real_table(results, cases)))
        for rph in args.real_rph:
            equal = [o[2] for o in results[rph] if o[0].name == "equal" and o[1] == "full"]
            simulated = f"{statistics.median(equal):.1f} h" if equal else "none reached full"
            print(f"{rph:,.0f} req/h: time to full of an equal candidate, estimate (core.planning) "
                  f"{estimated_median_hours(rph):.1f} h, simulated median {simulated}")
    elif args.sweep:
        print("\n".join(sweep(per_case=args.rollouts_per_case, seed=args.seed, workers=args.workers)))
    else:
        truths = [Truth(d, f) for d in SUCCESS_DELTAS for f in LATENCY_FACTORS]
        jobs = [(t, args.rollouts_per_case, args.seed, DEFAULT_ROLLOUT_CONFIG, REQUESTS_PER_HOUR) for t in truths]
        gated, fixed = simulate(jobs, workers=args.workers)
        print(f"{len(gated)} rollouts, {REQUESTS_PER_HOUR:,} requests/hour, seed {args.seed}")
        print("targets: worse -> full <= 1%, equal/better -> full >= 90%\n")
        print(HEADER)
        print(summarize("statistical gates (defaults)", gated))
        print(summarize("fixed: overall score >= 0.8", fixed))
        print("\nstatistical gates by truth:")
        print("\n".join(by_case(gated)))
    print(f"\n{time.perf_counter() - started:.0f} s", file=sys.stderr)


if __name__ == "__main__":
    main()
