"""SQLModel tables: the schema the migrations in migrations/versions/ build.

Timestamps are naive UTC. Money is USD floats. `usage` holds no query or answer text (privacy).
"""

from __future__ import annotations

import dataclasses
from datetime import date, datetime
from typing import TYPE_CHECKING, Any, get_type_hints

from pydantic import create_model
from sqlalchemy import JSON, BigInteger, Column, Index, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from modelctl.core.catalog import ModelSpec

# How a catalog column differs from a plain column of its ModelSpec field's type and default
# (its `max_length` comes from the field's rules).
_CATALOG_COLUMNS: dict[str, dict[str, Any]] = {
    "model_id": {"primary_key": True},
    "provider": {"index": True},
    "status": {"index": True},
    "capabilities": {"sa_column": Column(JSON, nullable=False)},  # a set, stored as a JSON list
}


def _catalog_columns() -> type[SQLModel]:
    """ModelSpec's fields as columns, for the `model` table to inherit."""
    kinds = get_type_hints(ModelSpec)
    kinds["capabilities"] = list[str]
    columns: dict[str, Any] = {}
    for spec_field in dataclasses.fields(ModelSpec):
        options = dict(_CATALOG_COLUMNS.get(spec_field.name, {}))
        if "max_length" in spec_field.metadata:
            options["max_length"] = spec_field.metadata["max_length"]
        if spec_field.default_factory is not dataclasses.MISSING:
            options["default_factory"] = list
        elif spec_field.default is not dataclasses.MISSING:
            options["default"] = spec_field.default
        columns[spec_field.name] = (kinds[spec_field.name], Field(**options))
    return create_model("CatalogColumns", __base__=SQLModel, __module__=__name__, **columns)


if TYPE_CHECKING:  # mypy cannot see a generated class's columns; it checks the row as the SQLModel it is
    _CatalogColumns = SQLModel
else:
    _CatalogColumns = _catalog_columns()


class ModelRow(_CatalogColumns, table=True):
    """A catalog model (its columns generated from core.catalog.ModelSpec) and what the store keeps
    beside it: health, timestamps, and where discovery found it."""

    __tablename__ = "model"

    consecutive_failures: int = 0
    cooldown_until: datetime | None = None
    created_at: datetime
    updated_at: datetime
    # discovery (migration 0003): when and from which list the model was first seen, and
    # whether its id is a pinned snapshot, a moving alias or a preview
    found_at: datetime | None = None
    stability: str | None = None
    discovered_from: str | None = None


class ProviderRow(SQLModel, table=True):
    __tablename__ = "provider"

    name: str = Field(primary_key=True, max_length=100)
    kind: str
    base_url: str | None = None
    api_key_env: str | None = None
    health: str = "unknown"
    consecutive_failures: int = 0
    cooldown_until: datetime | None = None
    last_check: datetime | None = None


class UsageRow(SQLModel, table=True):
    __tablename__ = "usage"
    __table_args__ = (
        UniqueConstraint("request_id", "attempt", name="uq_usage_request_attempt"),
        Index("ix_usage_model_ts", "model_id", "ts"),
        Index("ix_usage_ts", "ts"),
        # upgrade tick's gate reads, index-only (migration 0011, tests/benchmarks/bench_tick.py)
        Index("ix_usage_rollout_window", "model_id", "arm", "segment", "ts", "success", "latency_ms", "cost_usd",
              "quality"),
        Index("ix_usage_client_key_ts", "client_key", "ts"),
    )

    id: int | None = Field(default=None, primary_key=True)
    ts: datetime
    model_id: str = Field(max_length=200)
    provider: str = Field(max_length=100)
    segment: str | None = None
    arm: str = "control"
    latency_ms: float | None = None  # NULL: the call reached no server, so nothing was measured
    ttft_ms: float | None = None
    tokens_in: int = 0
    tokens_out: int = 0
    cost_usd: float | None = None
    success: bool = True
    error_kind: str | None = None
    quality: float | None = None
    request_id: str | None = Field(default=None, max_length=200)
    attempt: int = 0
    client_key: str | None = Field(default=None, max_length=100)  # the API client key's name (0011)


