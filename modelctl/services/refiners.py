"""`modelctl refiners sweep`: measure each refiner's latency and put the ones that keep the
refinement budget first in every refinement chain.

policy.yaml is bundled and never rewritten, so the new order lives in the `refinement_order` table
and routing applies it (`services.routing.refinement_chains`, kept there so that `modelctl route`
does not import this module). The order is the policy's chain with the refiners whose measured p50
and p95 are within the chain's `budget_ms` / `p95_budget_ms` moved to the front, fastest p95 first;
every other member keeps its policy position relative to the rest.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from modelctl import clock
from modelctl.services.routing import load_routing_config, refinement_chains
from modelctl.store.db import Store

# What usage the sweep reads, and how many calls make a p95 worth trusting (as routing's own measure).
WINDOW = timedelta(days=7)
MIN_CALLS = 20
PROBE_CALLS = 5
PROBE_TIMEOUT_S = 5.0
PROBE_PROMPT = "Reply with the single word OK."
PROBE_SEGMENT = "refiners:probe"


@dataclass(frozen=True)
class Measurement:
    model_id: str
    calls: int
    p50_ms: float | None
    p95_ms: float | None
    source: str  # "usage" | "probe"
    note: str | None = None  # why there is no usable figure

    @property
    def usable(self) -> bool:
        return self.note is None and self.p95_ms is not None

    def meets(self, *, budget_ms: float, p95_budget_ms: float) -> bool:
        p50, p95 = self.p50_ms, self.p95_ms
        return self.usable and p50 is not None and p95 is not None and p50 <= budget_ms and p95 <= p95_budget_ms

    def as_dict(self) -> dict[str, Any]:
        return {"model_id": self.model_id, "calls": self.calls, "p50_ms": self.p50_ms, "p95_ms": self.p95_ms,
                "source": self.source, "note": self.note}


@dataclass
class ChainOrder:
    name: str
    budget_ms: int
    p95_budget_ms: int
    before: tuple[str, ...]
    after: tuple[str, ...]
    meeting: tuple[str, ...]  # members within both budgets, fastest p95 first
    applied: bool = False

    @property
    def changed(self) -> bool:
        return self.after != self.before

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "budget_ms": self.budget_ms, "p95_budget_ms": self.p95_budget_ms,
                "before": list(self.before), "after": list(self.after), "within_budget": list(self.meeting),
                "changed": self.changed, "applied": self.applied}


@dataclass
class SweepReport:
    now: datetime
    dry_run: bool
    probed: bool
    measurements: list[Measurement]
    chains: list[ChainOrder]

    def as_dict(self) -> dict[str, Any]:
        return {"now": clock.rfc3339(self.now), "dry_run": self.dry_run, "probed": self.probed,
                "measurements": [m.as_dict() for m in self.measurements],
                "chains": [c.as_dict() for c in self.chains]}


def measure_from_usage(store: Store, model_ids: Iterable[str], *, now: datetime) -> list[Measurement]:
    """p50/p95 from the hourly roll-up histograms of the last WINDOW, every arm and segment."""
    from modelctl.core import histogram
    from modelctl.store.routing import hourly_latencies
    from modelctl.store.usage import hour_of

    wanted = list(dict.fromkeys(model_ids))
    hists: dict[str, dict[int, int]] = {m: {} for m in wanted}
    calls = dict.fromkeys(wanted, 0)
    for model_id, n, hist in hourly_latencies(store, wanted, since=hour_of(now - WINDOW)):
        calls[model_id] += int(n)
        histogram.merge(hists[model_id], histogram.loads(hist))
    out = []
    for model_id in wanted:
        n = calls[model_id]
        note = None if n >= MIN_CALLS else f"{n} calls in the last {WINDOW.days} days; {MIN_CALLS} needed"
        out.append(Measurement(model_id, n, histogram.percentile(hists[model_id], 0.5),
                               histogram.percentile(hists[model_id], 0.95), "usage", note))
    return out


def measure_by_probing(store: Store, model_ids: Iterable[str], *, calls: int = PROBE_CALLS) -> list[Measurement]:
    """A few short real calls per model through run's path (recorded as usage like any call)."""
    from modelctl.core import histogram
    from modelctl.services.health import provider_settings
    from modelctl.services.offline_eval import call_model
    from modelctl.store import catalog as catalog_repo

    providers = provider_settings(load_routing_config()["providers"])
    models = {spec.model_id: spec for spec in catalog_repo.list_models(store)}
    out = []
    for model_id in dict.fromkeys(model_ids):
        settings = providers.get(models[model_id].provider)
        if settings is None or settings.key_missing():
            why = "not configured" if settings is None else f"has no API key (set {settings.key_env})"
            out.append(Measurement(model_id, 0, None, None, "probe", f"not probed: provider {why}"))
            continue
        answers = [call_model(store, model_id, PROBE_PROMPT, models=models, providers=providers,
                              budget_s=PROBE_TIMEOUT_S, segment=PROBE_SEGMENT, max_tokens=5)
                   for _ in range(calls)]
        failed = [a for a in answers if a.error is not None]
        hist = histogram.from_values(a.latency_ms for a in answers if a.error is None)
        note = f"{len(failed)} of {calls} probe calls failed: {failed[0].error}" if failed else None
        out.append(Measurement(model_id, calls - len(failed), histogram.percentile(hist, 0.5),
                               histogram.percentile(hist, 0.95), "probe", note))
    return out


