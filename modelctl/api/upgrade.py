"""The original auto-upgrade service (port 8002): candidates, discovery, rollouts, the schedule."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, Any

from fastapi import APIRouter, Body, Query, Request
from fastapi.responses import JSONResponse

from modelctl.api.auth import authenticate
from modelctl.api.schemas import (
    DiscoverBody,
    DiscoverOut,
    LoopOut,
    Problem,
    PromoteBody,
    RollbackBody,
    RolloutOut,
)

router = APIRouter(tags=["auto-upgrade"])
NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"model": Problem, "description": "Unknown model, provider or rollout"},
}


@router.get("/candidates", response_model=list[dict[str, Any]])
def candidates(request: Request, provider: Annotated[str | None, Query(max_length=100)] = None) -> JSONResponse:
    """Candidate models (never routed to until promoted), newest finds first."""
    from modelctl.services.discovery import candidates as list_candidates

    return JSONResponse(list_candidates(request.app.state.store, provider=provider))


@router.get("/evaluations", response_model=list[dict[str, Any]])
def evaluations(
    request: Request,
    candidate: Annotated[str | None, Query(max_length=200)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 50,
) -> JSONResponse:
    """Gate results of rollouts, newest first: verdict, figures, p-values."""
    from modelctl.services.upgrade import evaluations as read

    return JSONResponse(read(request.app.state.store, candidate_id=candidate, limit=limit))


@router.post("/discover", response_model=DiscoverOut, responses={
    **NOT_FOUND, 502: {"model": DiscoverOut, "description": "Every provider failed"}})
def discover(request: Request, body: Annotated[DiscoverBody | None, Body()] = None) -> JSONResponse:
    """List models at the providers now; new pinned chat models become candidates."""
    from modelctl.services.discovery import discover as run

    body = body or DiscoverBody()
    report = run(request.app.state.store, providers=body.providers, dry_run=body.dry_run, timeout_s=body.timeout_s)
    result = {
        "discovered": sum(p.count("new") for p in report.providers),
        "updated": sum(p.count("updated") for p in report.providers),
        "failed": [p.listing.provider for p in report.failed],
        **report.as_dict(),
    }
    return JSONResponse(result, status_code=502 if report.providers and report.all_failed else 200)


def _schedule_fixed() -> JSONResponse:
    return JSONResponse({"detail": "this server runs several worker processes (serve --workers) and only the "
                                   "first runs the schedule: start it with `serve --schedule`"}, 409)


SCHEDULE_RESPONSES: dict[int | str, dict[str, Any]] = {
    409: {"model": Problem, "description": "The schedule is fixed at start (serve --workers)"},
}


@router.post("/start", response_model=LoopOut, responses=SCHEDULE_RESPONSES)
async def start(request: Request) -> Any:
    """Run the upgrade tick and discovery on this server's own schedule (idempotent)."""
    if not request.app.state.schedule_by_http:
        return _schedule_fixed()
    return request.app.state.loop.start()


@router.post("/stop", response_model=LoopOut, responses=SCHEDULE_RESPONSES)
async def stop(request: Request) -> Any:
    """Stop this server's schedule (a run in progress finishes)."""
    if not request.app.state.schedule_by_http:
        return _schedule_fixed()
    return await request.app.state.loop.stop()


@router.get("/rollouts", response_model=list[RolloutOut])
def rollouts(request: Request, active: Annotated[bool, Query()] = False) -> JSONResponse:
    """Rollouts, oldest first: phase, traffic share, since when, why."""
    from modelctl.services.upgrade import rollout_status

    return JSONResponse([{"id": r.id, **r.as_dict()}
                         for r in rollout_status(request.app.state.store, active_only=active)])


def _transitions(transitions: list) -> JSONResponse:
    return JSONResponse([t.as_dict() for t in transitions])


@contextmanager
def _acting_for(request: Request) -> Iterator[None]:
    """The audit log and the rollout's reason name the caller ("token:admin", "key:NAME"), not the
    server's OS user."""
    from modelctl.paths import acting_for

    reset = acting_for.set(authenticate(request).actor)
    try:
        yield
    finally:
        acting_for.reset(reset)


@router.post("/promote/{model_id:path}", response_model=list[dict[str, Any]], responses=NOT_FOUND)
def promote(request: Request, model_id: str,
            body: Annotated[PromoteBody | None, Body()] = None) -> JSONResponse:
    """Start a rollout (shadow) or move it to its next phase: the manual gate (`modelctl promote`)."""
    from modelctl.services.upgrade import promote as run

    body = body or PromoteBody()
    with _acting_for(request):
        return _transitions(run(request.app.state.store, model_id, replaces=body.replaces,
                                segments=tuple(body.segments), to=body.to, traffic_pct=body.traffic, yes=body.yes))


@router.post("/rollback/{model_id:path}", response_model=list[dict[str, Any]], responses=NOT_FOUND)
def rollback(request: Request, model_id: str,
             body: Annotated[RollbackBody | None, Body()] = None) -> JSONResponse:
    """End a candidate's rollouts at once: no traffic, the incumbent restored."""
    from modelctl.services.upgrade import rollback as run

    body = body or RollbackBody()
    with _acting_for(request):
        return _transitions(run(request.app.state.store, model_id, reason=body.reason, incumbent_id=body.replaces))
