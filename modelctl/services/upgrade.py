"""Rollouts: start and advance them by hand (`promote`, `rollback`) or by cron (`upgrade tick`).

The decisions are core.rollout.decide over core.gates.evaluate_gates, judged per segment; this
module reads each rollout's window from the usage rows (grouped by segment), applies the decision
(phase, traffic, catalog statuses) and audits it with its evidence. Time comes only from
`clock.now()`, so MODELCTL_NOW can step a simulation through days of phases.
"""

from __future__ import annotations

import os
import secrets
import socket
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from modelctl import clock
from modelctl.core.catalog import ModelSpec
from modelctl.core.gates import ArmSample, GateResult, evaluate_gates, judged_quality
from modelctl.core.rollout import (
    ACTIVE_PHASES,
    PhaseDecision,
    RolloutConfig,
    SegmentEvidence,
    decide,
    next_phase,
)
from modelctl.core.routing import ROUTABLE_STATUSES
from modelctl.errors import InvalidInput, NotFound
from modelctl.paths import actor
from modelctl.services.catalog import require_model
from modelctl.services.judge import check_judge, judge_status
from modelctl.store import catalog as catalog_repo
from modelctl.store import rollouts as repo
from modelctl.store.db import Store
from modelctl.store.judge import OfflineEvaluation
from modelctl.store.rollouts import Rollout

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection

    from modelctl.config import JudgeSettings
    from modelctl.services.notify import EventKind

# Shorter than the 15-minute cron step, longer than a tick takes; a tick releases it when done.
LEASE = timedelta(minutes=10)
TARGETS = ("shadow", "canary", "full")
_ORDER = {phase: index for index, phase in enumerate(("discovered", "shadow", "canary", "full"))}


@dataclass(frozen=True)
class Settings:
    config: RolloutConfig
    latency_sample: int
    judge: JudgeSettings | None = None  # with a judge, shadow is also gated on its verdicts
    require_offline_eval: bool = False


def load_settings() -> Settings:
    from modelctl.config import load_upgrade

    upgrade = load_upgrade()
    return Settings(upgrade.rollout_config(), upgrade.latency_sample, upgrade.judge, upgrade.require_offline_eval)


@dataclass(frozen=True)
class Judgement:
    """What the gates say about each segment of a rollout's current window, and what `decide` makes of it."""

    decision: PhaseDecision
    segments: tuple[SegmentEvidence, ...]
    window: tuple[datetime, datetime]

    def results(self) -> dict[str, tuple[GateResult, ...]]:
        return {e.segment: e.results for e in self.segments}

    def evidence(self) -> dict[str, Any]:
        return {
            "window": [clock.rfc3339(self.window[0]), clock.rfc3339(self.window[1])],
            "calls": {"incumbent": sum(e.samples[0] for e in self.segments),
                      "candidate": sum(e.samples[1] for e in self.segments)},
            "gates": [{"segment": e.segment, "gate": r.gate, "verdict": r.verdict, "p_value": r.p_value,
                       "summary": r.summary}
                      for e in self.segments for r in e.results],
        }


@dataclass
class Transition:
    """One rollout's outcome of a promote, rollback or tick."""

    rollout: Rollout
    action: str
    phase: str
    traffic_pct: float
    reason: str
    evidence: dict[str, Any] = field(default_factory=dict)
    applied: bool = True

    def as_dict(self) -> dict[str, Any]:
        return {
            "candidate_id": self.rollout.candidate_id,
            "incumbent_id": self.rollout.incumbent_id,
            "segments": list(self.rollout.segments),
            "from_phase": self.rollout.phase,
            "action": self.action,
            "phase": self.phase,
            "traffic_pct": self.traffic_pct,
            "reason": self.reason,
            "applied": self.applied,
            **self.evidence,
        }


def judge(store: Store, rollout: Rollout, *, now: datetime, settings: Settings) -> Judgement:
    """Gates over the phase window, per segment: the candidate's arm against the incumbent's control calls."""
    window = (rollout.phase_started_at, now)
    if rollout.phase == "discovered":
        decision = decide(rollout=rollout.view(), evidence=(), now=now, config=settings.config)
        return Judgement(decision, (), window)
    def samples(model_id: str, arm: str) -> dict[str, ArmSample]:
        return repo.arm_samples(store, model_id=model_id, arm=arm, segments=rollout.segments, start=window[0],
                                end=window[1], latency_sample=settings.latency_sample)

    control = samples(rollout.incumbent_id, "control")
    candidate = samples(rollout.candidate_id, rollout.phase)
    judged = _judged_quality(store, rollout, window=window, settings=settings)
    gates = settings.config.gates_for(rollout.phase)
    evidence = tuple(
        SegmentEvidence(
            segment,
            (*evaluate_gates(control=control[segment], candidate=candidate[segment], config=gates),
             *judged.get(segment, ())),
            (control[segment].calls, candidate[segment].calls),
        )
        for segment in rollout.segments
    )
    decision = decide(rollout=rollout.view(), evidence=evidence, now=now, config=settings.config)
    return Judgement(decision, evidence, window)


