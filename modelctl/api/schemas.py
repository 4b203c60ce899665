"""Request and response bodies: what the OpenAPI schema at /docs promises.

Request models check types and ranges so a bad body is a 422 naming its field; the services
still validate what they own (query limits, capabilities), also answered as 422. The catalog's and
the usage record's schemas are not written here: ModelOut is config.CatalogModel, and UsageBody is
generated from core.usage.UsageRecord, whose validator record_usage applies.
"""

from __future__ import annotations

from enum import StrEnum
from typing import TYPE_CHECKING, Annotated, Any, Literal

import msgspec
from pydantic import BaseModel, ConfigDict, Field, create_model

from modelctl.config import CatalogModel
from modelctl.core.catalog import CAPABILITIES
from modelctl.core.usage import UsageRecord

ModelOut = CatalogModel  # the original registry's schema: capabilities, performance, costs, limits
# one member per core.catalog.CAPABILITIES
Capability = StrEnum("Capability", {c: c for c in CAPABILITIES})  # type: ignore[misc]  # mypy wants literal members

# What core.routing.validate_query accepts, so the schema says it: any text but NUL, with something
# besides white space (lone surrogates are refused with the field named before a pattern applies;
# the length limit is policy.yaml's).
QUERY_PATTERN = r"^[^\x00]*[^\s\x00][^\x00]*$"


class Problem(BaseModel):
    """Every error that is not a validation error: one message that names the fix."""

    detail: str


class Unroutable(Problem):
    """Every candidate was dropped: the reason for each (as `route --explain`)."""

    reason: list[dict[str, Any]] = Field(default_factory=list)


class RouteContext(BaseModel):
    """What the original gateway sends beside the query; unknown keys are accepted and ignored."""

    model_config = ConfigDict(extra="allow")

    has_images: bool = False
    files: list[str] = Field(default_factory=list, max_length=32,
                             description="Names or URLs of attachments the model must see or hear "
                                         "(never read by the server).")


class RouteBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    query: str = Field(min_length=1, pattern=QUERY_PATTERN)
    context: RouteContext = Field(default_factory=RouteContext)
    segment: str | None = Field(default=None, max_length=100)
    require: list[Capability] = Field(default_factory=list, max_length=16,
                                      description="Capabilities the model must have.")
    max_cost: float | None = Field(default=None, ge=0, allow_inf_nan=False)
    deadline_ms: int | None = Field(default=None, gt=0, le=600_000)
    objective: Literal["policy", "cost", "quality", "value"] | None = None
    min_quality_ratio: float | None = Field(default=None, gt=0, le=1)
    cost_weight: float | None = Field(default=None, ge=0, allow_inf_nan=False)
    request_id: str | None = Field(default=None, min_length=1, max_length=200,
                                   description="Decides rollout arms: the same id always routes the same way.")


class RefinementBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    query: str = Field(min_length=1, pattern=QUERY_PATTERN)
    refinement_type: Literal["fast", "quality", "lmm"] = "fast"
    request_id: str | None = Field(default=None, min_length=1, max_length=200)


class CandidateOut(BaseModel):
    model_id: str
    provider: str | None
    verdict: str
    reason: str
    estimated_cost: float | None
    estimated_latency_ms: float | None
    quality: dict[str, Any] | None


class DecisionOut(BaseModel):
    """`modelctl route --json`, whose first keys are the original router's."""

    model_id: str | None
    provider: str | None
    confidence: float
    fallback_models: list[str]
    estimated_cost: float | None
    estimated_latency: float | None = Field(description="Seconds.")
    query_type: str
    reason: list[CandidateOut]
    complexity: str
    budget_seconds: float
    segment: str
    arm: str
    shadow_model: str | None
    warnings: list[str]
    bypass_recommended: bool
    notes: list[str]


class ClassificationOut(BaseModel):
    query_type: str
    complexity: str
    budget_seconds: int
    confidence: float
    signals: list[str]


