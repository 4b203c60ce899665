"""Health use cases: what one call outcome does to cooldowns, and the `modelctl health` report.

Which failures rest what:
- a refused key (401/403): the whole provider, at once: it stays refused until someone changes it;
- a connection failure (refused, DNS, TLS: nothing answered): the whole provider, but for the rest
  of this run only (services/run.py skips its other models); in the database it is one more
  failure of the provider, no cooldown and nothing against the model. Finding it down again costs
  the next run milliseconds, while a stored cooldown would outlive the outage: a local server
  started a second later would stay skipped for minutes;
- a 429: the model, for its Retry-After (else the configured rate-limit cooldown);
- timeouts, 5xx, broken streams or bodies: the model, after `failure_threshold` in a row;
- an invalid request or a prompt too long for the window: nothing, the request was at fault;
- an unset key env var: nothing, nothing was called (routing already skips such providers);
- a shadow or judge call, failed or not: nothing. It observes a candidate rather than serves a
  user; its usage row counts against that model, and production routing never hears of it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from modelctl.core.usage import OBSERVING_ARMS
from modelctl.errors import (
    AuthenticationFailed,
    CallCancelled,
    ConnectionFailed,
    ContextLengthExceeded,
    InvalidRequest,
    ProviderError,
    RateLimited,
)
from modelctl.paths import config_path
from modelctl.providers.base import ProviderSettings, provider_settings
from modelctl.store import health as repo
from modelctl.store.catalog import provider_states
from modelctl.store.db import Store

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection

RECENT_WINDOW = timedelta(hours=24)
PROBE_TIMEOUT_S = 3.0
# Below this success rate over the recent window a provider is reported degraded.
DEGRADED_SUCCESS_RATE = 0.9


@dataclass(frozen=True, slots=True)
class HealthPolicy:
    failure_threshold: int = 3
    model_cooldown_s: float = 300.0
    rate_limit_cooldown_s: float = 60.0
    provider_cooldown_s: float = 300.0


_policy_cache: dict[tuple, HealthPolicy] = {}


def health_policy() -> HealthPolicy:
    """The `health:` section of providers.yaml, parsed once per file version per process."""
    path = config_path("providers.yaml")
    stat = path.stat()
    stamp = (str(path), stat.st_mtime_ns, stat.st_size)
    policy = _policy_cache.get(stamp)
    if policy is None:
        from modelctl.config import load_health

        cfg = load_health(path)
        policy = _policy_cache[stamp] = HealthPolicy(
            failure_threshold=cfg.failure_threshold,
            model_cooldown_s=cfg.model_cooldown_seconds,
            rate_limit_cooldown_s=cfg.rate_limit_cooldown_seconds,
            provider_cooldown_s=cfg.provider_cooldown_seconds,
        )
    return policy


def rests_provider(error: ProviderError) -> bool:
    """Whether the rest of this run should skip the provider: a refused key or an unreachable host
    fails every model of the provider alike; a 5xx or a connection dropped mid-answer is one call's
    trouble."""
    return isinstance(error, (AuthenticationFailed, ConnectionFailed))


def record_outcome(
    conn: Connection,  # inside the caller's transaction
    *,
    policy: HealthPolicy,
    provider: str,
    model_id: str | None,
    error: ProviderError | None,
    key_missing: bool = False,
    now: datetime,
    arm: str | None = None,
) -> None:
    """Apply one call's outcome (error None = success) to the stored streaks and cooldowns; the
    call's `arm` is None for calls outside any request (health probes)."""
    if arm in OBSERVING_ARMS:
        return
    if error is None:
        repo.mark_success(conn, provider=provider, model_id=model_id, now=now)
        return
    if key_missing:
        return
    model_until = provider_until = None
    if isinstance(error, ConnectionFailed):
        model_id = None  # the host, not the model, failed: only the provider's streak grows
    elif isinstance(error, AuthenticationFailed):
        provider_until = now + timedelta(seconds=policy.provider_cooldown_s)
    elif isinstance(error, RateLimited):
        wait = error.retry_after if error.retry_after is not None else policy.rate_limit_cooldown_s
        model_until = now + timedelta(seconds=wait)
    counts = not isinstance(error, (InvalidRequest, ContextLengthExceeded, CallCancelled))
    repo.mark_failure(
        conn, provider=provider, model_id=model_id, now=now, counts=counts,
        threshold=policy.failure_threshold, streak_cooldown=timedelta(seconds=policy.model_cooldown_s),
        model_until=model_until, provider_until=provider_until,
    )


