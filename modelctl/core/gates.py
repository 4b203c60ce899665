"""Statistical gates that compare a rollout candidate with the incumbent it would replace.

Every gate is a non-inferiority check with a tolerance (a margin or a ratio) and answers one of:

- "pass": the data show the candidate is no worse than the tolerance allows (at `alpha`);
- "fail": the data show the candidate is worse than the tolerance allows (at `fail_alpha`);
- "inconclusive": neither is shown yet.

`upgrade tick` looks at the same growing window every 15 minutes and acts on the first look that
crosses, so a fixed-level test would pass a candidate exactly at the margin at *some* tick far more
often than `alpha` (13-15% instead of 5% over a canary). Every test here is therefore sequential,
valid however often it is looked at: a mixture sequential probability ratio test (mSPRT; Robbins
1970, Johari et al. 2017, "always valid p-values"). For an estimate with standard error `se` and
z = (estimate - boundary) / se, the likelihood ratio of "the effect is d > 0" against "no effect",
averaged over a half-normal mixture of d with scale tau, is

    Lambda(z, rho) = 2 / sqrt(1 + rho) * exp(rho z^2 / (2 (1 + rho))) * Phi(z sqrt(rho / (1 + rho)))

with rho = (tau / se)^2. Under the null it is a non-negative (super)martingale of mean at most 1, so
by Ville's inequality P(Lambda ever reaches 1 / alpha) <= alpha over every look there will ever be:
the always-valid one-sided p-value is min(1, 1 / Lambda). The price is a later decision: the z
needed is about 2.8 rather than 1.645. Normal approximations with plug-in variances make this hold
asymptotically, as for the fixed-sample tests it replaces (tests/unit/test_gates.py checks it by
simulation over 50 looks). The mixture scale tau is the gate's tolerance for "pass" (the effect an
equal candidate shows) and a mixture of 1, 4 and 16 times it for "fail", so a large regression is
caught within a few hundred calls and a small one still eventually. The p95 bounds are confidence
sequences for order-statistic ranks (the count of calls below a quantile is a binomial sum) built
the same way.

`fail` acts at once (rollback), so it uses a much stricter level than `pass`; both are one-sided
tests against the same tolerance boundary, so a gate can never pass and fail at once. Arms are
summaries (counts, moments, a latency histogram with core.histogram's buckets) rather than call
lists, so a window of millions of calls costs the same to evaluate as one of a hundred. The levels
and tolerances have no defaults here: they are configured in config/upgrade.yaml (config.GateSettings).
"""

from __future__ import annotations

import bisect
import itertools
import math
import operator
from collections.abc import Iterable
from dataclasses import dataclass, field

from modelctl.core import histogram
from modelctl.errors import InvalidInput

VERDICTS = ("pass", "fail", "inconclusive")
GATES = ("success_rate", "latency_p95", "cost_per_call", "quality", "judged_quality")

_SQRT2 = math.sqrt(2.0)
# "fail" mixes effects of 1, 4 and 16 times the tolerance: quick on large regressions, sure on small.
_FAIL_SCALES = (1.0, 4.0, 16.0)
# Mixture scale of the p95 rank bounds, on the quantile's own scale: half the 5% tail.
_P95 = 0.95
_QUANTILE_TAU = (1 - _P95) / 2
# Mixture scale of Mann-Whitney's AUC (0.5 when the arms are alike) for its "slower" test.
_AUC_TAU = 0.02


def _norm_sf(z: float) -> float:
    """P(Z >= z) for a standard normal; erfc keeps the far tail accurate instead of 1 - cdf."""
    return 0.5 * math.erfc(z / _SQRT2)