def _judged_quality(store: Store, rollout: Rollout, *, window: tuple[datetime, datetime],
                    settings: Settings) -> dict[str, tuple[GateResult, ...]]:
    """The shadow quality gate per segment, on the judge's verdicts in the window; none without a judge."""
    if settings.judge is None or rollout.phase != "shadow":
        return {}
    from modelctl.store.judge import verdict_counts

    counts = verdict_counts(store, rollout_id=rollout.id, segments=rollout.segments, start=window[0], end=window[1])
    return {segment: (judged_quality(counts[segment], margin=settings.judge.margin,
                                      config=settings.config.gates_for(rollout.phase)),)
            for segment in rollout.segments}


def _apply(conn: Connection, store: Store, transition: Transition, *, now: datetime, who: str) -> bool:
    """Write one transition with its audit row; False when the rollout changed meanwhile."""
    rollout = transition.rollout
    moved = transition.phase != rollout.phase
    terminal = transition.phase not in ACTIVE_PHASES
    changed = repo.update_rollout(
        conn, rollout.id, expected_phase=rollout.phase, phase=transition.phase,
        traffic_pct=transition.traffic_pct, phase_started_at=now if moved else rollout.phase_started_at,
        decided_at=now if terminal else None, reason=transition.reason,
    )
    if not changed:
        return False
    statuses = {}
    if transition.phase == "full":
        statuses = {rollout.candidate_id: "stable", rollout.incumbent_id: "deprecated"}
    elif rollout.phase == "full":  # a full rollout rolled back: the incumbent serves again
        statuses = {rollout.incumbent_id: "stable"}
    for model_id, status in statuses.items():
        spec = catalog_repo.get_model(store, model_id)
        if spec is not None and spec.status != status:
            catalog_repo.upsert_models(conn, [replace(spec, status=status)], now=now)
            transition.evidence.setdefault("statuses", {})[model_id] = [spec.status, status]
    catalog_repo.write_audit(
        conn, actor=who, action=f"rollout-{transition.action}", target=rollout.candidate_id,
        before={"incumbent_id": rollout.incumbent_id, "segments": list(rollout.segments),
                "phase": rollout.phase, "traffic_pct": rollout.traffic_pct},
        after={"phase": transition.phase, "traffic_pct": transition.traffic_pct, "reason": transition.reason,
               **transition.evidence},
        now=now,
    )
    return True


# --------------------------------------------------------------------------- reading


def rollout_status(store: Store, *, active_only: bool = False) -> list[Rollout]:
    return repo.list_rollouts(store, phases=ACTIVE_PHASES if active_only else None)


def status_rows(store: Store, *, active_only: bool = False) -> list[dict[str, Any]]:
    """`upgrade status`: each rollout with, when the autopilot started it, why, and for a shadow or
    canary the estimated time to decision of the phases ahead (see time_to_decision)."""
    from modelctl.services.autopilot import explanations

    settings = load_settings()
    now = clock.now()
    started_by_autopilot = explanations(store)
    rows = []
    for rollout in rollout_status(store, active_only=active_only):
        row = rollout.as_dict()
        auto = started_by_autopilot.get((rollout.candidate_id, rollout.incumbent_id, rollout.started_at))
        row["why"] = f"autopilot ({auto['rule']}): {auto['why']}" if auto else None
        if rollout.phase in ("shadow", "canary"):
            row["time_to_decision"] = [e.as_dict() for e in
                                       time_to_decision(store, rollout, settings=settings, now=now)]
        rows.append(row)
    return rows


def judge_budget(store: Store) -> dict[str, Any] | None:
    """The configured judge with today's spend and its daily cap; None without a judge."""
    from modelctl.config import load_upgrade

    return judge_status(store, load_upgrade().judge)


