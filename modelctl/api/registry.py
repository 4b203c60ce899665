"""The original registry service (port 8000): the catalog, providers, and usage reports."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Query, Request
from fastapi.responses import JSONResponse

from modelctl.api.auth import authenticate
from modelctl.api.schemas import Capability, ModelOut, Problem, ProviderOut, UsageBody, UsageOut
from modelctl.clock import rfc3339
from modelctl.core.catalog import ModelSpec
from modelctl.errors import InvalidInput

router = APIRouter(tags=["registry"])
NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"model": Problem, "description": "Unknown model"}}


def _models(specs: list[ModelSpec]) -> list[dict[str, Any]]:
    from modelctl.config import CatalogModel

    return [CatalogModel.from_spec(spec).model_dump(mode="json") for spec in specs]


def _list(request: Request, **filters: Any) -> JSONResponse:
    from modelctl.services.catalog import ModelFilter, list_models

    return JSONResponse(_models(list_models(request.app.state.store, ModelFilter(**filters))))


@router.get("/models", response_model=list[ModelOut])
def models(request: Request) -> JSONResponse:
    """Every catalog model, in the original registry's schema."""
    return _list(request)


@router.get("/models/stable", response_model=list[ModelOut])
def stable_models(request: Request) -> JSONResponse:
    """Models with status stable: the ones routed to by default."""
    return _list(request, status="stable")


@router.get("/models/refiners", response_model=list[ModelOut])
def refiner_models(request: Request) -> JSONResponse:
    """Fast, cheap models for query refinement."""
    return _list(request, refiners=True)


@router.get("/models/capability/{capability}", response_model=list[ModelOut])
def models_with_capability(request: Request, capability: Capability) -> JSONResponse:
    return _list(request, capability=capability.value)


@router.get("/models/provider/{provider}", response_model=list[ModelOut])
def models_of_provider(request: Request, provider: str) -> JSONResponse:
    return _list(request, provider=provider)


@router.post("/models/{model_id:path}/usage", response_model=UsageOut, responses=NOT_FOUND)
def record_usage(
    request: Request,
    model_id: str,
    body: Annotated[UsageBody | None, Body(description="The fields of `modelctl usage record`.")] = None,
    query_type: Annotated[str | None, Query(max_length=100, description="The segment (original clients).")] = None,
    response_time: Annotated[float | None, Query(ge=0, le=86_400, allow_inf_nan=False,
                                                 description="Seconds (original clients).")] = None,
    cost_usd: Annotated[float | None, Query(ge=0, allow_inf_nan=False)] = None,
) -> JSONResponse:
    """Record one call outcome: query parameters as the original clients send them, or a JSON body."""
    from modelctl.services.catalog import require_model
    from modelctl.services.usage import record_usage as record
    from modelctl.services.usage import require_known_segment

    store = request.app.state.store
    require_model(store, model_id)  # an unknown model is a 404 whatever else is wrong
    if body is not None:
        fields = body.model_dump(exclude_none=True)
    elif response_time is not None:
        fields = {"latency_ms": response_time * 1000.0, "segment": query_type, "cost_usd": cost_usd}
    else:
        raise InvalidInput("response_time: give it as a query parameter (seconds), or send a JSON body "
                           "with latency_ms")
    require_known_segment(fields.get("segment"))
    result = record(store, {"model_id": model_id, **{k: v for k, v in fields.items() if v is not None}},
                    client_key=authenticate(request).key)
    result["success"] = bool(result["success"])
    return JSONResponse(result)


@router.get("/models/{model_id:path}", response_model=ModelOut, responses=NOT_FOUND)
def model(request: Request, model_id: str) -> JSONResponse:
    from modelctl.services.catalog import require_model

    return JSONResponse(_models([require_model(request.app.state.store, model_id)])[0])


@router.get("/providers", response_model=list[ProviderOut])
def providers(request: Request) -> JSONResponse:
    """Configured providers: wire kind, base URL, whether the key's env var is set (never the key), health."""
    from modelctl.services.providers import provider_report

    rows = provider_report(request.app.state.store)
    return JSONResponse([{**row, "cooldown_until": row["cooldown_until"] and rfc3339(row["cooldown_until"])}
                         for row in rows])
