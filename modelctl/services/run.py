"""`run`: route a query, call the chosen model, fall back down the chain inside the budget, record it all.

Every attempt gets what is left of one overall budget, so a failing first model costs the user
time but never the deadline. Every attempt becomes a usage row (no query or answer text) and
updates the model's and provider's health in the same transaction, so the next process routes
around what just failed.
"""

from __future__ import annotations

import base64
import binascii
import mimetypes
import os
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import unquote_to_bytes, urlsplit

from modelctl import clock
from modelctl.core.catalog import ModelSpec
from modelctl.core.routing import Decision
from modelctl.core.usage import UsageRecord
from modelctl.errors import (
    AllModelsFailed,
    ConfigError,
    InvalidInput,
    ProviderError,
    ProviderTimeout,
    RateLimited,
)
from modelctl.providers import calls
from modelctl.providers.base import Attachment, ChatRequest, ChatResult, ProviderSettings
from modelctl.services.health import (
    HealthPolicy,
    health_policy,
    provider_settings,
    record_outcome,
    rests_provider,
)
from modelctl.store.db import Store
from modelctl.store.usage import insert_usage, usage_tuple

# An attempt with less time than this left could not even connect; the budget is spent.
MIN_ATTEMPT_S = 0.05


@dataclass(frozen=True, slots=True)
class Attempt:
    model_id: str
    provider: str
    arm: str
    outcome: str  # "ok" | "failed"
    error_kind: str | None
    error: str | None  # the provider error's message, which never holds the key
    latency_ms: float
    ttft_ms: float | None
    tokens_in: int
    tokens_out: int
    cost_usd: float | None

    def as_dict(self) -> dict[str, Any]:
        return {
            "model_id": self.model_id,
            "outcome": self.outcome,
            "error_kind": self.error_kind,
            "error": self.error,
            "latency_ms": round(self.latency_ms, 1),
            "ttft_ms": None if self.ttft_ms is None else round(self.ttft_ms, 1),
        }


@dataclass(frozen=True, slots=True)
class RunResult:
    answer: str
    model_id: str
    provider: str
    attempts: tuple[Attempt, ...]
    request_id: str
    segment: str
    arm: str
    # The shadow model's call, made after the answer was delivered; its answer is discarded.
    shadow: Attempt | None = None

    @property
    def served(self) -> Attempt:
        return self.attempts[-1]

    def as_dict(self) -> dict[str, Any]:
        return {
            "answer": self.answer,
            "model_id": self.model_id,
            "provider": self.provider,
            "attempts": [a.as_dict() for a in self.attempts],
            "tokens_in": self.served.tokens_in,
            "tokens_out": self.served.tokens_out,
            "cost_usd": self.served.cost_usd,
            "request_id": self.request_id,
            "segment": self.segment,
            "arm": self.arm,
        }


OnToken = Callable[[str], None]
OnFallback = Callable[[Attempt, str], None]
Deliver = Callable[[RunResult], None]


def run_query(
    store: Store,
    query: str,
    *,
    attachments: Iterable[str] = (),
    segment: str | None = None,
    system: str | None = None,
    max_tokens: int | None = None,
    stream: bool = False,
    deadline_ms: int | None = None,
    request_id: str | None = None,
    on_token: OnToken | None = None,
    on_fallback: OnFallback | None = None,
    deliver: Deliver | None = None,
) -> RunResult:
    """Route and serve one query; raises AllModelsFailed (exit 4) when no model answered in time.

    Unlike `route`, a provider without its key is never planned for: run can only call what it can
    authenticate to. The budget clock starts here, so routing time counts against it.
    """
    from modelctl.services.routing import Router

    started = time.perf_counter()
    if max_tokens is not None and max_tokens <= 0:
        raise InvalidInput(f"--max-tokens must be positive, got {max_tokens}")
    router = replace(Router.load(store, now=clock.now()), ignore_keys=False, notes=[])
    request_id = request_id or uuid.uuid4().hex
    routed = router.request(query, attachments=attachments, segment=segment, deadline_ms=deadline_ms,
                            request_id=request_id)
    decision = router.decide(routed)
    chat = ChatRequest(model_id=decision.model_id, prompt=query, system=system,
                       attachments=load_attachments(routed.attachments), max_tokens=max_tokens, stream=stream)
    return serve(
        store, decision, chat, request_id=request_id, models=router.state.models,
        providers=provider_settings(router.config["providers"]), deadline=started + decision.budget_seconds,
        on_token=on_token, on_fallback=on_fallback, deliver=deliver,
    )