def evaluations(store: Store, *, candidate_id: str | None = None, limit: int = 50) -> list[dict[str, Any]]:
    if limit < 1:
        raise InvalidInput(f"--limit must be at least 1, got {limit}")
    return repo.read_gate_results(store, candidate_id=candidate_id, limit=limit)


# --------------------------------------------------------------------------- manual gates


def _needed_capabilities(segment: str) -> frozenset[str]:
    """What routing requires of any model in the segment (multimedia queries carry media)."""
    return frozenset({"text_generation", "multimodal"} if segment == "multimedia" else {"text_generation"})


def _effective_chains(store: Store) -> dict[str, tuple[str, ...]]:
    from modelctl.services.routing import load_routing_config

    _, full = repo.routing_rollouts(store)
    segments = load_routing_config()["policy"]["segments"]
    return {name: repo.substitute(tuple(seg["chain"]), name, full) for name, seg in segments.items()}


def _serving_head(chain: tuple[str, ...] | None, models: dict[str, ModelSpec], *, now: datetime) -> str | None:
    """The first model of the chain that routing would actually serve: the incumbent's real traffic."""
    for model_id in chain or ():
        spec = models.get(model_id)
        if (spec is not None and spec.status in ROUTABLE_STATUSES
                and (spec.deprecation_date is None or spec.deprecation_date > now.date())):
            return model_id
    return None


def _plan(store: Store, candidate_id: str, *, replaces: str | None, segments: tuple[str, ...],
          now: datetime) -> dict[str, list[str]]:
    """Incumbent -> the segments it defends against the candidate."""
    candidate = require_model(store, candidate_id)
    if candidate.status in ("disabled", "retired"):
        raise InvalidInput(f"{candidate_id} is {candidate.status}; set its status first "
                           "(`modelctl models set-status`)")
    if replaces is not None:
        require_model(store, replaces)
        if replaces == candidate_id:
            raise InvalidInput("a model cannot replace itself; name another --replaces")
    chains = _effective_chains(store)
    models = {spec.model_id: spec for spec in catalog_repo.list_models(store)}
    explicit = bool(segments)
    plan: dict[str, list[str]] = {}
    for segment in segments or tuple(chains):
        missing = _needed_capabilities(segment) - candidate.capabilities
        if missing:
            if explicit:
                raise InvalidInput(f"{candidate_id} lacks {', '.join(sorted(missing))}, which segment "
                                   f"{segment!r} needs")
            continue
        chain = chains.get(segment)
        if replaces is not None:
            if explicit or replaces in (chain or ()):
                plan.setdefault(replaces, []).append(segment)
            continue
        head = _serving_head(chain, models, now=now)
        if head is None:
            raise InvalidInput(f"segment {segment!r} has no policy chain with a serving model to take an "
                               "incumbent from; name it with --replaces")
        if head != candidate_id:
            plan.setdefault(head, []).append(segment)
    if not plan:
        where = f" where {replaces} is in the chain" if replaces else ""
        raise InvalidInput(f"no segment{where} for {candidate_id} to challenge; name them with --segments")
    return plan


def _check_traffic(traffic_pct: float | None) -> None:
    if traffic_pct is not None and not 0 < traffic_pct <= 100:
        raise InvalidInput(f"--traffic must be in (0, 100], got {traffic_pct:g}")


def promote(store: Store, candidate_id: str, *, replaces: str | None = None, segments: tuple[str, ...] = (),
            to: str | None = None, traffic_pct: float | None = None, yes: bool = False) -> list[Transition]:
    """Start a rollout (shadow by default) or move an active one to its next phase (or `to`).

    Moving ahead of the gates (skipping a phase, or the current window not passing) is the
    operator's call and needs `yes`; the gates' figures are audited either way.
    """
    if to is not None and to not in TARGETS:
        raise InvalidInput(f"--to must be one of {', '.join(TARGETS)}, got {to!r}")
    _check_traffic(traffic_pct)
    settings = load_settings()
    now = clock.now()
    active = [r for r in repo.list_rollouts(store, phases=ACTIVE_PHASES, candidate_id=candidate_id)
              if replaces is None or r.incumbent_id == replaces]
    if active:
        transitions = [_advance(store, r, to=to, traffic_pct=traffic_pct, yes=yes, now=now, settings=settings)
                       for r in active]
    else:
        evaluation = _require_offline_eval(store, candidate_id, settings=settings)
        transitions = _start(store, candidate_id, replaces=replaces, segments=segments, to=to or "shadow",
                             traffic_pct=traffic_pct, yes=yes, now=now, settings=settings)
        for transition in transitions:  # shown, and audited with the start
            transition.evidence["offline_evaluation"] = None if evaluation is None else evaluation.as_dict()
    check_judge(settings.judge, [t.rollout for t in transitions])
    who = actor()
    with store.write() as conn:
        for transition in transitions:
            if transition.action == "start":
                _insert(conn, store, transition, now=now, who=who)
            else:
                transition.applied = _apply(conn, store, transition, now=now, who=who)
    _after_transitions(store, transitions, now=now, who=who, settings=settings)
    return transitions