def _probe(settings: ProviderSettings) -> tuple[dict[str, Any], ProviderError | None]:
    """A live list-models call: what to show, and the error to record (None when it answered)."""
    from modelctl.providers import calls

    start = time.perf_counter()
    try:
        models = calls.list_models(settings, timeout_s=PROBE_TIMEOUT_S, limit=1000)
    except ProviderError as exc:
        shown = {"ok": False, "error_kind": exc.kind, "error": str(exc),
                 "latency_ms": round((time.perf_counter() - start) * 1000, 1)}
        return shown, exc
    return {"ok": True, "models": len(models), "latency_ms": round((time.perf_counter() - start) * 1000, 1)}, None


def _status(row: dict[str, Any]) -> str:
    """down: cooling down or failed its probe; no_key: cannot be called; degraded: models resting,
    failing since its last success, or a poor recent success rate; ok: evidence it works; unknown:
    no evidence either way."""
    if not row["key_set"]:
        return "no_key"
    probe = row.get("probe")
    if row["cooldown_until"] is not None or (probe is not None and not probe["ok"]):
        return "down"
    rate = row["success_rate"]
    if (row["models_cooling_down"] or row["consecutive_failures"]
            or (rate is not None and rate < DEGRADED_SUCCESS_RATE)):
        return "degraded"
    if rate is not None or probe is not None or row["stored_health"] == "ok":
        return "ok"
    return "unknown"


def health_report(store: Store, *, probe: bool = False, now: datetime) -> list[dict[str, Any]]:
    """Per configured provider: key set, cooldown, models resting, recent success rate and p95
    latency from usage, and with `probe` a live list-models call (its outcome is recorded)."""
    from modelctl.services.routing import load_routing_config

    settings = provider_settings(load_routing_config()["providers"])
    states = provider_states(store)
    resting = repo.model_health(store)
    recent = repo.recent_usage_by_provider(store, since=now - RECENT_WINDOW)
    probes: dict[str, dict[str, Any]] = {}
    if probe:
        from concurrent.futures import ThreadPoolExecutor

        callable_ = [s for s in settings.values() if not s.key_missing()]
        with ThreadPoolExecutor(max_workers=max(1, len(callable_))) as pool:
            outcomes = dict(zip([s.name for s in callable_], pool.map(_probe, callable_), strict=True))
        policy = health_policy()
        with store.write() as conn:
            for name, (_, error) in outcomes.items():
                record_outcome(conn, policy=policy, provider=name, model_id=None, error=error, now=now)
        probes = {name: shown for name, (shown, _) in outcomes.items()}
        states = provider_states(store)
    report = []
    for name, s in sorted(settings.items()):
        state = states.get(name, {})
        usage = recent.get(name, {})
        until = state.get("cooldown_until")
        row = {
            "name": name,
            "kind": s.kind,
            "key_env": s.key_env,
            "key_set": not s.key_missing(),
            "stored_health": state.get("health", "unknown"),
            "cooldown_until": until if until is not None and until > now else None,
            "consecutive_failures": state.get("consecutive_failures", 0),
            "last_check": state.get("last_check"),
            "models_cooling_down": [
                m["model_id"] for m in resting
                if m["provider"] == name and m["cooldown_until"] is not None and m["cooldown_until"] > now
            ],
            "calls": usage.get("calls", 0),
            "success_rate": usage.get("success_rate"),
            "p95_latency_ms": usage.get("p95_latency_ms"),
        }
        if name in probes:
            row["probe"] = probes[name]
        row["status"] = _status(row)
        report.append(row)
    return report
