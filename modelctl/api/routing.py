"""The original router service (port 8001): route, refine, classify.

The hot path: the routing state is cached per process and re-read only when what routing reads
changed, in the database or the config (services.routing.cached_routing_state), so a decision is
pure computation.
These handlers therefore run on the event loop itself: the hand-off to a worker thread cost more
than the decision (`python tests/benchmarks/bench_serve.py` measures the sustained rate). The
price is that a state refresh after a write (SQLite reads) holds the loop while it runs.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse

from modelctl import clock
from modelctl.api.schemas import (
    QUERY_PATTERN,
    ClassificationOut,
    DecisionOut,
    RefinementBody,
    RouteBody,
    Unroutable,
)
from modelctl.errors import InvalidInput

if TYPE_CHECKING:
    from modelctl.core.routing import Decision

router = APIRouter(tags=["router"])
UNROUTABLE: dict[int | str, dict[str, Any]] = {
    409: {"model": Unroutable, "description": "No model in the chain can take the query now"},
}
MAX_ATTACHMENT_CHARS = 2048


def _attachments(body: RouteBody) -> tuple[str, ...]:
    """Names or URLs as the client gave them: the server never opens a client's path. An image
    flagged without a name still makes the query multimedia and requires a multimodal model."""
    files = tuple(body.context.files)
    for name in files:
        if not name.strip() or len(name) > MAX_ATTACHMENT_CHARS:
            raise InvalidInput(f"context.files: each entry must be a file name or URL of 1 to "
                               f"{MAX_ATTACHMENT_CHARS} characters")
    return files or (("image",) if body.context.has_images else ())


def _decided(request: Request, decision: Decision, notes: list[str]) -> JSONResponse:
    request.app.state.decisions.labels(decision.segment, decision.model_id or "-", decision.arm).inc()
    return JSONResponse({**decision.as_dict(), "notes": notes})


@router.post("/route", response_model=DecisionOut, responses=UNROUTABLE)
async def route(request: Request, body: RouteBody) -> JSONResponse:
    """Choose the model for a query, its fallback chain, and why every candidate was kept or dropped."""
    from modelctl.services.routing import Router

    router_ = Router.load(request.app.state.store, now=clock.now())
    route_request = router_.request(
        body.query, segment=body.segment, require=[c.value for c in body.require], max_cost=body.max_cost,
        deadline_ms=body.deadline_ms, objective=body.objective, min_quality_ratio=body.min_quality_ratio,
        cost_weight=body.cost_weight, request_id=body.request_id,
    )
    route_request = replace(route_request, attachments=_attachments(body))
    return _decided(request, router_.decide(route_request), router_.notes)


@router.post("/route/refinement", response_model=DecisionOut, responses=UNROUTABLE)
async def route_refinement(request: Request, body: RefinementBody) -> JSONResponse:
    """Pick a fast refiner within the refinement budget, or recommend bypassing refinement."""
    from modelctl.services.routing import Router

    router_ = Router.load(request.app.state.store, now=clock.now())
    route_request = router_.request(body.query, request_id=body.request_id)
    return _decided(request, router_.refine(route_request, body.refinement_type), router_.notes)


@router.get("/classify", response_model=ClassificationOut)
async def classify(query: Annotated[str, Query(min_length=1, pattern=QUERY_PATTERN)]) -> JSONResponse:
    """Query type, complexity and latency budget, with the signals behind them."""
    from modelctl.services.routing import classify_query, load_routing_config

    return JSONResponse(classify_query(query, config=load_routing_config()).as_dict())