def serve(
    store: Store,
    decision: Decision,
    request: ChatRequest,
    *,
    request_id: str,
    models: Mapping[str, ModelSpec],
    providers: Mapping[str, ProviderSettings],
    deadline: float,
    policy: HealthPolicy | None = None,
    on_token: OnToken | None = None,
    on_fallback: OnFallback | None = None,
    deliver: Deliver | None = None,
) -> RunResult:
    """Try the decision's chain in order until one answers before `deadline` (a perf_counter time).

    A 429 whose Retry-After fits in the time left is waited out and the same model asked once more;
    every other failure moves on. After `deliver` has the answer, a shadow model (if the decision
    names one) gets the same request within what is left of the budget, and only its usage is kept.
    """
    policy = policy or health_policy()
    chain = [decision.model_id, *decision.fallback_models]
    attempts: list[Attempt] = []
    skipped: dict[str, str] = {}
    resting: set[str] = set()  # providers this run found down: their other models would fail alike
    for model_id in chain:
        spec = models.get(model_id)
        if spec is not None and spec.provider in resting:
            skipped[model_id] = f"not tried, provider {spec.provider} failed for every model in this run"
            continue
        if attempts and on_fallback is not None:
            on_fallback(attempts[-1], model_id)
        arm = decision.arm if model_id == decision.model_id else "control"
        waited = False
        while True:
            left = deadline - time.perf_counter()
            if left < MIN_ATTEMPT_S:
                raise _all_failed(attempts, chain, skipped, decision.budget_seconds)
            attempt, result, error = _call(
                replace(request, model_id=model_id), models=models, providers=providers, timeout_s=left,
                on_token=on_token, arm=arm,
            )
            record = dict(providers=providers, policy=policy, segment=decision.segment, request_id=request_id,
                          number=len(attempts))
            attempts.append(attempt)
            if result is not None:
                served = RunResult(
                    answer=result.text, model_id=model_id, provider=attempt.provider, attempts=tuple(attempts),
                    request_id=request_id, segment=decision.segment, arm=arm,
                )
                if deliver is not None:
                    deliver(served)  # the answer first; its bookkeeping does not delay it
                _record(store, attempt, None, **record)
                return replace(served, shadow=_shadow(
                    store, decision, request, models=models, providers=providers, policy=policy,
                    deadline=deadline, request_id=request_id, number=len(attempts),
                ))
            _record(store, attempt, error, **record)
            if rests_provider(error):
                resting.add(attempt.provider)
            retry_after = error.retry_after if isinstance(error, RateLimited) else None
            if waited or retry_after is None or retry_after + MIN_ATTEMPT_S > deadline - time.perf_counter():
                break
            time.sleep(retry_after)
            waited = True
    raise _all_failed(attempts, chain, skipped, decision.budget_seconds)


def _shadow(store: Store, decision: Decision, request: ChatRequest, *, models: Mapping[str, ModelSpec],
            providers: Mapping[str, ProviderSettings], policy: HealthPolicy, deadline: float, request_id: str,
            number: int) -> Attempt | None:
    if decision.shadow_model is None:
        return None
    left = deadline - time.perf_counter()
    if left < MIN_ATTEMPT_S:
        return None
    shadow_request = replace(request, model_id=decision.shadow_model, stream=False)
    attempt, _, error = _call(shadow_request, models=models, providers=providers, timeout_s=left, on_token=None,
                              arm="shadow")
    _record(store, attempt, error, providers=providers, policy=policy, segment=decision.segment,
            request_id=request_id, number=number)
    return attempt


def _call(
    request: ChatRequest,
    *,
    models: Mapping[str, ModelSpec],
    providers: Mapping[str, ProviderSettings],
    timeout_s: float,
    on_token: OnToken | None,
    arm: str,
) -> tuple[Attempt, ChatResult | None, ProviderError | None]:
    """One provider call and what it measured."""
    spec = models.get(request.model_id)
    if spec is None:
        raise ConfigError(f"model {request.model_id} is not in the catalog; add it with `modelctl models import`")
    settings = providers.get(spec.provider)
    if settings is None:
        raise ConfigError(f"model {spec.model_id}: provider {spec.provider} is not in providers.yaml")
    start = time.perf_counter()
    result = error = None
    try:
        result = _chat_within(settings, request, timeout_s=timeout_s, on_token=on_token)
    except ProviderError as exc:
        error = exc
    tokens_in = (result.tokens_in or 0) if result else 0
    tokens_out = (result.tokens_out or 0) if result else 0
    attempt = Attempt(
        model_id=spec.model_id,
        provider=spec.provider,
        arm=arm,
        outcome="ok" if error is None else "failed",
        error_kind=None if error is None else error.kind,
        error=None if error is None else str(error),
        latency_ms=result.latency_ms if result else (time.perf_counter() - start) * 1000,
        ttft_ms=result.ttft_ms if result else None,
        tokens_in=tokens_in,
        tokens_out=tokens_out,
        cost_usd=spec.cost_usd(tokens_in, tokens_out),
    )
    return attempt, result, error