class _RollupSums(SQLModel):
    """What a roll-up row holds for its group: sums and two log-bucket histograms (JSON)."""

    model_id: str = Field(primary_key=True, max_length=200)
    provider: str = Field(primary_key=True, max_length=100)
    segment: str = Field(primary_key=True)
    arm: str = Field(primary_key=True)
    calls: int
    successes: int
    tokens_in: int = Field(sa_type=BigInteger, nullable=False)
    tokens_out: int = Field(sa_type=BigInteger, nullable=False)
    cost_usd: float
    latency_sum_ms: float
    quality_sum: float
    quality_n: int
    latency_n: int  # the calls behind latency_sum_ms and latency_hist: those with a latency
    latency_hist: str = Field(sa_type=Text, nullable=False)
    ttft_hist: str = Field(sa_type=Text, nullable=False)


class UsageRollupRow(_RollupSums, table=True):
    """Hourly sums and latency histograms per (model, provider, segment, arm): what `stats` reads
    for the hours at the edges of its window."""

    __tablename__ = "usage_rollup"

    hour: datetime = Field(primary_key=True)


class UsageRollupDailyRow(_RollupSums, table=True):
    """The same per day (`day` is its midnight): `stats` and metrics read whole days here, 24
    times fewer rows to decode."""

    __tablename__ = "usage_rollup_daily"

    day: datetime = Field(primary_key=True)


class ClientKeyRow(SQLModel, table=True):
    """A client key of the HTTP API: its name and the SHA-256 of the secret (never the secret),
    a monthly budget and a rate limit (both optional), and when it was revoked."""

    __tablename__ = "client_key"

    name: str = Field(primary_key=True, max_length=100)
    key_hash: str = Field(max_length=64, unique=True)
    budget_usd: float | None = None
    rate_limit: float | None = None
    created_at: datetime
    revoked_at: datetime | None = None


class AuditRow(SQLModel, table=True):
    __tablename__ = "audit"

    id: int | None = Field(default=None, primary_key=True)
    ts: datetime = Field(index=True)
    actor: str
    action: str
    target: str
    before: str | None = Field(default=None, sa_column=Column(Text))
    after: str | None = Field(default=None, sa_column=Column(Text))


class EvaluationScoreRow(SQLModel, table=True):
    """`record_key` (migration 0009): an imported record's id, or a digest of its content and
    occurrence, unique so that importing the same file again adds nothing (store/scores.py)."""

    __tablename__ = "evaluation_score"
    __table_args__ = (
        Index("ix_evaluation_score_segment_model", "segment", "model_id"),
        Index("uq_evaluation_score_record_key", "record_key", unique=True),
    )

    id: int | None = Field(default=None, primary_key=True)
    ts: datetime
    model_id: str = Field(max_length=200)
    segment: str
    score: float
    cost_usd: float | None = None
    latency_ms: float | None = None
    source: str = "import"
    record_key: str | None = Field(default=None, max_length=210)


class DiscoveryRunRow(SQLModel, table=True):
    """One provider's part of one `modelctl discover` run; `error` set when the listing failed."""

    __tablename__ = "discovery_run"

    id: int | None = Field(default=None, primary_key=True)
    ts: datetime = Field(index=True)
    provider: str = Field(max_length=100)
    found: int = 0
    new: int = 0
    updated: int = 0
    error: str | None = Field(default=None, sa_column=Column(Text))
    duration_ms: float | None = None