def always_valid_p(z: float, rhos: Iterable[float]) -> float:
    """One-sided always-valid p-value of z: 1 / the mean half-normal mixture ratio over `rhos`.

    Each rho is (tau / se)^2 for one mixture scale tau (see the module docstring). Computed in logs:
    the ratio overflows a float long before the p-value stops meaning something.
    """
    if z == math.inf:
        return 0.0
    rhos = tuple(rhos)
    if z == -math.inf or not rhos:
        return 1.0
    if any(rho == math.inf for rho in rhos):  # no noise left: the sign decides
        return 0.0 if z > 0 else 1.0
    logs = []
    for rho in rhos:
        if rho <= 0:
            logs.append(0.0)  # no information: the ratio is exactly 1
            continue
        shrink = rho / (1 + rho)
        tail = _norm_sf(-z * math.sqrt(shrink))  # Phi(z sqrt(rho / (1 + rho)))
        if tail <= 0.0:
            continue
        logs.append(math.log(2.0) - 0.5 * math.log1p(rho) + 0.5 * shrink * z * z + math.log(tail))
    if not logs:
        return 1.0
    top = max(logs)
    if top == math.inf:
        return 0.0
    log_mean = top + math.log(sum(math.exp(v - top) for v in logs) / len(rhos))
    return 1.0 if log_mean <= 0 else math.exp(-log_mean)


def _boundary(level: float, rho: float) -> float:
    """The z at which `always_valid_p(z, (rho,))` reaches `level`: a confidence-sequence radius in se."""
    if rho <= 0:
        return math.inf
    lo, hi = 0.0, 1.0
    while always_valid_p(hi, (rho,)) > level:
        lo, hi = hi, 2 * hi
    for _ in range(40):
        mid = (lo + hi) / 2
        if always_valid_p(mid, (rho,)) > level:
            lo = mid
        else:
            hi = mid
    return hi


def _information(tau: float, se: float) -> float:
    """rho = (tau / se)^2: how many mixture scales' worth of precision the window holds."""
    if se > 0:
        ratio = tau / se
        return ratio * ratio  # a product overflows to inf where ** would raise
    return math.inf if tau > 0 else 0.0


def _check_count(name: str, value: int) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise InvalidInput(f"{name} must be a non-negative whole number, got {value!r}")


def _check_finite(name: str, value: float) -> float:
    value = float(value)
    if not math.isfinite(value):
        raise InvalidInput(f"{name} must be a finite number, got {value!r}")
    return value


@dataclass(frozen=True, slots=True)
class Moments:
    """Count, sum and sum of squares: enough for a mean and a variance, and addable across windows."""

    count: int = 0
    total: float = 0.0
    total_sq: float = 0.0

    def __post_init__(self) -> None:
        _check_count("count", self.count)
        _check_finite("total", self.total)
        _check_finite("total_sq", self.total_sq)

    @classmethod
    def of(cls, values: Iterable[float]) -> Moments:
        count, total, total_sq = 0, 0.0, 0.0
        for value in values:
            value = _check_finite("value", value)
            count += 1
            total += value
            total_sq += value * value
        return cls(count, total, total_sq)

    def __add__(self, other: Moments) -> Moments:
        return Moments(self.count + other.count, self.total + other.total, self.total_sq + other.total_sq)

    @property
    def mean(self) -> float:
        return self.total / self.count if self.count else 0.0

    @property
    def variance(self) -> float:
        """Sample variance, clamped at zero where rounding would make it negative."""
        if self.count < 2:
            return 0.0
        return max(0.0, (self.total_sq - self.total * self.mean) / (self.count - 1))


def latency_bucket(latency_ms: float) -> int:
    """core.histogram's bucket of a latency, for a value checked to be a real latency."""
    latency_ms = _check_finite("latency_ms", latency_ms)
    if latency_ms < 0:
        raise InvalidInput(f"latency_ms must not be negative, got {latency_ms!r}")
    return histogram.bucket_of(latency_ms)


