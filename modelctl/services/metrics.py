"""The Prometheus exposition, computed from the database at scrape time.

Nothing is counted in memory: every figure is SQL over the tables the other commands write
(usage roll-ups, the last hour's usage attempts, providers, models, discovery runs, rollouts,
gate results, the audit log), so `modelctl metrics` from cron and `GET /metrics` from a server
agree, and a restart loses nothing. The cost grows with the daily roll-ups, one row per group and
day (most of it reading their histograms).
Label values are bounded by the catalog and config (model, provider, segment, arm, phase,
status, verdict): never query text, never request ids.

Latency histograms are read off the roll-ups' 2% log buckets into fixed Prometheus buckets; a
log bucket counts towards `le` when its upper edge is within it, so a bucket's count can differ
from the exact one only for calls within 2% of its bound. TTFT's `_sum` is the sum of bucket
middles (within 1%): the roll-ups keep no exact TTFT sum.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from modelctl.core import histogram
from modelctl.store import metrics as repo
from modelctl.store.catalog import as_datetime, model_cooldowns
from modelctl.store.db import Store

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry

# Prometheus bucket bounds in seconds: sub-second refiners up to minute-long research answers.
LATENCY_BUCKETS_S = (0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 3.0, 5.0, 7.0, 10.0, 15.0, 30.0, 60.0)
ATTEMPTS_WINDOW = timedelta(hours=1)
_PROMOTIONS = ("rollout-start", "rollout-promote", "rollout-advance")
_ENDINGS = ("rollout-rollback", "rollout-reject")


def _epoch(value: Any) -> float | None:
    moment = as_datetime(value)
    return None if moment is None else (moment - datetime(1970, 1, 1)).total_seconds()


def _buckets(hist: dict[int, int]) -> list[tuple[str, float]]:
    """Cumulative (le, count) pairs from a log-bucket histogram, +Inf last."""
    edges = [(b, histogram.GROWTH ** b / 1000.0 if b > 0 else 0.001) for b in sorted(hist)]
    out: list[tuple[str, float]] = []
    index, seen = 0, 0
    for bound in LATENCY_BUCKETS_S:
        while index < len(edges) and edges[index][1] <= bound * (1 + 1e-12):
            seen += hist[edges[index][0]]
            index += 1
        out.append((repr(bound), seen))
    out.append(("+Inf", sum(hist.values())))
    return out


class StoreCollector:
    """A prometheus_client collector over one store; `now` gives the time cooldowns count down to."""

    def __init__(self, store: Store, *, now: Callable[[], datetime]) -> None:
        self.store = store
        self.now = now

    def collect(self) -> Iterator[Any]:
        yield from self._usage()
        yield from self._attempts()
        yield from self._health()
        yield from self._catalog()
        yield from self._discovery()
        yield from self._rollouts()

    # ------------------------------------------------------------------ usage

    def _usage(self) -> Iterator[Any]:
        from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily

        calls = CounterMetricFamily("modelctl_calls", "Model calls recorded (every attempt).",
                                    labels=["model", "provider", "segment", "arm"])
        failures = CounterMetricFamily("modelctl_call_failures", "Model calls that failed.",
                                       labels=["model", "provider", "segment", "arm"])
        for model, provider, segment, arm, n, ok in repo.calls_by_arm(self.store):
            labels = [model, provider, segment or "-", arm]
            calls.add_metric(labels, int(n))
            failures.add_metric(labels, int(n) - int(ok))
        yield calls
        yield failures

        tokens_in = CounterMetricFamily("modelctl_input_tokens", "Prompt tokens sent.", labels=["model", "provider"])
        tokens_out = CounterMetricFamily("modelctl_output_tokens", "Completion tokens received.",
                                         labels=["model", "provider"])
        cost = CounterMetricFamily("modelctl_cost_usd", "Cost of recorded calls in USD (priced models).",
                                   labels=["model", "provider"])
        latency = HistogramMetricFamily("modelctl_call_latency_seconds", "End-to-end call latency.",
                                        labels=["model", "provider"])
        ttft = HistogramMetricFamily("modelctl_ttft_seconds", "Time to first token (streamed calls).",
                                     labels=["model", "provider"])
        groups: dict[tuple[str, str], list] = {}
        for model, provider, tin, tout, usd, lat_sum, lat_hist, ttft_hist in repo.daily_rollups(self.store):
            group = groups.setdefault((model, provider), [0, 0, 0.0, 0.0, {}, {}])
            group[0] += tin
            group[1] += tout
            group[2] += usd or 0.0
            group[3] += lat_sum
            histogram.merge_dumped(group[4], lat_hist)
            histogram.merge_dumped(group[5], ttft_hist)
        for (model, provider), (tin, tout, usd, lat_sum, lat_hist, ttft_hist) in groups.items():
            lat_hist, ttft_hist = histogram.int_keys(lat_hist), histogram.int_keys(ttft_hist)
            labels = [model, provider]
            tokens_in.add_metric(labels, int(tin))
            tokens_out.add_metric(labels, int(tout))
            cost.add_metric(labels, round(float(usd), 9))
            latency.add_metric(labels, _buckets(lat_hist), float(lat_sum) / 1000.0)
            if ttft_hist:
                ttft_sum = sum(histogram.bucket_value(b) * n for b, n in ttft_hist.items())
                ttft.add_metric(labels, _buckets(ttft_hist), ttft_sum / 1000.0)
        yield from (tokens_in, tokens_out, cost, latency, ttft)

    def _attempts(self) -> Iterator[Any]:
        """First attempts are the router's choices; later attempts of a request are its fallbacks.

        The roll-ups keep no attempt numbers, so these come from raw usage rows, over the last
        hour only (found through the ts index): counting all history would scan every row ever
        recorded at every scrape.
        """
        from prometheus_client.core import GaugeMetricFamily

        routed = GaugeMetricFamily("modelctl_routed_calls_1h", "Calls in the last hour that were the "
                                   "router's first choice (not shadow copies or judge calls).",
                                   labels=["segment", "model"])
        fallbacks = GaugeMetricFamily("modelctl_fallback_calls_1h", "Calls in the last hour made down the "
                                      "fallback chain after an earlier attempt of the same request failed.",
                                      labels=["segment", "model"])
        for segment, model, first, later in repo.attempts_since(self.store, self.now() - ATTEMPTS_WINDOW):
            labels = [segment or "-", model]
            routed.add_metric(labels, int(first))
            if later:
                fallbacks.add_metric(labels, int(later))
        yield routed
        yield fallbacks

    # ------------------------------------------------------------------ health and catalog

    def _health(self) -> Iterator[Any]:
        from prometheus_client.core import GaugeMetricFamily

        now = self.now()
        up = GaugeMetricFamily("modelctl_provider_up", "1 unless the provider is down (in cooldown after "
                               "a refused key or connection failure).", labels=["provider"])
        streak = GaugeMetricFamily("modelctl_provider_consecutive_failures", "Failures in a row.",
                                   labels=["provider"])
        rest = GaugeMetricFamily("modelctl_provider_cooldown_seconds", "Seconds of cooldown left (0: none).",
                                 labels=["provider"])
        for name, health, failures, until in repo.provider_health(self.store):
            left = _seconds_left(until, now)
            up.add_metric([name], 0 if health == "down" and left > 0 else 1)
            streak.add_metric([name], int(failures or 0))
            rest.add_metric([name], left)
        yield from (up, streak, rest)

        model_rest = GaugeMetricFamily("modelctl_model_cooldown_seconds", "Seconds of cooldown left for "
                                       "models resting after repeated failures.", labels=["model", "provider"])
        for model, provider, until in model_cooldowns(self.store):
            left = _seconds_left(until, now)
            if left > 0:
                model_rest.add_metric([model, provider], left)
        yield model_rest

    def _catalog(self) -> Iterator[Any]:
        from prometheus_client.core import GaugeMetricFamily

        models = GaugeMetricFamily("modelctl_models", "Catalog models by lifecycle status.",
                                   labels=["provider", "status"])
        for provider, status, n in repo.models_by_status(self.store):
            models.add_metric([provider, status], int(n))
        yield models

    # ------------------------------------------------------------------ lifecycle

    def _discovery(self) -> Iterator[Any]:
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

        runs = CounterMetricFamily("modelctl_discovery_runs", "Provider listings by discover.", labels=["provider"])
        errors = CounterMetricFamily("modelctl_discovery_failures", "Provider listings that failed.",
                                     labels=["provider"])
        new = CounterMetricFamily("modelctl_discovered_models", "New models discover added as candidates.",
                                  labels=["provider"])
        found = GaugeMetricFamily("modelctl_discovery_models_found", "Models the provider's last listing held.",
                                  labels=["provider"])
        last = GaugeMetricFamily("modelctl_discovery_last_run_timestamp_seconds",
                                 "When the provider was last listed (Unix time).", labels=["provider"])
        for provider, n, failed, added, last_found, last_ts in repo.discovery_totals(self.store):
            runs.add_metric([provider], int(n))
            errors.add_metric([provider], int(failed))
            new.add_metric([provider], int(added))
            found.add_metric([provider], int(last_found))
            if (moment := _epoch(last_ts)) is not None:
                last.add_metric([provider], moment)
        yield from (runs, errors, new, found, last)

    def _rollouts(self) -> Iterator[Any]:
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

        phases = GaugeMetricFamily("modelctl_rollouts", "Rollouts by phase.", labels=["phase"])
        for phase, n in repo.rollouts_by_phase(self.store):
            phases.add_metric([phase], int(n))
        traffic = GaugeMetricFamily("modelctl_rollout_traffic_percent", "Share of its segments' requests a "
                                    "candidate in an active rollout gets.", labels=["model", "phase"])
        for model, phase, pct in repo.active_traffic(self.store):
            traffic.add_metric([model, phase], float(pct))
        gates = CounterMetricFamily("modelctl_gate_results", "Gate verdicts on rollouts' windows.",
                                    labels=["model", "phase", "verdict"])
        for model, phase, verdict, n in repo.gate_verdicts(self.store):
            gates.add_metric([model, phase, verdict], int(n))
        yield from (phases, traffic, gates)

        promotions = CounterMetricFamily("modelctl_promotions", "Rollouts started or promoted, by the phase "
                                         "entered (manual and by upgrade tick).", labels=["model", "phase"])
        rollbacks = CounterMetricFamily("modelctl_rollbacks", "Rollouts rolled back or rejected, by the phase "
                                        "they left.", labels=["model", "phase"])
        counts: dict[tuple[str, str, str], int] = {}
        for action, model, before, after in repo.audit_of(self.store, _PROMOTIONS + _ENDINGS):
            kind = "promotion" if action in _PROMOTIONS else "rollback"
            phase = _json_field(after if kind == "promotion" else before, "phase")
            key = (kind, model, phase)
            counts[key] = counts.get(key, 0) + 1
        for (kind, model, phase), n in sorted(counts.items()):
            (promotions if kind == "promotion" else rollbacks).add_metric([model, phase], n)
        yield from (promotions, rollbacks)


def _seconds_left(until: Any, now: datetime) -> float:
    moment = as_datetime(until)
    return 0.0 if moment is None else max(0.0, round((moment - now).total_seconds(), 3))


def _json_field(text: str | None, name: str) -> str:
    try:
        value = json.loads(text or "{}").get(name)
    except (ValueError, AttributeError):
        value = None
    return str(value) if value is not None else "-"


def registry_for(store: Store, *, now: Callable[[], datetime], extra: Iterable[Any] = ()) -> CollectorRegistry:
    """A CollectorRegistry holding the store's figures (and `extra` collectors, e.g. a server's own)."""
    from prometheus_client import CollectorRegistry

    registry = CollectorRegistry(auto_describe=False)
    registry.register(StoreCollector(store, now=now))
    for collector in extra:
        registry.register(collector)
    return registry


def exposition(store: Store, *, now: Callable[[], datetime]) -> str:
    """The text format (version 0.0.4) Prometheus and node_exporter's textfile collector read."""
    from prometheus_client import generate_latest

    return generate_latest(registry_for(store, now=now)).decode("utf-8")


def as_json(store: Store, *, now: Callable[[], datetime]) -> list[dict[str, Any]]:
    """The same figures for programs: one entry per metric family with its samples."""
    return [
        {
            "name": family.name,
            "type": family.type,
            "help": family.documentation,
            "samples": [
                {"name": s.name, "labels": s.labels, "value": None if math.isnan(s.value) else s.value}
                for s in family.samples
            ],
        }
        for family in registry_for(store, now=now).collect()
    ]
