"""`modelctl discover`: ask every configured provider which models exist, add the new pinned chat
models as candidates, and carry announced end dates onto the models the catalog already has.

Providers are listed at the same time, each on its own thread (the adapters are synchronous), and
waited for up to `timeout_s`; one that fails or is late is reported and the others' results are
kept. Everything is written in one transaction at the end, after all listings are in.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date
from typing import Any

from modelctl import clock
from modelctl.core import pricemap
from modelctl.core.catalog import ModelSpec
from modelctl.core.discovery import (
    DiscoveredModel,
    StabilityRules,
    is_candidate,
    parse_models,
)
from modelctl.errors import ModelctlError, NotFound
from modelctl.paths import actor
from modelctl.store import catalog as repo
from modelctl.store import discovery as runs
from modelctl.store.db import Store

# by a kind's listing format: the key its list-models body keeps its items under (None: a bare array)
_ENVELOPES = {"openai": "data", "anthropic": "data", "ollama": "models", "huggingface": None,
              "openrouter": "data"}


@dataclass(frozen=True)
class Listing:
    """One provider's answer: its models read, or the error that stopped it."""

    provider: str
    source: str
    models: tuple[DiscoveredModel, ...] = ()
    skipped: tuple[str, ...] = ()
    error: str | None = None
    duration_ms: float | None = None


@dataclass(frozen=True)
class Outcome:
    """What discovery made of one listed model, and why."""

    model: DiscoveredModel
    action: str  # new | updated | known | ignored
    why: str
    candidate: bool = False
    price_source: str | None = None  # provider | price map | unpriced (new models only)
    changes: dict[str, tuple[object, object]] = field(default_factory=dict)
    spec: ModelSpec | None = None  # the catalog record to write (new and updated models)

    def as_dict(self) -> dict[str, Any]:
        m = self.model
        return {
            "model_id": m.model_id,
            "action": self.action,
            "why": self.why,
            "candidate": self.candidate,
            "chat_usable": m.chat_usable,
            "not_chat_reason": m.not_chat_reason,
            "stability": m.stability,
            "stability_reason": m.stability_reason,
            "price_source": self.price_source,
            "deprecation_date": m.deprecation_date.isoformat() if m.deprecation_date else None,
            "changes": {name: {"before": old, "after": new} for name, (old, new) in self.changes.items()},
        }


@dataclass
class ProviderReport:
    listing: Listing
    outcomes: list[Outcome] = field(default_factory=list)

    def count(self, action: str) -> int:
        return sum(1 for outcome in self.outcomes if outcome.action == action)

    def as_dict(self) -> dict[str, Any]:
        listing = self.listing
        return {
            "provider": listing.provider,
            "source": listing.source,
            "error": listing.error,
            "found": len(listing.models),
            "new": self.count("new"),
            "updated": self.count("updated"),
            "duration_ms": None if listing.duration_ms is None else round(listing.duration_ms, 1),
            "skipped": list(listing.skipped),
            "models": [outcome.as_dict() for outcome in self.outcomes],
        }


@dataclass
class DiscoveryReport:
    dry_run: bool
    providers: list[ProviderReport]

    @property
    def failed(self) -> list[ProviderReport]:
        return [p for p in self.providers if p.listing.error is not None]

    @property
    def all_failed(self) -> bool:
        return len(self.failed) == len(self.providers)

    def as_dict(self) -> dict[str, Any]:
        return {"dry_run": self.dry_run, "providers": [p.as_dict() for p in self.providers]}


def discover(
    store: Store,
    *,
    providers: Sequence[str] = (),
    dry_run: bool = False,
    timeout_s: float | None = None,
    on_listed: Callable[[Listing], None] | None = None,
) -> DiscoveryReport:
    """List `providers` (default: every configured one), then record what is new or changed.

    `on_listed` is called in the caller's thread as each provider's listing arrives (progress).
    """
    from modelctl.config import load_discovery, load_providers

    settings = load_discovery()
    configured = load_providers()
    unknown = sorted(set(providers) - set(configured))
    if unknown:
        raise NotFound(f"unknown provider {', '.join(unknown)}; configured: {', '.join(sorted(configured))}")
    chosen = {name: configured[name] for name in sorted(set(providers) or configured)}
    rules = settings.stability.rules()
    listings = list_all(
        chosen, timeout_s=timeout_s or settings.timeout_s, limits={n: settings.limit_for(n) for n in chosen},
        rules=rules, on_listed=on_listed,
    )
    entries = _price_entries(settings.price_map) if settings.price_map else {}
    catalog = {spec.model_id: spec for spec in repo.list_models(store)}
    kinds = {name: cfg.kind for name, cfg in configured.items()}
    report = DiscoveryReport(
        dry_run=dry_run,
        providers=[_plan(listing, catalog=catalog, entries=entries, kind=kinds[listing.provider], rules=rules)
                   for listing in listings],
    )
    if not dry_run:
        _record(store, report)
    return report


