"""`run`: route a query, call the chosen model, fall back down the chain inside the budget, record it all.

Every attempt gets what is left of one overall budget, so a failing first model costs the user
time but never the deadline. Every attempt becomes a usage row (no query or answer text) and
updates the model's and provider's health in the same transaction, so the next process routes
around what just failed.

A shadow call is not an attempt: it is handed back as a ShadowCall for the caller to make once the
user has the answer (`modelctl run` hands it to a detached process, `detach_followup`), with a budget
of its own, and it never changes routing.
"""

from __future__ import annotations

import base64
import binascii
import json
import mimetypes
import os
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from functools import partial
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote_to_bytes, urlsplit

from modelctl import clock
from modelctl.core.catalog import Arm, ModelSpec
from modelctl.core.routing import Decision, RolloutArm, RouteRequest
from modelctl.core.usage import UsageRecord, recorded_cost
from modelctl.errors import (
    AllModelsFailed,
    ConfigError,
    ConnectionFailed,
    InvalidInput,
    ModelctlError,
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

if TYPE_CHECKING:
    from modelctl.services.routing import Router

# An attempt with less time than this left could not even connect; the budget is spent.
MIN_ATTEMPT_S = 0.05


@dataclass(frozen=True, slots=True)
class Attempt:
    model_id: str
    provider: str
    arm: Arm
    outcome: str  # "ok" | "failed"
    error_kind: str | None
    error: str | None  # the provider error's message, which never holds the key
    latency_ms: float  # the attempt's wall time
    ttft_ms: float | None
    tokens_in: int
    tokens_out: int
    cost_usd: float | None

    @property
    def measured(self) -> bool:
        """Whether `latency_ms` is a latency sample of the model. A connection that nothing answered
        (refused, DNS, TLS) timed only our side (loading the SDK, the refusal): it is recorded
        with no latency, so it neither inflates nor deflates the model's figures."""
        return self.error_kind != ConnectionFailed.kind

    def as_dict(self) -> dict[str, Any]:
        return {
            "model_id": self.model_id,
            "outcome": self.outcome,
            "error_kind": self.error_kind,
            "error": self.error,
            "latency_ms": round(self.latency_ms, 1) if self.measured else None,
            "ttft_ms": None if self.ttft_ms is None else round(self.ttft_ms, 1),
        }


def _request_json(request: ChatRequest) -> dict[str, Any]:
    return {
        "model_id": request.model_id, "prompt": request.prompt, "system": request.system,
        "max_tokens": request.max_tokens, "messages": list(request.messages), "tools": list(request.tools),
        "tool_choice": request.tool_choice, "temperature": request.temperature, "top_p": request.top_p,
        "stop": list(request.stop),
        "attachments": [
            {"media_type": a.media_type, "url": a.url, "name": a.name,
             "data": None if a.data is None else base64.b64encode(a.data).decode("ascii")}
            for a in request.attachments
        ],
    }


def _request_from_json(data: Mapping[str, Any]) -> ChatRequest:
    attachments = tuple(
        Attachment(media_type=a["media_type"], url=a["url"], name=a["name"],
                   data=None if a["data"] is None else base64.b64decode(a["data"]))
        for a in data["attachments"]
    )
    return ChatRequest(model_id=data["model_id"], prompt=data["prompt"], system=data["system"],
                       attachments=attachments, max_tokens=data["max_tokens"], messages=tuple(data["messages"]),
                       tools=tuple(data["tools"]), tool_choice=data["tool_choice"], temperature=data["temperature"],
                       top_p=data["top_p"], stop=tuple(data["stop"]))


@dataclass(frozen=True, slots=True)
class ShadowCall:
    """A shadow call still to be made: the served request, sent to the rollout's candidate once the
    user has the answer. It gets the whole budget the served call had, not what the served call
    left of it; its answer is discarded and only its usage row is kept (and the judge's verdict
    when `incumbent_answer` is set: the served answer, for the judge to compare, services/judge.py)."""

    request: ChatRequest  # model_id is the candidate's; never streamed
    segment: str
    request_id: str
    attempt: int  # its number among the request's usage rows
    budget_s: float
    incumbent_answer: str | None = None

    def as_json(self) -> dict[str, Any]:
        return {"request": _request_json(self.request), "segment": self.segment, "request_id": self.request_id,
                "attempt": self.attempt, "budget_s": self.budget_s, "incumbent_answer": self.incumbent_answer}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ShadowCall:
        return cls(request=_request_from_json(data["request"]), segment=data["segment"],
                   request_id=data["request_id"], attempt=data["attempt"], budget_s=data["budget_s"],
                   incumbent_answer=data["incumbent_answer"])


@dataclass(frozen=True, slots=True)
class ScoreCall:
    """A served answer for the judge to grade once the user has it: evidence for the canary's
    quality gate (services/judge.py)."""

    request: ChatRequest  # the served request; model_id is the model that answered
    answer: str
    segment: str
    request_id: str
    attempt: int  # the judge call's number among the request's usage rows

    def as_json(self) -> dict[str, Any]:
        return {"request": _request_json(self.request), "answer": self.answer, "segment": self.segment,
                "request_id": self.request_id, "attempt": self.attempt}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ScoreCall:
        return cls(request=_request_from_json(data["request"]), answer=data["answer"], segment=data["segment"],
                   request_id=data["request_id"], attempt=data["attempt"])


@dataclass(frozen=True, slots=True)
class FollowUp:
    """What is left to do once the user has the answer, for the detached worker: a shadow call
    (perhaps judged against the served answer) and/or a judge's score of the served answer."""

    shadow: ShadowCall | None = None
    score: ScoreCall | None = None

    def to_bytes(self, *, database_url: str) -> bytes:
        """The work and where to record it, for the worker's stdin (never argv, never the database):
        it holds the request and answers, which are never stored."""
        return json.dumps({
            "database_url": database_url,
            "shadow": None if self.shadow is None else self.shadow.as_json(),
            "score": None if self.score is None else self.score.as_json(),
        }).encode("utf-8")

    @classmethod
    def from_bytes(cls, payload: bytes) -> tuple[FollowUp, str]:
        """`to_bytes` read back: the work and the database URL."""
        data = json.loads(payload)
        job = cls(shadow=None if data["shadow"] is None else ShadowCall.from_json(data["shadow"]),
                  score=None if data["score"] is None else ScoreCall.from_json(data["score"]))
        return job, data["database_url"]


@dataclass(frozen=True, slots=True)
class RunResult:
    answer: str
    model_id: str
    provider: str
    attempts: tuple[Attempt, ...]
    request_id: str
    segment: str
    arm: Arm
    # The shadow call the caller makes after delivering the answer (make_shadow_call, detach_followup).
    shadow: ShadowCall | None = None
    # The judge's grading of this answer, also the caller's to hand off (services/judge.py).
    score: ScoreCall | None = None
    # For the person at the terminal: what the plan left out that might have answered instead.
    notes: tuple[str, ...] = ()
    # What the gateway relays besides the text (services/gateway.py): the provider's own word for
    # why it stopped, and the tool calls it asked for.
    finish_reason: str | None = None
    tool_calls: tuple[dict[str, Any], ...] = ()

    @property
    def served(self) -> Attempt:
        return self.attempts[-1]

    @property
    def followup(self) -> FollowUp | None:
        """What the caller hands to `detach_followup` once the user has the answer, if anything."""
        if self.shadow is None and self.score is None:
            return None
        return FollowUp(shadow=self.shadow, score=self.score)

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
    authenticate to. So that nobody mistakes what is left for the whole chain, the models skipped
    for want of a key are named, with the variable to set: in the failure when nothing answered,
    in a note when they came before the model that did. The budget clock starts here, so routing
    time counts against it.
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
    providers = provider_settings(router.config["providers"])
    chat = ChatRequest(model_id=decision.model_id, prompt=query, system=system,
                       attachments=load_attachments(routed.attachments), max_tokens=max_tokens, stream=stream)
    full_chain, unkeyed = _skipped_for_keys(router, routed, providers)
    try:
        result = answer_down_chain(
            store, decision, chat, request_id=request_id, models=router.state.models, providers=providers,
            deadline=started + decision.budget_seconds, on_token=on_token, on_fallback=on_fallback,
            deliver=deliver,
        )
    except AllModelsFailed as exc:
        if not unkeyed:
            raise
        lines = [f"{', '.join(models)}: not tried, {why}" for why, models in _by_reason(unkeyed).items()]
        raise AllModelsFailed("\n".join([str(exc), *lines]), attempts=exc.attempts) from None
    served_at = full_chain.index(result.model_id) if result.model_id in full_chain else len(full_chain)
    ahead = _by_reason([(m, why) for m, why in unkeyed if full_chain.index(m) < served_at])
    if ahead:
        shown = "; ".join(f"{', '.join(models)} ({why})" for why, models in ahead.items())
        result = replace(result, notes=(f"not tried for want of an API key: {shown}",))
    return plan_judging(result, chat, rollouts=router.state.rollouts)


def _skipped_for_keys(router: Router, routed: RouteRequest, providers: Mapping[str, ProviderSettings],
                      ) -> tuple[list[str], list[tuple[str, str]]]:
    """The chain the plan would be with every key set, and its models this plan cannot try for want
    of a key, each with why (`provider openai has no API key: set OPENAI_API_KEY`)."""
    missing = {name: s.key_env for name, s in providers.items() if s.key_missing()}
    if not missing:
        return [], []
    full = router.decide(replace(routed, ignore_keys=True))
    chain = [full.model_id, *full.fallback_models]
    models = router.state.models
    return chain, [(m, f"provider {models[m].provider} has no API key: set {missing[models[m].provider]}")
                   for m in chain if models[m].provider in missing]


def _by_reason(items: Iterable[tuple[str, str]]) -> dict[str, list[str]]:
    """(model, why) pairs grouped by why, in order: one line per provider."""
    grouped: dict[str, list[str]] = {}
    for model_id, why in items:
        grouped.setdefault(why, []).append(model_id)
    return grouped


def plan_judging(result: RunResult, request: ChatRequest, *, rollouts: Iterable[RolloutArm]) -> RunResult:
    """`result` with what the judge is to see (services/judge.py), decided after delivery.

    A sampled shadow pair carries the incumbent's answer to the worker; a sampled canary or control
    answer of a canary rollout becomes a ScoreCall. upgrade.yaml is read only when a rollout
    covers the request's segment, so routing without rollouts pays nothing.
    """
    rollout = next((r for r in rollouts if result.segment in r.segments), None)
    if rollout is None:
        return result
    pair = (result.shadow is not None and rollout.phase == "shadow" and result.arm == "control"
            and result.model_id == rollout.incumbent_id)
    graded = (rollout.phase == "canary" and result.arm in ("canary", "control")
              and result.model_id in (rollout.candidate_id, rollout.incumbent_id))
    if not (pair or graded):
        return result
    from modelctl.services.judge import load_judge, sampled

    judge = load_judge()
    if judge is None or judge.model in (rollout.candidate_id, rollout.incumbent_id):
        return result
    if pair and result.shadow is not None and sampled(result.request_id, judge.shadow_share, purpose="shadow"):
        return replace(result, shadow=replace(result.shadow, incumbent_answer=result.answer))
    if graded and sampled(result.request_id, judge.canary_share, purpose="canary"):
        return replace(result, score=ScoreCall(
            request=replace(request, model_id=result.model_id, stream=False), answer=result.answer,
            segment=result.segment, request_id=result.request_id, attempt=len(result.attempts)))
    return result


def answer_down_chain(
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
    client_key: str | None = None,
) -> RunResult:
    """Try the decision's chain in order until one answers before `deadline` (a perf_counter time).
    `client_key` names the API key a gateway request came through, on every usage row it makes.

    A 429 whose Retry-After fits in the time left is waited out and the same model asked once more;
    every other failure moves on. The models after a failed canary candidate rescue the request:
    their calls are the "rescue" arm, neither arm of the rollout. When the decision names a shadow
    model, the result carries the ShadowCall still to be made; this function never makes it.
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
        arm = decision.arm if model_id == decision.model_id else fallback_arm(decision.arm)
        waited = False
        while True:
            left = deadline - time.perf_counter()
            if left < MIN_ATTEMPT_S:
                raise _all_failed(attempts, chain, skipped, decision.budget_seconds)
            attempt, result, error = _call(
                replace(request, model_id=model_id), models=models, providers=providers, timeout_s=left,
                on_token=on_token, arm=arm,
            )
            record = partial(_record, store, providers=providers, policy=policy, segment=decision.segment,
                             client_key=client_key,
                             request_id=request_id, number=len(attempts))
            attempts.append(attempt)
            if result is not None:
                served = RunResult(
                    answer=result.text, model_id=model_id, provider=attempt.provider, attempts=tuple(attempts),
                    request_id=request_id, segment=decision.segment, arm=arm,
                    finish_reason=result.finish_reason, tool_calls=result.tool_calls,
                )
                if deliver is not None:
                    deliver(served)  # the answer first; its bookkeeping does not delay it
                record(attempt, None)
                if decision.shadow_model is None:
                    return served
                return replace(served, shadow=ShadowCall(
                    request=replace(request, model_id=decision.shadow_model, stream=False),
                    segment=decision.segment, request_id=request_id, attempt=len(attempts),
                    budget_s=decision.budget_seconds,
                ))
            assert error is not None  # _call returns an answer or the error that stopped it
            record(attempt, error)
            if rests_provider(error):
                resting.add(attempt.provider)
            retry_after = error.retry_after if isinstance(error, RateLimited) else None
            if waited or retry_after is None or retry_after + MIN_ATTEMPT_S > deadline - time.perf_counter():
                break
            time.sleep(retry_after)
            waited = True
    raise _all_failed(attempts, chain, skipped, decision.budget_seconds)


def fallback_arm(served_arm: Arm) -> Arm:
    """A model asked after the canary candidate failed rescues the request: counting it as control
    would put the candidate's failures into the incumbent's sample."""
    return "rescue" if served_arm == "canary" else "control"


def make_shadow_call(store: Store, call: ShadowCall) -> tuple[Attempt, str | None]:
    """Make a shadow call and record its usage row: (the attempt, its answer or None)."""
    return observe_call(store, call.request, arm="shadow", segment=call.segment, request_id=call.request_id,
                        number=call.attempt, budget_s=call.budget_s)


def observe_call(store: Store, request: ChatRequest, *, arm: Arm, segment: str, request_id: str, number: int,
                 budget_s: float) -> tuple[Attempt, str | None]:
    """A call that serves nobody (a shadow or judge call), recorded as a usage row of `arm`: its
    outcome changes no cooldown or streak. Returns the attempt and the answer (None if it failed).

    Nobody waits for it, so it runs without the hard-deadline thread: the adapter's timeout
    (`budget_s`) bounds connecting and each wait, and its clock starts after the SDK is loaded.
    """
    from modelctl.services.routing import load_routing_config
    from modelctl.store.catalog import get_model

    spec = get_model(store, request.model_id)
    models = {} if spec is None else {spec.model_id: spec}
    providers = provider_settings(load_routing_config()["providers"])
    attempt, result, error = _call(request, models=models, providers=providers, timeout_s=budget_s,
                                   on_token=None, arm=arm, chat=calls.chat)
    _record(store, attempt, error, providers=providers, policy=health_policy(), segment=segment,
            request_id=request_id, number=number)
    return attempt, None if result is None else result.text


# The detached worker's entry point (modelctl/shadow_worker.py): it reads its FollowUp on stdin.
SHADOW_WORKER = "modelctl.shadow_worker"


def detach_followup(store: Store, job: FollowUp) -> None:
    """Start a process that does `job` and records it, and return without waiting for it.

    The request and answers go down a pipe, never into argv or the database. The worker
    gets no stdout or stderr of ours, so a caller reading our output to its end is not held until
    the shadow call finishes, and a session of its own, so the terminal's Ctrl-C or hang-up does
    not cut it short.
    """
    payload = job.to_bytes(database_url=store.url)
    try:
        worker = subprocess.Popen(
            [sys.executable, "-m", SHADOW_WORKER], stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL, start_new_session=True, close_fds=True,
        )
        pipe = worker.stdin
        assert pipe is not None  # stdin=PIPE
        with pipe:
            pipe.write(payload)
    except OSError as exc:
        what = "the shadow call" if job.shadow is not None else "the judge's score"
        raise ModelctlError(f"{what} was not made: cannot start its worker process: "
                            f"{exc.strerror or exc}") from None


def _call(
    request: ChatRequest,
    *,
    models: Mapping[str, ModelSpec],
    providers: Mapping[str, ProviderSettings],
    timeout_s: float,
    on_token: OnToken | None,
    arm: Arm,
    chat: Callable[..., ChatResult] | None = None,
) -> tuple[Attempt, ChatResult | None, ProviderError | None]:
    """One provider call and what it measured; `chat` is `_chat_within` unless given."""
    spec = models.get(request.model_id)
    if spec is None:
        raise ConfigError(f"model {request.model_id} is not in the catalog; add it with `modelctl models import`")
    settings = providers.get(spec.provider)
    if settings is None:
        raise ConfigError(f"model {spec.model_id}: provider {spec.provider} is not in providers.yaml")
    start = time.perf_counter()
    result = error = None
    try:
        result = (chat or _chat_within)(settings, request, timeout_s=timeout_s, on_token=on_token)
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
        cost_usd=recorded_cost(spec.cost_usd(tokens_in, tokens_out), success=error is None,
                               tokens_in=tokens_in, tokens_out=tokens_out),
    )
    return attempt, result, error


def _record(store: Store, attempt: Attempt, error: ProviderError | None, *,
            providers: Mapping[str, ProviderSettings], policy: HealthPolicy, segment: str, request_id: str,
            number: int, client_key: str | None = None) -> None:
    """The attempt as a usage row, and its health effects, in one transaction."""
    settings = providers[attempt.provider]
    record = UsageRecord(
        model_id=attempt.model_id, latency_ms=attempt.latency_ms, ttft_ms=attempt.ttft_ms,
        tokens_in=attempt.tokens_in, tokens_out=attempt.tokens_out, success=error is None,
        error_kind=attempt.error_kind, segment=segment, request_id=request_id, arm=attempt.arm, attempt=number,
    )
    now = clock.now()
    with store.write() as conn:
        insert_usage(conn, [usage_tuple(record, provider=attempt.provider, cost_usd=attempt.cost_usd, ts=now,
                                        measured=attempt.measured, client_key=client_key)])
        record_outcome(conn, policy=policy, provider=attempt.provider, model_id=attempt.model_id, error=error,
                       key_missing=settings.key_env is not None and settings.api_key() is None, now=now,
                       arm=attempt.arm)


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
            if live and on_token is not None:
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
    count = f"{len(attempts)} attempt{'' if len(attempts) == 1 else 's'}"
    return AllModelsFailed(
        f"every model in the chain failed ({count} within the {budget_s:g} s budget)\n"
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