def offline_evaluation(store: Store, candidate_id: str) -> OfflineEvaluation | None:
    """The candidate's latest `modelctl evaluate` verdict, which `promote` shows."""
    from modelctl.store.judge import latest_offline_evaluation

    return latest_offline_evaluation(store, candidate_id)


def _require_offline_eval(store: Store, candidate_id: str, *, settings: Settings) -> OfflineEvaluation | None:
    """The candidate's latest offline evaluation; with `require_offline_eval: true`, refused unless it passed."""
    latest = offline_evaluation(store, candidate_id)
    if settings.require_offline_eval and (latest is None or not latest.passed):
        found = ("it has none" if latest is None else
                 f"its latest ({latest.suite}, {latest.ts:%Y-%m-%d %H:%M}) says {latest.verdict!r}")
        raise InvalidInput(f"upgrade.yaml requires a passing offline evaluation before a rollout and {found}; "
                           f"run `modelctl evaluate {candidate_id} --suite smoke` first")
    return latest


def _traffic(settings: Settings, phase: str, traffic_pct: float | None) -> float:
    return 100.0 if phase == "full" else traffic_pct or settings.config.phases[phase].traffic_pct


def _start(store: Store, candidate_id: str, *, replaces: str | None, segments: tuple[str, ...], to: str,
           traffic_pct: float | None, yes: bool, now: datetime, settings: Settings) -> list[Transition]:
    if to != "shadow" and not yes:
        raise InvalidInput(f"starting {candidate_id} at {to} skips the earlier phases' gates; "
                           "pass --yes to do it anyway")
    plan = _plan(store, candidate_id, replaces=replaces, segments=tuple(dict.fromkeys(segments)), now=now)
    taken = {s: r for r in repo.list_rollouts(store, phases=ACTIVE_PHASES) for s in r.segments}
    transitions = []
    for incumbent_id, segs in plan.items():
        busy = sorted(s for s in segs if s in taken)
        if busy:
            other = taken[busy[0]]
            raise InvalidInput(f"segment {busy[0]!r} already has a rollout ({other.candidate_id} vs "
                               f"{other.incumbent_id}, {other.phase}); finish or roll it back first")
        traffic = _traffic(settings, to, traffic_pct)
        placeholder = Rollout(0, candidate_id, incumbent_id, tuple(segs), "discovered", 0.0,
                              secrets.token_hex(8), now, now, None, "")
        reason = f"started by {actor()}: {candidate_id} challenges {incumbent_id} on {', '.join(segs)} at {to}"
        transitions.append(Transition(placeholder, "start", to, traffic, reason))
    return transitions


def _insert(conn: Connection, store: Store, transition: Transition, *, now: datetime, who: str) -> None:
    r = transition.rollout
    rollout_id = repo.insert_rollout(
        conn, candidate_id=r.candidate_id, incumbent_id=r.incumbent_id, segments=r.segments,
        phase="discovered", traffic_pct=0.0, salt=r.salt, now=now, reason="",
    )
    transition.rollout = replace(r, id=rollout_id)
    _apply(conn, store, transition, now=now, who=who)


def _advance(store: Store, rollout: Rollout, *, to: str | None, traffic_pct: float | None, yes: bool,
             now: datetime, settings: Settings) -> Transition:
    target = to or next_phase(rollout.phase)
    if target is None:
        raise InvalidInput(f"{rollout.candidate_id} is {rollout.phase}; there is no phase after it")
    if _ORDER[target] < _ORDER[rollout.phase]:
        raise InvalidInput(f"{rollout.candidate_id} is already in {rollout.phase}; "
                           f"use `modelctl rollback {rollout.candidate_id}` to go back")
    if target == rollout.phase:
        if traffic_pct is None:
            raise InvalidInput(f"{rollout.candidate_id} is already in {target}; give --traffic to change its share")
        reason = f"traffic set to {traffic_pct:g}% by {actor()}"
        return Transition(rollout, "traffic", target, traffic_pct, reason)
    judgement = judge(store, rollout, now=now, settings=settings)
    gated = judgement.decision.action == "advance" and judgement.decision.next_phase == target
    if not gated and not yes:
        raise InvalidInput(f"the gates do not promote {rollout.candidate_id} to {target} yet: "
                           f"{judgement.decision.reason}\npass --yes to promote anyway")
    why = judgement.decision.reason if gated else f"promoted to {target} by {actor()} ahead of the gates"
    return Transition(rollout, "promote", target, _traffic(settings, target, traffic_pct), why,
                      judgement.evidence())