def candidates(store: Store, *, provider: str | None = None) -> list[dict[str, Any]]:
    """Candidate models (never routed to until a rollout promotes them), newest finds first."""
    return runs.list_candidates(store, provider=provider)


def list_all(
    providers: Mapping[str, Any],
    *,
    timeout_s: float,
    limits: Mapping[str, int],
    rules: StabilityRules,
    on_listed: Callable[[Listing], None] | None = None,
) -> list[Listing]:
    """Every provider's listing, in name order; one still running after `timeout_s` is reported
    as timed out (its daemon thread is abandoned, bounded by the same per-request timeout)."""
    results: queue.Queue[Listing | BaseException] = queue.Queue()

    def work(name: str, cfg: Any) -> None:
        try:
            results.put(_list_one(name, cfg, timeout_s=timeout_s, limit=limits[name], rules=rules))
        except BaseException as exc:  # noqa: BLE001 - even a bug: handed to the caller's thread, raised there
            results.put(exc)

    for name, cfg in providers.items():
        threading.Thread(target=work, args=(name, cfg), name=f"discover-{name}", daemon=True).start()
    deadline = time.monotonic() + timeout_s
    done: dict[str, Listing] = {}
    while len(done) < len(providers):
        try:
            item = results.get(timeout=max(0.0, deadline - time.monotonic()))
        except queue.Empty:
            break
        if isinstance(item, BaseException):
            raise item
        done[item.provider] = item
        if on_listed is not None:
            on_listed(item)
    for name, cfg in providers.items():
        if name not in done:
            late = Listing(name, _source(name, cfg), error=f"timed out: no complete listing after {timeout_s:g}s",
                           duration_ms=timeout_s * 1000)
            done[name] = late
            if on_listed is not None:
                on_listed(late)
    return [done[name] for name in sorted(done)]


def _source(name: str, cfg: Any) -> str:
    """The listing endpoint, recorded as where a model was found."""
    try:
        return cfg.settings(name).list_models_url()
    except ModelctlError:
        return f"{name} (no base URL)"


def _list_one(name: str, cfg: Any, *, timeout_s: float, limit: int, rules: StabilityRules) -> Listing:
    from modelctl.providers.calls import list_models

    start = time.perf_counter()
    source = _source(name, cfg)
    settings = cfg.settings(name)
    kind = settings.rules.listing_format
    try:
        items = list_models(settings, timeout_s=timeout_s, limit=limit)
        key = _ENVELOPES[kind]
        page = parse_models(kind, items if key is None else {key: items}, rules=rules)
    except ModelctlError as exc:
        return Listing(name, source, error=str(exc), duration_ms=(time.perf_counter() - start) * 1000)
    models = tuple(replace(m, provider=name) for m in page.models) if name != kind else page.models
    return Listing(
        name, source, models=models,
        skipped=tuple(f"{item.ref}: {item.reason}" for item in page.skipped),
        duration_ms=(time.perf_counter() - start) * 1000,
    )


def _price_entries(source: str) -> Mapping[str, pricemap.PriceEntry]:
    from modelctl.services.prices import read_price_map

    return read_price_map(source)


def _plan(
    listing: Listing,
    *,
    catalog: dict[str, ModelSpec],
    entries: Mapping[str, pricemap.PriceEntry],
    kind: str,
    rules: StabilityRules,
) -> ProviderReport:
    """Decide each listed model's fate; `catalog` gains the new candidates so that a model listed
    twice (two pages, two providers) is added once."""
    report = ProviderReport(listing)
    seen: set[str] = set()
    for model in listing.models:
        if model.model_id in seen:
            continue
        seen.add(model.model_id)
        entry = pricemap.lookup(entries, model.model_id, kind) if entries else None
        known = catalog.get(model.model_id)
        if known is not None:
            report.outcomes.append(_known(model, known, entry))
            continue
        outcome = _new(model, entry, rules)
        report.outcomes.append(outcome)
        if outcome.spec is not None:
            catalog[model.model_id] = outcome.spec
    return report