@dataclass(frozen=True, slots=True)
class LatencyHistogram:
    """Call counts for consecutive latency buckets, starting at bucket `first`.

    Dense rather than sparse: adding windows and ranking them are then plain element-wise passes.
    """

    first: int = 0
    counts: tuple[int, ...] = ()
    total: int = field(init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        _check_count("first", self.first)
        total = sum(self.counts)
        if type(total) is not int or (self.counts and min(self.counts) < 0):
            raise InvalidInput("latency histogram counts must be non-negative whole numbers")
        object.__setattr__(self, "total", total)

    @classmethod
    def of(cls, latencies_ms: Iterable[float]) -> LatencyHistogram:
        counts: dict[int, int] = {}
        for value in latencies_ms:
            index = latency_bucket(value)
            counts[index] = counts.get(index, 0) + 1
        return cls.from_counts(counts)

    @classmethod
    def from_counts(cls, counts: dict[int, int]) -> LatencyHistogram:
        """From {bucket index: count}."""
        if not counts:
            return cls()
        first, last = min(counts), max(counts)
        return cls(first, tuple(map(counts.get, range(first, last + 1), itertools.repeat(0))))

    def __add__(self, other: LatencyHistogram) -> LatencyHistogram:
        if not other.counts:
            return self
        if not self.counts:
            return other
        first, padded_self, padded_other = _aligned(self, other)
        return LatencyHistogram(first, tuple(map(operator.add, padded_self, padded_other)))

    def buckets_at_ranks(self, ranks: Iterable[int]) -> dict[int, int]:
        """Bucket holding the rank-th smallest latency (1-based), for each rank, in one pass."""
        wanted = sorted(set(ranks))
        if wanted and not 1 <= wanted[0] <= wanted[-1] <= self.total:
            raise InvalidInput(f"ranks must be within 1..{self.total}, got {wanted[0]}..{wanted[-1]}")
        cumulative = list(itertools.accumulate(self.counts))
        return {rank: self.first + bisect.bisect_left(cumulative, rank) for rank in wanted}


def _aligned(a: LatencyHistogram, b: LatencyHistogram) -> tuple[int, tuple[int, ...], tuple[int, ...]]:
    """Both histograms' counts over one common bucket range."""
    first = min(a.first, b.first)
    end = max(a.first + len(a.counts), b.first + len(b.counts))

    def pad(h: LatencyHistogram) -> tuple[int, ...]:
        return (0,) * (h.first - first) + h.counts + (0,) * (end - h.first - len(h.counts))

    return first, pad(a), pad(b)


@dataclass(frozen=True, slots=True)
class ArmSample:
    """What one arm (incumbent or candidate) did over a window.

    `latency` should hold successful calls only, so a model that fails fast does not look fast.
    `cost` holds priced calls only; `quality` holds the calls that were scored (0..1).
    """

    calls: int = 0
    successes: int = 0
    latency: LatencyHistogram = field(default_factory=LatencyHistogram)
    cost: Moments = field(default_factory=Moments)
    quality: Moments = field(default_factory=Moments)

    def __post_init__(self) -> None:
        _check_count("calls", self.calls)
        _check_count("successes", self.successes)
        if self.successes > self.calls:
            raise InvalidInput(f"successes ({self.successes}) cannot exceed calls ({self.calls})")

    @classmethod
    def from_calls(
        cls,
        *,
        successes: Iterable[bool],
        latencies_ms: Iterable[float] = (),
        costs: Iterable[float] = (),
        quality: Iterable[float] = (),
    ) -> ArmSample:
        outcomes = [bool(s) for s in successes]
        return cls(
            calls=len(outcomes),
            successes=sum(outcomes),
            latency=LatencyHistogram.of(latencies_ms),
            cost=Moments.of(costs),
            quality=Moments.of(quality),
        )

    def __add__(self, other: ArmSample) -> ArmSample:
        return ArmSample(
            calls=self.calls + other.calls,
            successes=self.successes + other.successes,
            latency=self.latency + other.latency,
            cost=self.cost + other.cost,
            quality=self.quality + other.quality,
        )


@dataclass(frozen=True, slots=True)
class GateConfig:
    """Tolerances and test levels; their values (and defaults) live in config/upgrade.yaml."""

    alpha: float  # one-sided level at which non-inferiority counts as shown, over every look
    fail_alpha: float  # one-sided level at which a regression counts as shown, over every look
    success_margin: float  # absolute, on success rates
    latency_p95_max_ratio: float
    cost_max_ratio: float
    quality_margin: float  # absolute, on 0..1 scores
    min_samples: int  # per arm and gate; below it normal approximations are not trusted

    def __post_init__(self) -> None:
        for name in ("alpha", "fail_alpha"):
            value = getattr(self, name)
            if not 0.0 < value < 0.5:
                raise InvalidInput(f"{name} must be between 0 and 0.5, got {value!r}")
        # A sequential test aims at its tolerance: with none, "no worse" could never be shown.
        for name in ("success_margin", "quality_margin"):
            value = getattr(self, name)
            if not 0.0 < value < 1.0:
                raise InvalidInput(f"{name} must be in (0, 1), got {value!r}")
        for name in ("latency_p95_max_ratio", "cost_max_ratio"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value > 1.0):
                raise InvalidInput(f"{name} must be a finite ratio above 1, got {value!r}")
        _check_count("min_samples", self.min_samples)
        if self.min_samples < 1:
            raise InvalidInput("min_samples must be at least 1: a gate cannot judge an empty arm")


@dataclass(frozen=True, slots=True)
class GateResult:
    """One gate's verdict; `p_value` is its main test, `figures` the numbers behind it."""

    gate: str
    verdict: str
    summary: str
    figures: dict[str, float] = field(default_factory=dict)
    p_value: float | None = None


def evaluate_gates(*, control: ArmSample, candidate: ArmSample, config: GateConfig) -> list[GateResult]:
    """Run every gate that has data to look at; quality only when both arms carry scores."""
    results = [
        _success_rate(control, candidate, config),
        _latency_p95(control, candidate, config),
    ]
    if control.cost.count or candidate.cost.count:
        results.append(_cost_per_call(control, candidate, config))
    if control.quality.count and candidate.quality.count:
        results.append(_quality(control, candidate, config))
    return results


def _too_few(gate: str, what: str, n_control: int, n_candidate: int, config: GateConfig) -> GateResult | None:
    if min(n_control, n_candidate) >= config.min_samples:
        return None
    return GateResult(
        gate=gate,
        verdict="inconclusive",
        summary=(
            f"{gate}: too few {what} to judge yet ({n_candidate} candidate, {n_control} incumbent; "
            f"need {config.min_samples} each)"
        ),
        figures={"n_control": n_control, "n_candidate": n_candidate},
    )


def _verdict(z: float, tau: float, se: float, config: GateConfig) -> tuple[str, float]:
    """z > 0 favours the candidate relative to the tolerance boundary; tau is the tolerance's size."""
    rho = _information(tau, se)
    p_better = always_valid_p(z, (rho,))  # small: non-inferiority shown
    p_worse = always_valid_p(-z, [rho * k * k for k in _FAIL_SCALES])  # small: worse than tolerated
    if p_worse < config.fail_alpha:
        return "fail", p_worse
    if p_better < config.alpha:
        return "pass", p_better
    return "inconclusive", p_better


def _z(difference: float, se: float) -> float:
    """With no spread at all (fixed prices, constant scores) the difference alone decides."""
    if se > 0:
        return difference / se
    return math.inf if difference >= 0 else -math.inf


def _success_rate(control: ArmSample, candidate: ArmSample, config: GateConfig) -> GateResult:
    """Two-proportion non-inferiority z-test, Agresti-Caffo adjusted.

    Adding one success and one failure per arm keeps the variance positive when an arm has no
    failures (common at a 95%+ success rate) and makes tiny samples conservative.
    """
    gate = "success_rate"
    short = _too_few(gate, "calls", control.calls, candidate.calls, config)
    if short:
        return short
    rate_c = control.successes / control.calls
    rate_t = candidate.successes / candidate.calls
    adj_c = (control.successes + 1) / (control.calls + 2)
    adj_t = (candidate.successes + 1) / (candidate.calls + 2)
    se = math.sqrt(adj_c * (1 - adj_c) / (control.calls + 2) + adj_t * (1 - adj_t) / (candidate.calls + 2))
    z = _z(adj_t - adj_c + config.success_margin, se)
    verdict, p = _verdict(z, config.success_margin, se, config)
    diff_points = 100 * (rate_t - rate_c)
    summary = (
        f"success_rate {verdict}: candidate {100 * rate_t:.1f}% vs incumbent {100 * rate_c:.1f}% "
        f"({diff_points:+.1f} points, tolerance -{100 * config.success_margin:g}) over "
        f"{candidate.calls:,}/{control.calls:,} calls, p={p:.2g}"
    )
    figures = {
        "n_control": control.calls,
        "n_candidate": candidate.calls,
        "rate_control": rate_c,
        "rate_candidate": rate_t,
        "difference": rate_t - rate_c,
        "z": z,
    }
    return GateResult(gate, verdict, summary, figures, p)


def _mann_whitney(groups: list[tuple[int, int]]) -> tuple[float, float, float | None]:
    """U of y against x, its z and the standard error of its AUC (None for an empty side), from
    tied groups in ascending order.

    Each group is (count in x, count in y) of equal values. Normal approximation with tie
    correction and a 0.5 continuity correction; computed on the AUC scale so huge samples do not
    overflow.
    """
    in_x, in_y = zip(*groups, strict=True) if groups else ((), ())
    n_x, n_y = sum(in_x), sum(in_y)
    if not n_x or not n_y:
        return 0.0, 0.0, None
    n = n_x + n_y
    # Integer sums (exact at any size) built from C-level map/accumulate: this runs every tick.
    x_below = itertools.accumulate(in_x, initial=0)
    twice_u = 2 * sum(map(operator.mul, in_y, x_below)) + sum(map(operator.mul, in_x, in_y))
    ties = sum(map(pow, map(operator.add, in_x, in_y), itertools.repeat(3))) - n  # sum(t^3 - t)
    # Var(U) / (n_x n_y)^2 = ((N + 1) - ties / (N (N - 1))) / (12 n_x n_y)
    var_auc = ((n + 1) - ties / (n * (n - 1))) / (12.0 * n_x * n_y)
    twice_excess = twice_u - n_x * n_y
    se_auc = math.sqrt(max(var_auc, 0.0))
    if var_auc <= 0 or twice_excess == 0:
        return twice_u / 2, 0.0, se_auc
    corrected = math.copysign(max(abs(twice_excess) / 2 - 0.5, 0.0), twice_excess)
    z = (corrected / n_x / n_y) / se_auc
    return twice_u / 2, z, se_auc


def mann_whitney_u(x: Iterable[float], y: Iterable[float]) -> tuple[float, float, float]:
    """Mann-Whitney U of y against x for raw values: (U, z, one-sided p that y tends larger)."""
    tagged = sorted([(float(v), 0) for v in x] + [(float(v), 1) for v in y])
    groups: list[tuple[int, int]] = []
    previous = None
    for value, side in tagged:
        if value != previous:
            groups.append((0, 0))
            previous = value
        a, b = groups[-1]
        groups[-1] = (a + 1, b) if side == 0 else (a, b + 1)
    u, z, se_auc = _mann_whitney(groups)
    return u, z, 1.0 if se_auc is None else _norm_sf(z)


def _p95_bounds(hist: LatencyHistogram, *, levels: tuple[float, ...]) -> tuple[float, list[tuple[float, float]]]:
    """p95 estimate and, per level, distribution-free bounds valid over every look.

    The count of calls at or below the true p95 is a binomial sum; its confidence sequence (the
    module docstring's mixture, in rank units) gives order-statistic ranks. Bounds use the outer
    bucket edges so bucket width never makes them optimistic; an upper bound is infinite when the
    sample is too small to bound the 95th percentile from above.
    """
    n = hist.total
    q = _P95
    point_rank = max(1, math.ceil(n * q))
    sd = math.sqrt(n * q * (1 - q))
    rho = _information(_QUANTILE_TAU, math.sqrt(q * (1 - q) / n))
    rank_pairs = []
    for level in levels:
        spread = _boundary(level, rho) * sd
        rank_pairs.append((math.floor(n * q - spread), math.ceil(n * q + spread) + 1))
    buckets = hist.buckets_at_ranks(
        [point_rank] + [r for pair in rank_pairs for r in pair if 1 <= r <= n]
    )
    bounds = [
        (
            histogram.bucket_bounds(buckets[low])[0] if low >= 1 else 0.0,
            histogram.bucket_bounds(buckets[high])[1] if high <= n else math.inf,
        )
        for low, high in rank_pairs
    ]
    return histogram.bucket_value(buckets[point_rank]), bounds


def _ratio(a: float, b: float) -> float:
    if b > 0:
        return a / b
    return math.inf if a > 0 else 1.0


def _latency_p95(control: ArmSample, candidate: ArmSample, config: GateConfig) -> GateResult:
    """p95 ratio with confidence bounds, plus Mann-Whitney U on the whole distribution (as Kayenta).

    Pass: the ratio's upper bound is within the limit. Fail: its lower bound is beyond the limit
    and Mann-Whitney confirms the candidate is slower overall, not just in a few tail calls.
    """
    gate = "latency_p95"
    hist_c, hist_t = control.latency, candidate.latency
    short = _too_few(gate, "timed calls", hist_c.total, hist_t.total, config)
    if short:
        return short
    # Each arm's bound at half the level, so the ratio bound holds at the full level.
    levels = (config.alpha / 2, config.fail_alpha / 2)
    p95_c, ((low_c, _), (_, fail_high_c)) = _p95_bounds(hist_c, levels=levels)
    p95_t, ((_, high_t), (fail_low_t, _)) = _p95_bounds(hist_t, levels=levels)
    ratio = _ratio(p95_t, p95_c)
    ratio_high = _ratio(high_t, low_c)
    ratio_low = _ratio(fail_low_t, fail_high_c)
    _, counts_c, counts_t = _aligned(hist_c, hist_t)
    u, z, se_auc = _mann_whitney(list(zip(counts_c, counts_t, strict=True)))
    rho = _information(_AUC_TAU, se_auc or 0.0)
    p_slower = always_valid_p(z, [rho * k * k for k in _FAIL_SCALES])
    limit = config.latency_p95_max_ratio
    if ratio_low > limit and p_slower < config.fail_alpha:
        verdict = "fail"
    elif ratio_high <= limit:
        verdict = "pass"
    else:
        verdict = "inconclusive"
    summary = (
        f"latency_p95 {verdict}: candidate p95 {p95_t:,.0f} ms vs incumbent {p95_c:,.0f} ms "
        f"(ratio {ratio:.2f}, bounds {ratio_low:.2f}..{ratio_high:.2f}, limit {limit:g}) over "
        f"{hist_t.total:,}/{hist_c.total:,} calls, Mann-Whitney p={p_slower:.2g}"
    )
    figures = {
        "n_control": hist_c.total,
        "n_candidate": hist_t.total,
        "p95_control_ms": p95_c,
        "p95_candidate_ms": p95_t,
        "ratio": ratio,
        "ratio_low": ratio_low,
        "ratio_high": ratio_high,
        "mann_whitney_u": u,
        "mann_whitney_z": z,
    }
    return GateResult(gate, verdict, summary, figures, p_slower)


def _welch_se(var_a: float, n_a: int, var_b: float, n_b: int) -> float:
    return math.sqrt(var_a / n_a + var_b / n_b)


def _cost_per_call(control: ArmSample, candidate: ArmSample, config: GateConfig) -> GateResult:
    """Mean cost per priced call within a ratio of the incumbent's (z-test on r*mean_c - mean_t)."""
    gate = "cost_per_call"
    c, t = control.cost, candidate.cost
    short = _too_few(gate, "priced calls", c.count, t.count, config)
    if short:
        return short
    limit = config.cost_max_ratio
    se = _welch_se(limit * limit * c.variance, c.count, t.variance, t.count)
    z = _z(limit * c.mean - t.mean, se)
    # The tolerance in dollars: what the limit allows above the incumbent's mean (plug-in, like
    # the variances), or above the candidate's when the incumbent is free.
    verdict, p = _verdict(z, (limit - 1) * (c.mean or t.mean), se, config)
    ratio = _ratio(t.mean, c.mean)
    summary = (
        f"cost_per_call {verdict}: candidate ${t.mean:.6f} vs incumbent ${c.mean:.6f} per call "
        f"(ratio {ratio:.2f}, limit {limit:g}) over {t.count:,}/{c.count:,} calls, p={p:.2g}"
    )
    figures = {
        "n_control": c.count,
        "n_candidate": t.count,
        "mean_control": c.mean,
        "mean_candidate": t.mean,
        "ratio": ratio,
        "z": z,
    }
    return GateResult(gate, verdict, summary, figures, p)


def _quality(control: ArmSample, candidate: ArmSample, config: GateConfig) -> GateResult:
    """Mean quality score non-inferior within an absolute margin (Welch z-test)."""
    gate = "quality"
    c, t = control.quality, candidate.quality
    short = _too_few(gate, "scored calls", c.count, t.count, config)
    if short:
        return short
    se = _welch_se(c.variance, c.count, t.variance, t.count)
    z = _z(t.mean - c.mean + config.quality_margin, se)
    verdict, p = _verdict(z, config.quality_margin, se, config)
    summary = (
        f"quality {verdict}: candidate mean {t.mean:.3f} vs incumbent {c.mean:.3f} "
        f"({t.mean - c.mean:+.3f}, tolerance -{config.quality_margin:g}) over "
        f"{t.count:,}/{c.count:,} scored calls, p={p:.2g}"
    )
    figures = {
        "n_control": c.count,
        "n_candidate": t.count,
        "mean_control": c.mean,
        "mean_candidate": t.mean,
        "difference": t.mean - c.mean,
        "z": z,
    }
    return GateResult(gate, verdict, summary, figures, p)


@dataclass(frozen=True, slots=True)
class VerdictCounts:
    """A judge's verdicts for the candidate on shadow pairs (the same request answered by both)."""

    wins: int = 0
    ties: int = 0
    losses: int = 0

    def __post_init__(self) -> None:
        for name in ("wins", "ties", "losses"):
            _check_count(name, getattr(self, name))

    @property
    def pairs(self) -> int:
        return self.wins + self.ties + self.losses


def judged_quality(verdicts: VerdictCounts, *, margin: float, config: GateConfig) -> GateResult:
    """Paired non-inferiority on judged pairs: the candidate's loss rate minus its win rate within `margin`.

    Each pair scores +1 (win), 0 (tie) or -1 (loss); the mean is the win rate minus the loss rate,
    and non-inferiority is mean > -margin, tested sequentially like every gate here. One win and one
    loss are added (as Agresti-Caffo adds to proportions) so that all-tie windows keep a variance
    and small ones stay conservative.
    """
    gate = "judged_quality"
    n = verdicts.pairs
    if not 0.0 < margin < 1.0:
        raise InvalidInput(f"margin must be in (0, 1), got {margin!r}")
    short = _too_few(gate, "judged pairs", n, n, config)
    if short:
        return short
    adjusted = n + 2
    mean = (verdicts.wins - verdicts.losses) / adjusted
    variance = (verdicts.wins + verdicts.losses + 2) / adjusted - mean * mean
    se = math.sqrt(variance / adjusted)
    z = _z(mean + margin, se)
    verdict, p = _verdict(z, margin, se, config)
    win_rate, loss_rate = verdicts.wins / n, verdicts.losses / n
    summary = (
        f"judged_quality {verdict}: candidate won {verdicts.wins:,}, tied {verdicts.ties:,}, lost "
        f"{verdicts.losses:,} of {n:,} judged pairs (loss rate - win rate {loss_rate - win_rate:+.3f}, "
        f"tolerance {margin:g}), p={p:.2g}"
    )
    figures = {
        "n_control": n,
        "n_candidate": n,
        "wins": verdicts.wins,
        "ties": verdicts.ties,
        "losses": verdicts.losses,
        "difference": win_rate - loss_rate,
        "z": z,
    }
    return GateResult(gate, verdict, summary, figures, p)