def rollback(store: Store, candidate_id: str, *, reason: str | None = None,
             incumbent_id: str | None = None) -> list[Transition]:
    """End the candidate's rollouts at once: no traffic, the incumbent (and its chains) restored."""
    require_model(store, candidate_id)
    rollouts = [r for r in repo.list_rollouts(store, phases=(*ACTIVE_PHASES, "full"), candidate_id=candidate_id)
                if incumbent_id is None or r.incumbent_id == incumbent_id]
    if not rollouts:
        raise NotFound(f"{candidate_id} has no active or full rollout to roll back; see `modelctl upgrade status`")
    now = clock.now()
    who = actor()
    why = f"rolled back by {who}" + (f": {reason}" if reason else "")
    transitions = [Transition(r, "rollback", "rolled_back", 0.0, why) for r in rollouts]
    with store.write() as conn:
        for transition in transitions:
            transition.applied = _apply(conn, store, transition, now=now, who=who)
    announce(store, transition_events(transitions), now=now, who=who)
    return transitions


# --------------------------------------------------------------------------- cron


@dataclass
class TickReport:
    now: datetime
    dry_run: bool
    lease: str  # "taken", "dry-run", or who holds it
    transitions: list[Transition]
    autopilot: list[Any] = field(default_factory=list)  # services.autopilot.AutoAction

    def as_dict(self) -> dict[str, Any]:
        return {"now": clock.rfc3339(self.now), "dry_run": self.dry_run, "lease": self.lease,
                "rollouts": [t.as_dict() for t in self.transitions],
                "autopilot": [a.as_dict() for a in self.autopilot]}


def tick(store: Store, *, dry_run: bool = False) -> TickReport:
    """Judge every active rollout and apply what `decide` says, under the tick lease.

    A tick that finds the lease held changes nothing and says who holds it; `dry_run` takes no
    lease and writes nothing.
    """
    settings = load_settings()
    now = clock.now()
    holder = f"{socket.gethostname()}:{os.getpid()}"
    if dry_run:
        lease = "dry-run"
    else:
        with store.write() as conn:
            taken = repo.take_lease(conn, holder=holder, now=now, until=now + LEASE)
        if not taken:
            held_by, until = repo.lease_holder(store)
            return TickReport(now, dry_run, f"held by {held_by} until {until:%Y-%m-%d %H:%M:%S}", [])
        lease = "taken"
    transitions = []
    try:
        active = repo.list_rollouts(store, phases=ACTIVE_PHASES)
        check_judge(settings.judge, active)
        for rollout in active:
            judgement = judge(store, rollout, now=now, settings=settings)
            decision = judgement.decision
            transition = Transition(rollout, decision.action, decision.next_phase, decision.next_traffic_pct,
                                    decision.reason, judgement.evidence(), applied=not dry_run)
            transitions.append(transition)
            if dry_run:
                continue
            with store.write() as conn:
                repo.insert_gate_results(conn, rollout_id=rollout.id, phase=rollout.phase,
                                         window=judgement.window, results=judgement.results(), now=now)
                if decision.action in ("wait", "hold"):
                    repo.set_reason(conn, rollout.id, decision.reason)
                else:
                    transition.applied = _apply(conn, store, transition, now=now, who=f"upgrade tick ({holder})")
        if not dry_run:
            announce(store, transition_events(transitions), now=now, who=f"upgrade tick ({holder})")
        actions = _autopilot(store, now=now, dry_run=dry_run, settings=settings)
    finally:
        if not dry_run:
            with store.write() as conn:
                repo.release_lease(conn, holder=holder, now=now)
    return TickReport(now, dry_run, lease, transitions, actions)



def _autopilot(store: Store, *, now: datetime, dry_run: bool, settings: Settings) -> list[Any]:
    """The autopilot's actions of this tick, under its lease, after the active rollouts were judged."""
    from modelctl.services.autopilot import run_autopilot

    return run_autopilot(store, now=now, dry_run=dry_run, settings=settings)


