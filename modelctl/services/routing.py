"""Routing use cases: assemble the routing state from config and store, decide, explain.

This is the hot path (`modelctl route`, gateways calling thousands of times a day), so it imports
neither pydantic, yaml, SQLAlchemy nor the SDKs: the policy files are validated once by the typed
loader and cached as JSON keyed by their modification times; the store is read through sqlite3
(store/routing.py, store/scores.py).
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from modelctl import __version__
from modelctl.core.classify import Classification, classify
from modelctl.core.quality import estimate
from modelctl.core.routing import (
    MAX_REMEMBERED,
    Decision,
    ProviderState,
    RefinementPolicy,
    RouteRequest,
    RoutingState,
    SegmentPolicy,
    latency_budget_s,
    route,
    route_many,
    route_refinement,
    validate_objective,
    validate_query,
)
from modelctl.errors import InvalidInput
from modelctl.paths import config_path, home_dir
from modelctl.providers.base import provider_settings
from modelctl.store import catalog as catalog_repo
from modelctl.store.catalog import as_datetime
from modelctl.store.db import Store
from modelctl.store.routing import mean_latencies, refinement_orders, routing_generation
from modelctl.store.scores import score_totals

# Measured latency replaces the catalog prior once a model has this many recent calls.
MIN_LATENCY_SAMPLES = 20
LATENCY_WINDOW = timedelta(days=7)
# How stale the measured latencies of a cached routing state may grow (cached_routing_state).
LATENCY_REFRESH_S = 10.0
_CONFIG_FILES = ("policy.yaml", "providers.yaml")


_loaded: dict[str, Any] = {}  # this process's last config and routing state, with what they were read from


def load_routing_config() -> dict[str, Any]:
    """policy.yaml and providers.yaml, validated; from a JSON cache when the files are unchanged."""
    paths = [config_path(name) for name in _CONFIG_FILES]
    stats = [(path, _stat(path)) for path in paths]
    stamp = [__version__] + [[str(path), s.st_mtime_ns, s.st_size] for path, s in stats if s]
    if _loaded.get("config_stamp") == stamp:
        return _loaded["config"]
    _loaded.update(config_stamp=stamp, config=_read_config(paths, stamp))
    return _loaded["config"]


def _stat(path: Path) -> os.stat_result | None:
    try:
        return path.stat()
    except OSError:
        return None


def _read_config(paths: list, stamp: list) -> dict[str, Any]:
    cache = home_dir() / "cache" / "routing-config.json"
    try:
        cached = json.loads(cache.read_text(encoding="utf-8"))
        if cached["stamp"] == json.loads(json.dumps(stamp)):
            return cached["config"]
    except (OSError, ValueError, KeyError, TypeError):
        pass
    from modelctl.config import load_policy, load_providers

    config = {
        "policy": load_policy(paths[0]).model_dump(mode="json"),
        "providers": {name: p.model_dump(mode="json") for name, p in load_providers(paths[1]).items()},
    }
    try:
        cache.parent.mkdir(parents=True, exist_ok=True)
        tmp = cache.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps({"stamp": stamp, "config": config}), encoding="utf-8")
        os.replace(tmp, cache)
    except OSError:
        pass  # a read-only home only costs the validation next time
    return config


def keyed_providers(config: dict[str, Any]) -> dict[str, bool]:
    """Provider name -> whether the key it needs is set (providers that need none count as set),
    as the provider's kind rules it: the same answer `run` gets before calling."""
    return {name: not s.key_missing() for name, s in provider_settings(config["providers"]).items()}


def _quality(store: Store) -> dict[tuple[str, str], Any]:
    return {(segment, model_id): estimate(s, sq, n) for segment, model_id, s, sq, n, _ in score_totals(store)}


def apply_order(configured: Sequence[str], stored: Sequence[str] | None) -> tuple[str, ...]:
    """The stored order over the configured chain: members it names first, in its order; models the
    policy gained since the sweep follow in policy order; models the policy dropped stay out."""
    members = set(configured)
    return tuple(dict.fromkeys([*(m for m in stored or () if m in members), *configured]))