def reorder(configured: Sequence[str], measured: Mapping[str, Measurement], *, budget_ms: float,
            p95_budget_ms: float) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(new chain, the members within budget). Ties on p95 keep policy order."""
    chain = tuple(dict.fromkeys(configured))
    meeting = sorted(
        (m for m in chain if m in measured and measured[m].meets(budget_ms=budget_ms, p95_budget_ms=p95_budget_ms)),
        key=lambda m: measured[m].p95_ms or 0.0,  # meets() implies a p95
    )
    return tuple(meeting) + tuple(m for m in chain if m not in meeting), tuple(meeting)


def sweep(store: Store, *, probe: bool = False, dry_run: bool = False) -> SweepReport:
    """Measure every refiner (catalog `is_refiner` and every refinement chain member), reorder each
    chain, and store and audit the chains whose order changed (nothing written under `dry_run`)."""
    from modelctl.paths import actor
    from modelctl.store import catalog as catalog_repo

    now = clock.now()
    configured = load_routing_config()["policy"]["refinement"]
    catalog = {spec.model_id: spec for spec in catalog_repo.list_models(store)}
    members = [m for r in configured.values() for m in r["chain"]]
    model_ids = [m for m in dict.fromkeys([*(s.model_id for s in catalog.values() if s.is_refiner), *members])
                 if m in catalog]
    measurements = (measure_by_probing(store, model_ids) if probe
                    else measure_from_usage(store, model_ids, now=now))
    measured = {m.model_id: m for m in measurements}
    current = refinement_chains(store, configured)
    chains = []
    for name, r in configured.items():
        after, meeting = reorder(r["chain"], measured, budget_ms=r["budget_ms"], p95_budget_ms=r["p95_budget_ms"])
        chains.append(ChainOrder(name, r["budget_ms"], r["p95_budget_ms"], current[name], after, meeting))
    changed = [c for c in chains if c.changed]
    if changed and not dry_run:
        _write(store, changed, measured, now=now, who=actor())
    return SweepReport(now, dry_run, probe, measurements, chains)


def _write(store: Store, changed: list[ChainOrder], measured: Mapping[str, Measurement], *, now: datetime,
           who: str) -> None:
    from modelctl.store.catalog import write_audit
    from modelctl.store.routing import save_refinement_orders

    with store.write() as conn:
        save_refinement_orders(conn, {c.name: c.after for c in changed}, now=now)
        for c in changed:
            evidence = {m: measured[m].as_dict() for m in c.after if m in measured}
            write_audit(conn, actor=who, action="refiners-reorder", target=f"refinement:{c.name}",
                        before={"chain": list(c.before)},
                        after={"chain": list(c.after), "within_budget": list(c.meeting), "budget_ms": c.budget_ms,
                               "p95_budget_ms": c.p95_budget_ms, "measurements": evidence},
                        now=now)
    for c in changed:
        c.applied = True
