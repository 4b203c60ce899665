"""The FastAPI application: the three original services' routes on one app, over services/.

One app serves every port (one, or the original three), so they share one store, one rate
limiter and one upgrade schedule. Errors become JSON without a traceback: ModelctlError by its
kind (422 bad input, 404 not found, 409 no eligible model, 503 store, 502 a provider), anything
else 500 with a short message while the log gets the traceback.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from starlette.exceptions import HTTPException

from modelctl import __version__, clock
from modelctl.api import auth, guards
from modelctl.api.loop import UpgradeLoop
from modelctl.api.schemas import HealthOut
from modelctl.errors import (
    AllModelsFailed,
    ConfigError,
    InvalidInput,
    ModelctlError,
    NoEligibleModel,
    NotFound,
    ProviderError,
    StoreError,
)
from modelctl.services.database import Store


@dataclass(frozen=True)
class ApiSettings:
    token: str | None = None  # set: every request but GET /health needs it as a bearer token
    rate_per_s: float = 100.0  # per client, on average
    burst: int = 200
    max_body_bytes: int = 1 << 20
    tick_interval_s: float = 900.0  # the cron step the upgrade tick is designed for
    discover_interval_s: float = 7 * 86_400.0
    schedule_by_http: bool = True  # False with `serve --workers N`: the schedule is --schedule's, in one process


def _status_of(exc: ModelctlError) -> int:
    if isinstance(exc, ConfigError):
        return 500  # the server's own YAML is wrong: not the client's fault
    if isinstance(exc, InvalidInput):
        return 422
    if isinstance(exc, NotFound):
        return 404
    if isinstance(exc, NoEligibleModel):
        return 409  # a valid request the catalog and health cannot serve now: the trace says why
    if isinstance(exc, StoreError):
        return 503
    if isinstance(exc, (ProviderError, AllModelsFailed)):
        return 502
    return 500


async def _modelctl_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ModelctlError)
    status = _status_of(exc)
    message = str(exc).strip() or type(exc).__name__
    if status == 422:  # the shape FastAPI gives its own validation errors; the message names the field
        return JSONResponse({"detail": [{"loc": ["request"], "msg": message, "type": "invalid_input"}]}, 422)
    body: dict[str, Any] = {"detail": message}
    if isinstance(exc, NoEligibleModel) and exc.trace:
        body["reason"] = [c.as_dict() if hasattr(c, "as_dict") else c for c in exc.trace]
    return JSONResponse(body, status)


async def _http_error(request: Request, exc: Exception) -> Response:
    """FastAPI answers 400 for a body it cannot even decode (not UTF-8): a bad body, so 422."""
    assert isinstance(exc, HTTPException)
    if exc.status_code == 400:
        return JSONResponse({"detail": [{"loc": ["body"], "msg": f"the body cannot be read as JSON: {exc.detail}",
                                         "type": "json_invalid"}]}, 422)
    return await http_exception_handler(request, exc)


def _json_safe(value: Any) -> bool:
    """Whether strict JSON can carry `value`: no NaN or infinity, no lone surrogate."""
    import json

    try:
        json.dumps(value, allow_nan=False, ensure_ascii=False).encode()
    except (ValueError, TypeError, UnicodeEncodeError):
        return False
    return True


async def _invalid_request(request: Request, exc: Exception) -> JSONResponse:
    """FastAPI's 422, rendered so that a NaN, 1e309 or lone surrogate in the body cannot make it a
    500: each error keeps its field (`loc`) and message; an input strict JSON cannot carry is left out."""
    from fastapi.exceptions import RequestValidationError

    assert isinstance(exc, RequestValidationError)
    errors = []
    for error in exc.errors():
        shown = {"loc": [str(part) for part in error.get("loc", ())],
                 "msg": str(error.get("msg", "")).encode("utf-8", "backslashreplace").decode(),
                 "type": error.get("type", "invalid")}
        if "input" in error and _json_safe(error["input"]):
            shown["input"] = error["input"]
        errors.append(shown)
    return JSONResponse({"detail": errors}, 422)


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    """Starlette re-raises after this answer, so the server log gets the traceback."""
    return JSONResponse({"detail": "internal error; the server log has the details"}, 500)


def create_app(store: Store, settings: ApiSettings = ApiSettings()) -> FastAPI:
    """The app over an open store; the caller owns the store (opened once per process)."""
    from fastapi.exceptions import RequestValidationError
    from prometheus_client import Counter

    from modelctl.api import feedback, openai_compat, registry, routing, upgrade

    loop = UpgradeLoop(store, tick_interval_s=settings.tick_interval_s,
                       discover_interval_s=settings.discover_interval_s)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        yield
        await loop.stop()
        openai_compat.shutdown(_app)

    app = FastAPI(
        title="modelctl",
        version=__version__,
        description="The registry, router and auto-upgrade APIs of the original design, over modelctl's "
                    "services. With MODELCTL_API_TOKEN set, every request but GET /health needs "
                    "`Authorization: Bearer <token>` or a client key from `modelctl keys create`.",
        lifespan=lifespan,
    )
    app.state.store = store
    app.state.loop = loop
    app.state.schedule_by_http = settings.schedule_by_http
    app.state.decisions = Counter(
        "modelctl_api_route_decisions", "Routing decisions this server made, by segment, model and arm.",
        ["segment", "model", "arm"], registry=None,
    )
    app.add_exception_handler(ModelctlError, _modelctl_error)
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _invalid_request)
    app.add_exception_handler(Exception, _unexpected)
    # added last = outermost: a flood is turned away before the token is compared or a body read
    app.add_middleware(guards.BodyLimit, limit=settings.max_body_bytes)
    app.add_middleware(auth.Authenticate, store=store, token=settings.token)
    app.add_middleware(guards.RateLimit, buckets=guards.TokenBuckets(rate=settings.rate_per_s, burst=settings.burst))

    @app.get("/health", response_model=HealthOut, tags=["registry"],
             responses={503: {"model": HealthOut, "description": "The database cannot be read"}})
    def health() -> JSONResponse:
        """Liveness and the database's readability; needs no token."""
        try:
            store.schema_version()
        except StoreError:
            return JSONResponse({"status": "unhealthy", "version": __version__,
                                 "detail": "the database cannot be read; see the server log"}, 503)
        return JSONResponse({"status": "healthy", "version": __version__})

    @app.get("/metrics", response_class=PlainTextResponse, tags=["metrics"])
    def metrics() -> PlainTextResponse:
        """The Prometheus exposition (`modelctl metrics`), plus this server's routing decisions."""
        from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

        from modelctl.services.metrics import registry_for

        text = generate_latest(registry_for(store, now=clock.now, extra=[app.state.decisions]))
        return PlainTextResponse(text, media_type=CONTENT_TYPE_LATEST)

    app.include_router(registry.router)
    app.include_router(routing.router)
    app.include_router(upgrade.router)
    app.include_router(feedback.router)
    openai_compat.install(app)
    return app
