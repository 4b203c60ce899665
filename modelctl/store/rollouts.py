"""Rollout, gate_result and lease rows; the per-arm window aggregates the gates judge.

Reads go through `Store.read` (the routing hot path reads active rollouts on every `route`), so
this module imports no SQLAlchemy at load time.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from modelctl.clock import rfc3339
from modelctl.core.routing import RolloutArm
from modelctl.errors import StoreError
from modelctl.store.catalog import as_datetime
from modelctl.store.db import Store, sql_ts

if TYPE_CHECKING:  # the gates' and state machine's cores load only for tick and promote, not route
    from sqlalchemy.engine import Connection

    from modelctl.core.gates import ArmSample, GateResult, LatencyHistogram
    from modelctl.core.rollout import RolloutView

TICK_LEASE = "upgrade-tick"
ROUTED_PHASES = ("shadow", "canary")
_COLUMNS = ("id", "candidate_id", "incumbent_id", "segments", "phase", "traffic_pct", "salt", "started_at",
            "phase_started_at", "decided_at", "reason")
_SELECT = f"SELECT {', '.join(_COLUMNS)} FROM rollout"


@dataclass(frozen=True, slots=True)
class Rollout:
    id: int
    candidate_id: str
    incumbent_id: str
    segments: tuple[str, ...]
    phase: str
    traffic_pct: float
    salt: str
    started_at: datetime
    phase_started_at: datetime
    decided_at: datetime | None
    reason: str

    def view(self) -> RolloutView:
        from modelctl.core.rollout import RolloutView

        return RolloutView(self.candidate_id, self.incumbent_id, self.phase, self.traffic_pct, self.phase_started_at)

    def as_dict(self) -> dict[str, Any]:
        """The shape `upgrade status --json` promises."""
        return {
            "candidate_id": self.candidate_id,
            "incumbent_id": self.incumbent_id,
            "segments": list(self.segments),
            "phase": self.phase,
            "traffic_pct": self.traffic_pct,
            "phase_started_at": rfc3339(self.phase_started_at),
            "reason": self.reason,
        }


def _from_row(row: tuple) -> Rollout:
    values = dict(zip(_COLUMNS, row, strict=True))
    segments = values["segments"]
    values["segments"] = tuple(json.loads(segments) if isinstance(segments, str) else segments)
    for name in ("started_at", "phase_started_at", "decided_at"):
        values[name] = as_datetime(values[name])
    values["traffic_pct"] = float(values["traffic_pct"])
    return Rollout(**values)


def list_rollouts(store: Store, *, phases: tuple[str, ...] | None = None,
                  candidate_id: str | None = None) -> list[Rollout]:
    """Oldest first, which is also the order full rollouts substitute chains in."""
    where, params = [], {}
    if phases:
        where.append(f"phase IN ({', '.join(f':p{i}' for i in range(len(phases)))})")
        params.update({f"p{i}": p for i, p in enumerate(phases)})
    if candidate_id is not None:
        where.append("candidate_id = :candidate")
        params["candidate"] = candidate_id
    sql = _SELECT + (f" WHERE {' AND '.join(where)}" if where else "") + " ORDER BY id"
    return [_from_row(row) for row in store.read(sql, params)]


def routing_rollouts(store: Store) -> tuple[list[RolloutArm], list[Rollout]]:
    """(arms of shadow/canary rollouts, full rollouts in the order they happened) in one read."""
    rollouts = list_rollouts(store, phases=(*ROUTED_PHASES, "full"))
    arms = [
        RolloutArm(r.candidate_id, r.incumbent_id, frozenset(r.segments), r.phase, r.traffic_pct, r.salt)
        for r in rollouts if r.phase in ROUTED_PHASES
    ]
    full = sorted((r for r in rollouts if r.phase == "full"), key=lambda r: (r.decided_at or r.started_at, r.id))
    return arms, full


def substitute(chain: tuple[str, ...], segment: str, full: list[Rollout]) -> tuple[str, ...]:
    """A segment's chain after full rollouts: each candidate takes its incumbent's place."""
    for rollout in full:
        if segment in rollout.segments and rollout.incumbent_id in chain:
            chain = tuple(
                rollout.candidate_id if model == rollout.incumbent_id else model
                for model in chain if model != rollout.candidate_id
            )
    return chain


def insert_rollout(conn: Connection, *, candidate_id: str, incumbent_id: str, segments: tuple[str, ...], phase: str,
                   traffic_pct: float, salt: str, now: datetime, reason: str) -> int:
    from sqlalchemy import text

    values = {
        "candidate_id": candidate_id, "incumbent_id": incumbent_id, "segments": json.dumps(list(segments)),
        "phase": phase, "traffic_pct": traffic_pct, "salt": salt, "started_at": sql_ts(now),
        "phase_started_at": sql_ts(now), "decided_at": sql_ts(now) if phase == "full" else None, "reason": reason,
    }
    columns = ", ".join(values)
    conn.execute(text(f"INSERT INTO rollout ({columns}) VALUES ({', '.join(':' + c for c in values)})"), values)
    return conn.execute(
        text("SELECT MAX(id) FROM rollout WHERE candidate_id = :c AND incumbent_id = :i"),
        {"c": candidate_id, "i": incumbent_id},
    ).scalar_one()


def update_rollout(conn: Connection, rollout_id: int, *, expected_phase: str, phase: str, traffic_pct: float,
                   phase_started_at: datetime, decided_at: datetime | None, reason: str) -> bool:
    """False when the rollout is no longer in `expected_phase` (another command moved it first)."""
    from sqlalchemy import text

    updated = conn.execute(
        text("UPDATE rollout SET phase = :phase, traffic_pct = :traffic, phase_started_at = :started, "
             "decided_at = :decided, reason = :reason WHERE id = :id AND phase = :expected"),
        {"phase": phase, "traffic": traffic_pct, "started": sql_ts(phase_started_at),
         "decided": sql_ts(decided_at) if decided_at else None, "reason": reason, "id": rollout_id,
         "expected": expected_phase},
    )
    return updated.rowcount == 1


def set_reason(conn: Connection, rollout_id: int, reason: str) -> None:
    from sqlalchemy import text

    conn.execute(text("UPDATE rollout SET reason = :reason WHERE id = :id"), {"reason": reason, "id": rollout_id})


# --------------------------------------------------------------------------- the gates' evidence


def _arm_filter(model_id: str, arm: str, segments: tuple[str, ...], start: datetime, end: datetime,
                ) -> tuple[str, dict[str, Any]]:
    """Rows of exactly this arm: rescue and judge calls carry arms of their own, so neither side counts them."""
    marks = ", ".join(f":s{i}" for i in range(len(segments)))
    params: dict[str, Any] = {f"s{i}": s for i, s in enumerate(segments)}
    params.update(model=model_id, arm=arm, start=sql_ts(start), end=sql_ts(end))
    return (f"model_id = :model AND arm = :arm AND ts >= :start AND ts <= :end AND segment IN ({marks})",
            params)


# core.histogram.bucket_of in SQL, generated from its GROWTH: bucket 0 under 1 ms, 1 ms in bucket 1.
_BUCKET_SQL = ("CASE WHEN latency_ms < 1 THEN 0 WHEN latency_ms = 1 THEN 1 "
               "ELSE CAST(CEIL(ln(latency_ms) / :log_growth) AS INTEGER) END")


def arm_samples(store: Store, *, model_id: str, arm: str, segments: tuple[str, ...], start: datetime,
                end: datetime, latency_sample: int) -> dict[str, ArmSample]:
    """One arm's calls in a window per segment, summed in SQL, with the latency histogram of its
    successful calls. Cost reads priced successful calls only: a failed call's cost says nothing
    about what an answer costs. Every segment asked for has an entry, empty when it had no calls."""
    from modelctl.core.gates import ArmSample, Moments

    where, params = _arm_filter(model_id, arm, segments, start, end)
    rows = store.read(
        "SELECT segment, COUNT(*), SUM(CASE WHEN success THEN 1 ELSE 0 END), "
        "COUNT(CASE WHEN success THEN cost_usd END), SUM(CASE WHEN success THEN cost_usd END), "
        "SUM(CASE WHEN success THEN cost_usd * cost_usd END), COUNT(quality), SUM(quality), "
        f"SUM(quality * quality) FROM usage WHERE {where} GROUP BY segment",
        params,
    )
    samples = {segment: ArmSample() for segment in segments}
    successes = {row[0]: int(row[2] or 0) for row in rows}
    latencies = _latency_histograms(store, where, params, ok=sum(successes.values()),
                                    latency_sample=latency_sample)
    for segment, calls, ok, n_cost, s_cost, sq_cost, n_q, s_q, sq_q in rows:
        kwargs = {"latency": latencies[segment]} if segment in latencies else {}
        samples[segment] = ArmSample(
            calls=int(calls),
            successes=int(ok or 0),
            cost=Moments(int(n_cost), float(s_cost or 0.0), float(sq_cost or 0.0)),
            quality=Moments(int(n_q), float(s_q or 0.0), float(sq_q or 0.0)),
            **kwargs,
        )
    return samples


def _latency_histograms(store: Store, where: str, params: dict[str, Any], *, ok: int,
                        latency_sample: int) -> dict[str, LatencyHistogram]:
    """Per segment, bucket counts of successful calls grouped in SQL (core.histogram's buckets).

    Where the database has no ln() (an SQLite built without its math functions), the latencies
    are read instead: every k-th row id above `latency_sample`, which is unrelated to latency, so
    the sample is deterministic and unbiased.
    """
    from modelctl.core import histogram
    from modelctl.core.gates import LatencyHistogram

    if not ok:
        return {}
    counts: dict[str, dict[int, int]] = {}
    try:
        rows = store.read(
            f"SELECT segment, {_BUCKET_SQL} AS bucket, COUNT(*) FROM usage WHERE {where} AND success "
            "GROUP BY segment, bucket",
            {**params, "log_growth": math.log(histogram.GROWTH)},
        )
        for segment, bucket, count in rows:
            counts.setdefault(segment, {})[int(bucket)] = int(count)
        return {segment: LatencyHistogram.from_counts(c) for segment, c in counts.items()}
    except StoreError as exc:
        if "no such function" not in str(exc) and "does not exist" not in str(exc):
            raise
    step = max(1, math.ceil(ok / latency_sample))
    rows = store.read(f"SELECT segment, latency_ms FROM usage WHERE {where} AND success AND id % :step = 0",
                      {**params, "step": step})
    values: dict[str, list[float]] = {}
    for segment, latency_ms in rows:
        values.setdefault(segment, []).append(latency_ms)
    return {segment: LatencyHistogram.of(v) for segment, v in values.items()}


def insert_gate_results(conn: Connection, *, rollout_id: int, phase: str, window: tuple[datetime, datetime],
                        results: dict[str, tuple[GateResult, ...]], now: datetime) -> None:
    """One row per segment and gate: {segment: that segment's results}."""
    from sqlalchemy import text

    if not any(results.values()):
        return
    conn.execute(
        text("INSERT INTO gate_result (rollout_id, ts, phase, segment, window_start, window_end, gate, verdict, "
             "n_control, n_candidate, p_value, summary, figures) VALUES (:rollout_id, :ts, :phase, :segment, "
             ":start, :end, :gate, :verdict, :n_control, :n_candidate, :p_value, :summary, :figures)"),
        [
            {
                "rollout_id": rollout_id, "ts": sql_ts(now), "phase": phase, "segment": segment,
                "start": sql_ts(window[0]),
                "end": sql_ts(window[1]), "gate": r.gate, "verdict": r.verdict,
                "n_control": int(r.figures.get("n_control", 0)), "n_candidate": int(r.figures.get("n_candidate", 0)),
                "p_value": r.p_value, "summary": r.summary, "figures": json.dumps(_finite(r.figures)),
            }
            for segment, segment_results in results.items() for r in segment_results
        ],
    )


def _finite(figures: dict[str, float]) -> dict[str, float | None]:
    """JSON has no infinity: an unbounded ratio is stored as null."""
    return {k: (v if isinstance(v, int) or math.isfinite(v) else None) for k, v in figures.items()}


def read_gate_results(store: Store, *, candidate_id: str | None, limit: int) -> list[dict[str, Any]]:
    where = "WHERE r.candidate_id = :candidate " if candidate_id else ""
    rows = store.read(
        "SELECT g.rollout_id, r.candidate_id, r.incumbent_id, g.phase, g.segment, g.ts, g.window_start, "
        "g.window_end, "
        "g.gate, g.verdict, g.n_control, g.n_candidate, g.p_value, g.summary, g.figures "
        f"FROM gate_result g JOIN rollout r ON r.id = g.rollout_id {where}ORDER BY g.id DESC LIMIT :limit",
        {"candidate": candidate_id, "limit": limit},
    )
    keys = ("rollout_id", "candidate_id", "incumbent_id", "phase", "segment", "ts", "window_start", "window_end",
            "gate", "verdict", "n_control", "n_candidate", "p_value", "summary", "figures")
    out = []
    for row in rows:
        item = dict(zip(keys, row, strict=True))
        for name in ("ts", "window_start", "window_end"):
            item[name] = rfc3339(as_datetime(item[name]))
        if isinstance(item["figures"], str):
            item["figures"] = json.loads(item["figures"])
        out.append(item)
    return out


# --------------------------------------------------------------------------- the tick's lease


def take_lease(conn: Connection, *, holder: str, now: datetime, until: datetime) -> bool:
    """Atomic: the UPDATE matches only an expired lease, so of two takers exactly one gets it."""
    from sqlalchemy import text

    taken = conn.execute(
        text("UPDATE lease SET holder = :holder, expires_at = :until WHERE name = :name AND expires_at <= :now"),
        {"holder": holder, "until": sql_ts(until), "name": TICK_LEASE, "now": sql_ts(now)},
    )
    return taken.rowcount == 1


def release_lease(conn: Connection, *, holder: str, now: datetime) -> None:
    from sqlalchemy import text

    conn.execute(
        text("UPDATE lease SET holder = NULL, expires_at = :now WHERE name = :name AND holder = :holder"),
        {"now": sql_ts(now), "name": TICK_LEASE, "holder": holder},
    )


def lease_holder(store: Store) -> tuple[str | None, datetime | None]:
    rows = store.read("SELECT holder, expires_at FROM lease WHERE name = :name", {"name": TICK_LEASE})
    return (rows[0][0], as_datetime(rows[0][1])) if rows else (None, None)


# --------------------------------------------------------------------------- time to decision


def segment_traffic(store: Store, *, segments: tuple[str, ...], start: datetime, end: datetime,
                    ) -> dict[str, tuple[int, int, datetime | None]]:
    """Per segment: (requests, successful requests, first request's time) served in the window.

    A request is its first attempt (number 0) served to the user (arms control and canary); shadow, rescue and
    judge calls are extra calls, not traffic. Segments without requests are left out.
    """
    if not segments:
        return {}
    marks = ", ".join(f":s{i}" for i in range(len(segments)))
    rows = store.read(
        "SELECT segment, COUNT(*), SUM(CASE WHEN success THEN 1 ELSE 0 END), MIN(ts) FROM usage "
        f"WHERE segment IN ({marks}) AND arm IN ('control', 'canary') AND attempt = 0 "
        "AND ts >= :start AND ts <= :end GROUP BY segment",
        {**{f"s{i}": s for i, s in enumerate(segments)}, "start": sql_ts(start), "end": sql_ts(end)},
    )
    return {segment: (int(n), int(ok or 0), as_datetime(first)) for segment, n, ok, first in rows}