def _annotation(kind: msgspec.inspect.Type) -> Any:
    """A msgspec field type, its bounds and lengths as pydantic reads them."""
    import msgspec.inspect as mi

    if isinstance(kind, mi.UnionType):
        [inner] = [t for t in kind.types if not isinstance(t, mi.NoneType)]
        return _annotation(inner) | None
    if isinstance(kind, mi.Metadata):
        return Annotated[_annotation(kind.type), Field(**(kind.extra_json_schema or {}))]
    if isinstance(kind, mi.FloatType):
        return Annotated[float, Field(ge=kind.ge, le=kind.le, allow_inf_nan=False)]
    if isinstance(kind, mi.IntType):
        return Annotated[int, Field(ge=kind.ge, le=kind.le)]
    if isinstance(kind, mi.StrType):
        return Annotated[str, Field(min_length=kind.min_length, max_length=kind.max_length, pattern=kind.pattern)]
    if isinstance(kind, mi.BoolType):
        return bool
    if isinstance(kind, mi.LiteralType):
        return Literal[kind.values]
    raise TypeError(f"no pydantic spelling for {kind}")  # a new kind of UsageRecord field: spell it here


def _usage_body() -> type[BaseModel]:
    """core.usage.UsageRecord as the body FastAPI documents and checks (a bad one is a 422 naming
    its field); model_id comes from the path. record_usage then applies the one validator."""
    import msgspec.inspect as mi

    info = mi.type_info(UsageRecord)
    assert isinstance(info, mi.StructType)
    fields: dict[str, Any] = {
        field.name: (_annotation(field.type), ... if field.required else field.default)
        for field in info.fields if field.name != "model_id"
    }
    return create_model("UsageBody", __config__=ConfigDict(extra="forbid"),
                        __doc__="The fields of `modelctl usage record` (model_id comes from the path).", **fields)


if TYPE_CHECKING:
    class UsageBody(BaseModel):
        """What a type checker can know of the model _usage_body generates: a pydantic model."""
else:
    UsageBody = _usage_body()


class UsageOut(BaseModel):
    recorded: bool
    model_id: str
    provider: str
    segment: str | None
    arm: str
    latency_ms: float
    ttft_ms: float | None
    tokens_in: int
    tokens_out: int
    cost_usd: float | None
    success: bool
    error_kind: str | None
    quality: float | None
    request_id: str | None
    attempt: int
    ts: str
    client_key: str | None = Field(default=None, description="The client key the outcome came through.")
    note: str | None = None


class ProviderOut(BaseModel):
    name: str
    kind: str
    base_url: str | None
    api_key_env: str | None
    key_set: bool
    health: str
    cooldown_until: str | None


class DiscoverBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    providers: list[str] = Field(default_factory=list, max_length=50, description="Default: every configured one.")
    dry_run: bool = False
    timeout_s: float | None = Field(default=None, ge=0.1, le=600)


class DiscoverOut(BaseModel):
    discovered: int = Field(description="New candidate models added (or that would be, on a dry run).")
    updated: int
    failed: list[str]
    dry_run: bool
    providers: list[dict[str, Any]]


class PromoteBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    replaces: str | None = Field(default=None, max_length=200)
    segments: list[str] = Field(default_factory=list, max_length=16)
    to: Literal["shadow", "canary", "full"] | None = None
    traffic: float | None = Field(default=None, gt=0, le=100)
    yes: bool = False


class RollbackBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str | None = Field(default=None, max_length=500)
    replaces: str | None = Field(default=None, max_length=200)


class RolloutOut(BaseModel):
    id: int
    candidate_id: str
    incumbent_id: str
    segments: list[str]
    phase: str
    traffic_pct: float
    phase_started_at: str
    reason: str


class LoopOut(BaseModel):
    """The server's own upgrade tick and discovery schedule."""

    running: bool
    tick_interval_s: float
    discover_interval_s: float
    ticks: int
    discoveries: int
    last_tick: dict[str, Any] | None
    last_discovery: dict[str, Any] | None


class HealthOut(BaseModel):
    status: Literal["healthy", "unhealthy"]
    version: str
    detail: str | None = None