def _record(store: Store, attempt: Attempt, error: ProviderError | None, *,
            providers: Mapping[str, ProviderSettings], policy: HealthPolicy, segment: str, request_id: str,
            number: int) -> None:
    """The attempt as a usage row, and its health effects, in one transaction."""
    settings = providers[attempt.provider]
    record = UsageRecord(
        model_id=attempt.model_id, latency_ms=attempt.latency_ms, ttft_ms=attempt.ttft_ms,
        tokens_in=attempt.tokens_in, tokens_out=attempt.tokens_out, success=error is None,
        error_kind=attempt.error_kind, segment=segment, request_id=request_id, arm=attempt.arm, attempt=number,
    )
    now = clock.now()
    with store.write() as conn:
        insert_usage(conn, [usage_tuple(record, provider=attempt.provider, cost_usd=attempt.cost_usd, ts=now)])
        record_outcome(conn, policy=policy, provider=attempt.provider, model_id=attempt.model_id, error=error,
                       key_missing=settings.key_env is not None and settings.api_key() is None, now=now)


# Providers whose SDK is imported and client built in this process: their calls are bounded by
# the adapter's own timeouts, so they skip the worker thread (about a millisecond per call).
_warm: set[ProviderSettings] = set()


def _chat_within(settings: ProviderSettings, request: ChatRequest, *, timeout_s: float,
                 on_token: OnToken | None) -> ChatResult:
    """calls.chat with a hard deadline.

    The adapter bounds each network wait, but the first call to a provider in a process also
    imports the SDK and builds its client (seconds on a busy machine) before its clock starts,
    and the user's budget counts all of it. So that first call runs on a daemon thread and is
    abandoned at the deadline, its late tokens dropped.
    """
    if settings in _warm:
        return calls.chat(settings, request, timeout_s=timeout_s, on_token=on_token)
    outcome: dict[str, Any] = {}
    gate = threading.Lock()
    live = True

    def guarded(piece: str) -> None:
        with gate:
            if live:
                on_token(piece)

    def work() -> None:
        try:
            outcome["result"] = calls.chat(settings, request, timeout_s=timeout_s,
                                           on_token=guarded if on_token is not None else None)
        except BaseException as exc:  # noqa: BLE001 - handed to the caller's thread as it is
            outcome["error"] = exc

    worker = threading.Thread(target=work, name=f"modelctl-call-{request.model_id}", daemon=True)
    worker.start()
    worker.join(timeout_s)
    with gate:
        if worker.is_alive():
            live = False
            raise ProviderTimeout(f"{settings.name} {request.model_id}: no complete answer within {timeout_s:g} s")
    _warm.add(settings)
    if "error" in outcome:
        raise outcome["error"]
    return outcome["result"]


def _all_failed(attempts: list[Attempt], chain: list[str], skipped: Mapping[str, str],
                budget_s: float) -> AllModelsFailed:
    tried = {a.model_id for a in attempts}
    lines = [f"{a.model_id}: {a.error}" for a in attempts]
    lines += [
        f"{m}: {skipped.get(m) or f'not tried, the {budget_s:g} s budget was spent'}"
        for m in chain if m not in tried
    ]
    return AllModelsFailed(
        f"every model in the chain failed ({len(attempts)} attempts within the {budget_s:g} s budget)\n"
        + "\n".join(lines),
        attempts=[a.as_dict() for a in attempts],
    )


def load_attachments(items: Iterable[str]) -> tuple[Attachment, ...]:
    """Files are read and sent inline; http(s) URLs are passed for the provider to fetch."""
    loaded = []
    for item in items:
        if item.startswith("data:"):
            header, _, payload = item[5:].partition(",")
            media_type = header.split(";")[0] or "application/octet-stream"
            try:
                data = base64.b64decode(payload, validate=True) if ";base64" in header else unquote_to_bytes(payload)
            except (binascii.Error, ValueError):
                raise InvalidInput("attachment data: URL: the base64 payload is not valid") from None
            loaded.append(Attachment(media_type=media_type, data=data, name="data-url"))
        elif item.startswith(("http://", "https://")):
            path = urlsplit(item).path
            loaded.append(Attachment(media_type=_media_type(path), url=item, name=os.path.basename(path)))
        else:
            try:
                with open(item, "rb") as handle:
                    data = handle.read()
            except OSError as exc:
                raise InvalidInput(f"attachment {item!r}: cannot read: {exc.strerror}") from None
            loaded.append(Attachment(media_type=_media_type(item), data=data, name=os.path.basename(item)))
    return tuple(loaded)


def _media_type(name: str) -> str:
    return mimetypes.guess_type(name)[0] or "application/octet-stream"