# --------------------------------------------------------------------------- notifications

_EVENTS: dict[str, EventKind] = {"start": "rollout_started", "promote": "phase_changed", "advance": "phase_changed",
           "rollback": "rolled_back", "reject": "rejected"}


def transition_events(transitions: list[Transition]) -> list[tuple[Any, dict[str, Any]]]:
    """(services.notify.RolloutEvent, where its outcome is shown) for each applied transition worth a message."""
    from modelctl.services.notify import RolloutEvent

    events = []
    for t in transitions:
        kind = _EVENTS.get(t.action)
        if kind is None or not t.applied:
            continue
        r = t.rollout
        event = RolloutEvent(kind, incumbent=r.incumbent_id, candidate=r.candidate_id, rollout=r.id or None,
                             phase=t.phase, segments=r.segments, traffic_pct=t.traffic_pct, reason=t.reason)
        events.append((event, t.evidence))
    return events


def announce(store: Store, events: list[tuple[Any, dict[str, Any]]], *, now: datetime, who: str) -> None:
    """Post each event to the webhook, all together within notify.max_seconds, so a dead webhook never
    holds a command; each outcome goes under "notification" of its dict, and a warning is audited."""
    import time

    from modelctl.config import load_upgrade
    from modelctl.services.notify import NotifyOutcome, notify

    if not events:
        return
    settings = load_upgrade().notify
    if not settings.resolved_url():
        return
    deadline = time.monotonic() + settings.max_seconds
    warnings = []
    for event, shown in events:
        left = deadline - time.monotonic()
        if left < 0.05:
            outcome = NotifyOutcome(False, warning=f"notification {event.event} not sent: this command's "
                                                   f"{settings.max_seconds:g} s for notifications were used up")
        else:
            outcome = notify(event, settings.model_copy(update={"max_seconds": left}))
        shown["notification"] = outcome.as_dict()
        if outcome.warning:
            warnings.append((event, outcome.warning))
    if warnings:
        with store.write() as conn:
            for event, warning in warnings:
                catalog_repo.write_audit(conn, actor=who, action="notify-failed",
                                         target=event.candidate or event.incumbent,
                                         after={"event": event.event, "rollout": event.rollout, "warning": warning},
                                         now=now)


# --------------------------------------------------------------------------- time to decision

# How far back a segment's measured traffic is read for the estimate.
TRAFFIC_LOOKBACK = timedelta(days=7)


def time_to_decision(store: Store, rollout: Rollout, *, settings: Settings, now: datetime) -> list[Any]:
    """core.planning.PhaseEstimate for the rollout's current phase and those after it, from the
    segments' measured requests per hour (the current phase at the rollout's own traffic share)."""
    from modelctl.core.planning import PhasePlan, SegmentTraffic, estimate_phase

    measured = repo.segment_traffic(store, segments=rollout.segments, start=now - TRAFFIC_LOOKBACK, end=now)
    traffic = []
    for segment in rollout.segments:
        requests, ok, first = measured.get(segment, (0, 0, None))
        span_h = max(1.0, (now - first).total_seconds() / 3600) if first else 1.0
        traffic.append(SegmentTraffic(segment, requests / span_h, (ok + 1) / (requests + 2)))
    gates = settings.config.gates
    estimates = []
    for phase in ("shadow", "canary"):
        if _ORDER[phase] < _ORDER.get(rollout.phase, 0):
            continue
        p = settings.config.phases[phase]
        share = rollout.traffic_pct if phase == rollout.phase else p.traffic_pct
        plan = PhasePlan(phase, share, p.min_duration.total_seconds() / 3600, p.max_duration.total_seconds() / 3600,
                         max(p.min_samples, gates.min_samples), settings.config.gates_for(phase).alpha,
                         gates.success_margin)
        estimates.append(estimate_phase(plan, traffic))
    return estimates


def _after_transitions(store: Store, transitions: list[Transition], *, now: datetime, who: str,
                       settings: Settings) -> None:
    """A promote's estimate of each phase still ahead, then its notifications."""
    for t in transitions:
        if t.applied and t.phase in ("shadow", "canary"):
            rollout = replace(t.rollout, phase=t.phase, traffic_pct=t.traffic_pct)
            t.evidence["time_to_decision"] = [e.as_dict() for e in
                                              time_to_decision(store, rollout, settings=settings, now=now)]
    announce(store, transition_events(transitions), now=now, who=who)