def refinement_chains(store: Store, configured: Mapping[str, Mapping[str, Any]]) -> dict[str, tuple[str, ...]]:
    """Each policy refinement chain as routing should try it (policy.yaml's `refinement:` as dicts),
    in the order `modelctl refiners sweep` stored (services/refiners.py)."""
    stored = refinement_orders(store)
    return {name: apply_order(tuple(r["chain"]), stored.get(name)) for name, r in configured.items()}


def routing_state(store: Store, config: dict[str, Any], *, now: datetime) -> RoutingState:
    policy = config["policy"]
    default_ratio, default_weight = policy["min_quality_ratio"], policy["cost_weight"]
    settings = provider_settings(config["providers"])
    health = catalog_repo.provider_states(store)
    cooldowns = {model_id: as_datetime(until) for model_id, _, until in catalog_repo.model_cooldowns(store)}
    from modelctl.store.rollouts import routing_rollouts, substitute

    # Shadow/canary rollouts become arms; full ones put their candidate in the incumbent's place.
    arms, full = routing_rollouts(store)
    return RoutingState(
        models={spec.model_id: spec for spec in catalog_repo.list_models(store)},
        providers={
            name: ProviderState(name, key_present=not s.key_missing(),
                                cooldown_until=health.get(name, {}).get("cooldown_until"), key_env=s.key_env)
            for name, s in settings.items()
        },
        model_cooldowns={m: until for m, until in cooldowns.items() if until},
        quality=_quality(store),
        policies={
            name: SegmentPolicy(
                name=name,
                chain=substitute(tuple(seg["chain"]), name, full),
                budget_seconds=seg["budget_seconds"],
                objective=seg["objective"],
                min_quality_ratio=seg["min_quality_ratio"] or default_ratio,
                cost_weight=default_weight if seg["cost_weight"] is None else seg["cost_weight"],
                fallback_to_capable=seg["fallback_to_capable"],
            )
            for name, seg in policy["segments"].items()
        },
        refinement={
            name: RefinementPolicy(name=name, chain=chain, budget_ms=policy["refinement"][name]["budget_ms"],
                                   p95_budget_ms=policy["refinement"][name]["p95_budget_ms"])
            for name, chain in refinement_chains(store, policy["refinement"]).items()
        },
        latency=_measured_latency(store, now=now),
        rollouts=tuple(arms),
    )


def cached_routing_state(store: Store, config: dict[str, Any], *, now: datetime) -> RoutingState:
    """The routing state, re-read only when what it is made of changed.

    The database counts the changes routing cares about (the catalog, cooldowns, scores, rollouts,
    refinement orders: store.routing.routing_generation), so a server that writes a usage row per
    call keeps its state. Measured latency moves with every usage row; it is re-read at most every
    LATENCY_REFRESH_S, which a mean over days can afford. The core compares cooldowns with each
    request's own time, so a cached state stays correct as time passes.
    """
    key = (store, routing_generation(store), id(config), tuple(sorted(keyed_providers(config).items())),
           now.date(), now.hour)
    if _loaded.get("state_key") != key:
        _loaded.update(state_key=key, state=routing_state(store, config, now=now), latency_read=time.monotonic())
    elif time.monotonic() - _loaded["latency_read"] > LATENCY_REFRESH_S:
        state = _loaded["state"]
        latency = _measured_latency(store, now=now)
        _loaded.update(latency_read=time.monotonic(),
                       state=state if latency == state.latency else replace(state, latency=latency))
    return _loaded["state"]


def _measured_latency(store: Store, *, now: datetime) -> dict[str, float]:
    return mean_latencies(store, since=now - LATENCY_WINDOW, min_calls=MIN_LATENCY_SAMPLES)