def _known(model: DiscoveredModel, known: ModelSpec, entry: pricemap.PriceEntry | None) -> Outcome:
    if known.provider != model.provider:
        return Outcome(model, "ignored", f"already in the catalog as a {known.provider} model")
    end = model.deprecation_date or (entry.deprecation_date if entry else None)
    successor = entry.successor if entry else None
    changes: dict[str, tuple[object, object]] = {}
    if end is not None and end != known.deprecation_date:
        changes["deprecation_date"] = (known.deprecation_date, end)
    if successor is not None and successor != known.successor:
        changes["successor"] = (known.successor, successor)
    if changes:
        spec = replace(known, deprecation_date=known.deprecation_date if end is None else end,
                       successor=known.successor if successor is None else successor)
        return Outcome(model, "updated", "in the catalog; the provider or price map announces its end",
                       changes=changes, spec=spec)
    return Outcome(model, "known", "already in the catalog")


def _new(model: DiscoveredModel, entry: pricemap.PriceEntry | None, rules: StabilityRules) -> Outcome:
    if not model.chat_usable:
        return Outcome(model, "ignored", f"not for chat: {model.not_chat_reason}")
    if not is_candidate(model, rules):
        if model.stability != "pinned":
            return Outcome(model, "ignored", f"{model.stability}: {model.stability_reason}")
        end = model.deprecation_date or model.deprecated_at
        return Outcome(model, "ignored", f"already announced for retirement ({end})")
    if entry is not None and entry.deprecation_date is not None:
        return Outcome(model, "ignored", f"the price map gives an end date ({entry.deprecation_date})")
    spec = model.to_spec()
    if spec.priced:
        price_source = "provider"
    elif entry is not None and entry.input_cost_per_1k is not None and entry.output_cost_per_1k is not None:
        spec = _fill_from_map(spec, entry)
        price_source = "price map"
    else:
        price_source = "unpriced"
    why = f"candidate: serves chat and {model.stability_reason}"
    return Outcome(model, "new", why, candidate=True, price_source=price_source, spec=spec)


def _fill_from_map(spec: ModelSpec, entry: pricemap.PriceEntry) -> ModelSpec:
    """The map fills what the provider's listing left out; the provider's own figures stay."""
    caps = set(spec.capabilities)
    if entry.supports_vision:
        caps.add("multimodal")
    if entry.supports_function_calling:
        caps.update(("function_calling", "tool_use"))
    context = spec.max_context_tokens or entry.context_window
    if context is not None and context >= pricemap.LONG_CONTEXT_TOKENS:
        caps.add("long_context")
    return replace(
        spec,
        capabilities=frozenset(caps),
        input_cost_per_1k=entry.input_cost_per_1k,
        output_cost_per_1k=entry.output_cost_per_1k,
        max_context_tokens=context,
        max_output_tokens=spec.max_output_tokens or entry.max_output_tokens,
        successor=entry.successor,
    )


def _record(store: Store, report: DiscoveryReport) -> None:
    now = clock.now()
    who = actor()
    updated = [o.spec for p in report.providers for o in p.outcomes if o.action == "updated" and o.spec]
    found = [(o.spec, o.model.stability, p.listing.source)
             for p in report.providers for o in p.outcomes if o.action == "new" and o.spec]
    with store.write() as conn:
        repo.upsert_models(conn, updated, now=now)
        runs.insert_found(conn, found, now=now)
        for provider in report.providers:
            listing = provider.listing
            runs.insert_run(conn, provider=listing.provider, found=len(listing.models),
                            new=provider.count("new"), updated=provider.count("updated"),
                            error=listing.error, duration_ms=listing.duration_ms, now=now)
            new_ids = [o.model.model_id for o in provider.outcomes if o.action == "new"]
            if new_ids:
                repo.write_audit(conn, actor=who, action="discover", target=listing.provider,
                                 after={"candidates": new_ids, "from": listing.source}, now=now)
            for outcome in provider.outcomes:
                if outcome.action == "updated":
                    repo.write_audit(
                        conn, actor=who, action="deprecation", target=outcome.model.model_id,
                        before={name: _text(old) for name, (old, _) in outcome.changes.items()},
                        after={name: _text(new) for name, (_, new) in outcome.changes.items()},
                        now=now,
                    )


def _text(value: object) -> object:
    return value.isoformat() if isinstance(value, date) else value