class RolloutRow(SQLModel, table=True):
    """One candidate's journey against one incumbent on a set of segments (see core.rollout).

    Rows in phase `full` are also the chain substitutions routing applies: policy.yaml is bundled
    and never rewritten, so the candidate takes the incumbent's place through these rows.
    """

    __tablename__ = "rollout"
    __table_args__ = (Index("ix_rollout_phase", "phase"), Index("ix_rollout_candidate", "candidate_id"))

    id: int | None = Field(default=None, primary_key=True)
    candidate_id: str = Field(max_length=200)
    incumbent_id: str = Field(max_length=200)
    segments: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    phase: str
    traffic_pct: float
    salt: str = Field(max_length=64)
    started_at: datetime
    phase_started_at: datetime
    decided_at: datetime | None = None
    reason: str = Field(default="", sa_column=Column(Text, nullable=False))


class GateResultRow(SQLModel, table=True):
    """One gate's verdict on one segment of a rollout's window at one tick (or manual promote);
    rows written before migration 0008 judged the segments pooled and have no segment."""

    __tablename__ = "gate_result"
    __table_args__ = (Index("ix_gate_result_rollout_ts", "rollout_id", "ts"),)

    id: int | None = Field(default=None, primary_key=True)
    rollout_id: int = Field(foreign_key="rollout.id")
    ts: datetime
    phase: str
    segment: str | None = None
    window_start: datetime
    window_end: datetime
    gate: str
    verdict: str
    n_control: int
    n_candidate: int
    p_value: float | None = None
    summary: str = Field(sa_column=Column(Text, nullable=False))
    figures: dict = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))


class LeaseRow(SQLModel, table=True):
    """A named lease (one row per job): taken by an atomic UPDATE only where it has expired."""

    __tablename__ = "lease"

    name: str = Field(primary_key=True, max_length=100)
    holder: str | None = None
    expires_at: datetime


class RefinementOrderRow(SQLModel, table=True):
    """A refinement chain's order as `modelctl refiners sweep` last measured it (policy.yaml is never
    rewritten); routing applies it to the chain's members and keeps policy order for the rest."""

    __tablename__ = "refinement_order"

    name: str = Field(primary_key=True, max_length=20)
    chain: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    updated_at: datetime


class UsagePrunedRow(SQLModel, table=True):
    """Raw usage rows `usage prune` deleted, per day: their calls stay in the roll-ups."""

    __tablename__ = "usage_pruned"

    day: date = Field(primary_key=True)
    calls: int = Field(sa_column=Column(BigInteger, nullable=False))
    pruned_at: datetime


class JudgeVerdictRow(SQLModel, table=True):
    """The judge's verdict for the candidate on one shadow pair (services/judge.py): win, tie or
    loss against the incumbent's answer to the same request. Never the prompt or the answers."""

    __tablename__ = "judge_verdict"
    __table_args__ = (Index("ix_judge_verdict_rollout_ts", "rollout_id", "ts"),)

    id: int | None = Field(default=None, primary_key=True)
    rollout_id: int = Field(foreign_key="rollout.id")
    candidate_id: str = Field(max_length=200)
    incumbent_id: str = Field(max_length=200)
    segment: str
    request_id: str = Field(max_length=200)
    verdict: str  # "win" | "tie" | "loss", for the candidate
    judge_model: str = Field(max_length=200)
    cost_usd: float | None = None
    ts: datetime


class OfflineEvaluationRow(SQLModel, table=True):
    """The verdict of one `modelctl evaluate` run, which `promote` shows (and may require)."""

    __tablename__ = "offline_evaluation"
    __table_args__ = (Index("ix_offline_evaluation_candidate_ts", "candidate_id", "ts"),)

    id: int | None = Field(default=None, primary_key=True)
    ts: datetime
    candidate_id: str = Field(max_length=200)
    incumbents: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    suite: str
    judge_model: str | None = None
    pairs: int
    mean_difference: float
    p_value: float | None = None
    verdict: str  # "candidate not worse" | "candidate worse" | "inconclusive"


class RoutingGenerationRow(SQLModel, table=True):
    """One row: a counter the database's own triggers move whenever something routing reads
    changes (migration 0014), so a cached routing state knows when to be re-read."""

    __tablename__ = "routing_generation"

    id: int | None = Field(default=None, primary_key=True)
    n: int = Field(sa_type=BigInteger, nullable=False)