@dataclass
class Router:
    """Loaded once per process; decides many queries against the same state."""

    store: Store
    config: dict[str, Any]
    state: RoutingState
    now: datetime
    ignore_keys: bool
    notes: list[str]

    @classmethod
    def load(cls, store: Store, *, now: datetime, ignore_keys: bool = False) -> Router:
        config = load_routing_config()
        notes = []
        keyed = [(s.key_env, s) for s in provider_settings(config["providers"]).values() if s.key_env is not None]
        if not ignore_keys and all(s.key_missing() for _, s in keyed):
            ignore_keys = True
            notes.append(
                f"no provider API key is set ({', '.join(env for env, _ in keyed)}); routing as if they were "
                "(--ignore-keys). Set one to route to what you can actually call."
            )
        return cls(store, config, cached_routing_state(store, config, now=now), now, ignore_keys, notes)

    @property
    def max_query_chars(self) -> int:
        return self.config["policy"]["max_query_chars"]

    def request(self, query: str, *, attachments: Iterable[str] = (), segment: str | None = None,
                require: Iterable[str] = (), max_cost: float | None = None, deadline_ms: int | None = None,
                objective: str | None = None, min_quality_ratio: float | None = None,
                cost_weight: float | None = None, request_id: str | None = None) -> RouteRequest:
        """User input into a RouteRequest. The core checks the query (against the configured
        limit), the capabilities and the numbers when it decides; here, the objective name, which a
        refinement never reads, and the attachments, which need the file system."""
        if objective is not None:
            validate_objective(objective)
        return RouteRequest(
            query,
            now=self.now,
            attachments=validate_attachments(attachments),
            segment=segment,
            required_capabilities=frozenset(require),
            max_cost_usd=max_cost,
            deadline_ms=deadline_ms,
            objective=objective,
            min_quality_ratio=min_quality_ratio,
            cost_weight=cost_weight,
            request_id=request_id,
            ignore_keys=self.ignore_keys,
            max_query_chars=self.max_query_chars,
        )

    def decide(self, request: RouteRequest) -> Decision:
        return route(request, classify(request.query, request.attachments), self.state)

    def batch_decider(self) -> Callable[[RouteRequest], dict]:
        """`decide(request).as_dict()` for a batch, each distinct decision made once (core.routing.route_many).

        The answers are for orjson: a decision's trace, the same list in every answer that shares
        the decision, goes in already serialized: writing a line costs less than half as much.
        """
        import orjson

        decide = route_many(self.state)
        # id -> (the list, its JSON): holding the list keeps its id from passing to another object
        traces: dict[int, tuple[list, orjson.Fragment]] = {}

        def answer(request: RouteRequest) -> dict:
            result = decide(request, classify(request.query, request.attachments))
            trace = result["reason"]
            known = traces.get(id(trace))
            if known is None:
                if len(traces) >= MAX_REMEMBERED:  # as many as route_many remembers
                    traces.clear()
                known = traces[id(trace)] = (trace, orjson.Fragment(orjson.dumps(trace, default=str)))
            result["reason"] = known[1]
            return result

        return answer

    def refine(self, request: RouteRequest, refinement_type: str) -> Decision:
        return route_refinement(request, self.state, refinement_type)


def validate_attachments(attachments: Iterable[str]) -> tuple[str, ...]:
    """URLs pass as they are; a path must name a readable file."""
    checked = []
    for item in attachments:
        if not isinstance(item, str) or not item.strip():
            raise InvalidInput(f"attachment {item!r}: give a file path or an http(s) URL")
        if not item.startswith(("http://", "https://", "data:")) and not os.path.isfile(item):
            raise InvalidInput(f"attachment {item!r}: no such file (give a file path or an http(s) URL)")
        checked.append(item)
    return tuple(checked)


def classify_query(query: str, attachments: Iterable[str] = (), *, config: Mapping[str, Any]) -> Classification:
    """The classification with the budget `route` would give it (the query type's segment policy)."""
    policy = config["policy"]
    validate_query(query, max_chars=policy["max_query_chars"])
    result = classify(query, validate_attachments(attachments))
    segment = policy["segments"].get(result.query_type)
    budget = latency_budget_s(segment["budget_seconds"] if segment else None, result)
    return result._replace(budget_seconds=budget)
