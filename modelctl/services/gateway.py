"""The gateway: one OpenAI-style chat request routed, answered down the chain and recorded as `run` does.

The request names a model as a client of OpenAI would: "auto" (classify the last user message and
route), a segment of policy.yaml (route within it), or a catalog model id (that model first, then
the chain routing gives the conversation, without rollout arms: the client chose the model). From
there it is `run`'s path (services/run.py, `answer_down_chain`): the budget, fallbacks, cooldowns,
Retry-After, canary split, one usage row per attempt; and the shadow call and the judge's work are
handed back, for the server to do in the background once the client has the answer.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from modelctl import clock
from modelctl.core.routing import ROUTABLE_STATUSES, Decision
from modelctl.errors import NotFound
from modelctl.providers.base import ChatRequest
from modelctl.services.health import provider_settings
from modelctl.services.run import Deliver, OnFallback, OnToken, RunResult, answer_down_chain, plan_judging
from modelctl.store.db import Store

AUTO = "auto"
# What routing classifies when the last user message has no text (images only, or empty).
NO_TEXT = "(no text)"


@dataclass(frozen=True, slots=True)
class GatewayRequest:
    """A chat request as the gateway routes it: `model` as the client named it, the conversation in
    `chat` (its model_id is filled in by routing), and what classification reads: the last user
    message's text and its images (URLs, or a stand-in name for inline data)."""

    model: str
    chat: ChatRequest
    query: str
    images: tuple[str, ...] = ()


def answer_chat(
    store: Store,
    request: GatewayRequest,
    *,
    request_id: str | None = None,
    deadline_ms: int | None = None,
    on_decision: Callable[[Decision], None] | None = None,
    on_token: OnToken | None = None,
    on_fallback: OnFallback | None = None,
    deliver: Deliver | None = None,
    client_key: str | None = None,
) -> RunResult:
    """Route and answer one gateway request; raises as `run_query` does (AllModelsFailed when no model
    answered in time, NoEligibleModel when routing found none, NotFound for an unknown `model`).
    Its usage rows carry `client_key`, the API key it came through, so that key's monthly budget and
    `stats --by key` count it.

    `on_decision` hears the routing decision before the first call (a stream's headers name it).
    The result carries the follow-up (shadow call, judge's score) for the caller to do afterwards.
    """
    from modelctl.services.routing import Router

    started = time.perf_counter()
    router = replace(Router.load(store, now=clock.now()), ignore_keys=False, notes=[])
    request_id = request_id or uuid.uuid4().hex
    decision = _decide(router, request, request_id=request_id, deadline_ms=deadline_ms)
    if on_decision is not None:
        on_decision(decision)
    chat = replace(request.chat, model_id=decision.model_id)
    result = answer_down_chain(
        store, decision, chat, request_id=request_id, models=router.state.models,
        providers=provider_settings(router.config["providers"]), deadline=started + decision.budget_seconds,
        on_token=on_token, on_fallback=on_fallback, deliver=deliver, client_key=client_key,
    )
    return plan_judging(result, chat, rollouts=router.state.rollouts)


def _decide(router: Any, request: GatewayRequest, *, request_id: str, deadline_ms: int | None) -> Decision:
    """The routing decision for `request.model`: auto, a segment, or a pinned catalog model."""
    policies = router.state.policies
    pinned = request.model not in policies and request.model != AUTO
    if pinned:
        spec = router.state.models.get(request.model)
        if spec is None or spec.status not in ROUTABLE_STATUSES:
            raise NotFound(f"model {request.model!r} is not served here; GET /v1/models lists "
                           f"\"{AUTO}\", the segments and the models this gateway routes")
    query = request.query if request.query.strip() else NO_TEXT
    routed = router.request(query, segment=None if pinned or request.model == AUTO else request.model,
                            deadline_ms=deadline_ms, request_id=request_id)
    routed = replace(routed, attachments=request.images)
    decision = router.decide(routed)
    if not pinned:
        return decision
    chain = (decision.model_id, *decision.fallback_models)
    same = decision.model_id == spec.model_id and decision.arm == "control"
    return replace(decision, model_id=spec.model_id, provider=spec.provider, arm="control",
                   fallback_models=tuple(m for m in chain if m != spec.model_id),
                   shadow_model=decision.shadow_model if same else None)


def served_models(store: Store) -> list[tuple[str, str]]:
    """What a client may name as `model`, as (id, owner): "auto", each segment, then every routable
    model of a provider this gateway can call (its key is set), in catalog order."""
    from modelctl.services.routing import Router

    router = Router.load(store, now=clock.now())
    providers = router.state.providers
    names = [(AUTO, "modelctl"), *((segment, "modelctl") for segment in router.state.policies)]
    names += [(spec.model_id, spec.provider) for spec in router.state.models.values()
              if spec.status in ROUTABLE_STATUSES and spec.provider in providers
              and providers[spec.provider].key_present]
    return names
