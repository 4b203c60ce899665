"""Quality evidence that holds no text: the judge's verdicts on shadow pairs, what the judge spent,
and the verdicts of offline evaluations (`modelctl evaluate`) that `promote` looks up."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from modelctl.clock import rfc3339
from modelctl.store.catalog import as_datetime
from modelctl.store.db import Store, sql_ts

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection

    from modelctl.core.gates import VerdictCounts

VERDICTS = ("win", "tie", "loss")


def insert_verdict(conn: Connection, *, rollout_id: int, candidate_id: str, incumbent_id: str, segment: str,
                   request_id: str, verdict: str, judge_model: str, cost_usd: float | None, now: datetime) -> None:
    from sqlalchemy import text

    conn.execute(
        text("INSERT INTO judge_verdict (rollout_id, candidate_id, incumbent_id, segment, request_id, verdict, "
             "judge_model, cost_usd, ts) VALUES (:rollout_id, :candidate_id, :incumbent_id, :segment, "
             ":request_id, :verdict, :judge_model, :cost_usd, :ts)"),
        {"rollout_id": rollout_id, "candidate_id": candidate_id, "incumbent_id": incumbent_id, "segment": segment,
         "request_id": request_id, "verdict": verdict, "judge_model": judge_model, "cost_usd": cost_usd,
         "ts": sql_ts(now)},
    )


def verdict_counts(store: Store, *, rollout_id: int, segments: tuple[str, ...], start: datetime,
                   end: datetime) -> dict[str, VerdictCounts]:
    """Wins, ties and losses of the rollout's candidate per segment in a window; every segment has an entry."""
    from modelctl.core.gates import VerdictCounts

    rows = store.read(
        "SELECT segment, verdict, COUNT(*) FROM judge_verdict WHERE rollout_id = :rollout "
        "AND ts >= :start AND ts <= :end GROUP BY segment, verdict",
        {"rollout": rollout_id, "start": sql_ts(start), "end": sql_ts(end)},
    )
    tallies: dict[str, dict[str, int]] = {segment: {} for segment in segments}
    for segment, verdict, count in rows:
        if segment in tallies:
            tallies[segment][verdict] = int(count)
    return {segment: VerdictCounts(wins=t.get("win", 0), ties=t.get("tie", 0), losses=t.get("loss", 0))
            for segment, t in tallies.items()}


def judge_spend(store: Store, *, since: datetime) -> float:
    """What judge calls recorded since `since` cost (unpriced calls count nothing)."""
    rows = store.read("SELECT SUM(cost_usd) FROM usage WHERE arm = 'judge' AND ts >= :since",
                      {"since": sql_ts(since)})
    return float(rows[0][0] or 0.0)


@dataclass(frozen=True, slots=True)
class OfflineEvaluation:
    ts: datetime
    candidate_id: str
    incumbents: tuple[str, ...]
    suite: str
    judge_model: str | None
    pairs: int
    mean_difference: float
    p_value: float | None
    verdict: str

    @property
    def passed(self) -> bool:
        return self.verdict == "candidate not worse"

    def as_dict(self) -> dict[str, Any]:
        return {"ts": rfc3339(self.ts), "candidate_id": self.candidate_id, "incumbents": list(self.incumbents),
                "suite": self.suite, "judge_model": self.judge_model, "pairs": self.pairs,
                "mean_difference": self.mean_difference, "p_value": self.p_value, "verdict": self.verdict,
                "passed": self.passed}


def insert_offline_evaluation(conn: Connection, evaluation: OfflineEvaluation) -> None:
    from sqlalchemy import text

    conn.execute(
        text("INSERT INTO offline_evaluation (ts, candidate_id, incumbents, suite, judge_model, pairs, "
             "mean_difference, p_value, verdict) VALUES (:ts, :candidate_id, :incumbents, :suite, :judge_model, "
             ":pairs, :mean_difference, :p_value, :verdict)"),
        {"ts": sql_ts(evaluation.ts), "candidate_id": evaluation.candidate_id,
         "incumbents": json.dumps(list(evaluation.incumbents)), "suite": evaluation.suite,
         "judge_model": evaluation.judge_model, "pairs": evaluation.pairs,
         "mean_difference": evaluation.mean_difference, "p_value": evaluation.p_value,
         "verdict": evaluation.verdict},
    )


def latest_offline_evaluation(store: Store, candidate_id: str) -> OfflineEvaluation | None:
    rows = store.read(
        "SELECT ts, candidate_id, incumbents, suite, judge_model, pairs, mean_difference, p_value, verdict "
        "FROM offline_evaluation WHERE candidate_id = :candidate ORDER BY ts DESC, id DESC LIMIT 1",
        {"candidate": candidate_id},
    )
    if not rows:
        return None
    ts, candidate, incumbents, suite, judge_model, pairs, mean, p_value, verdict = rows[0]
    if isinstance(incumbents, str):
        incumbents = json.loads(incumbents)
    stamp = as_datetime(ts)
    assert stamp is not None  # offline_evaluation.ts is NOT NULL
    return OfflineEvaluation(stamp, candidate, tuple(incumbents), suite, judge_model, int(pairs), float(mean),
                             None if p_value is None else float(p_value), verdict)
