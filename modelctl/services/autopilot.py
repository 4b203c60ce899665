"""The autopilot: rollouts `upgrade tick` starts by itself, when upgrade.yaml's `autopilot.enabled`.

Each tick, after judging the active rollouts, it

1. **substitutes retired models** (rule `retired-substitution`): a chain model whose deprecation
   date has passed is replaced by its catalog successor at decision time (core.routing does that,
   whether or not a rollout of the successor finished); the tick writes one audit entry per
   retired model naming the successor and the chains, and notifies, once;
2. **migrates retiring models** (rule `retiring-successor`): a chain model whose deprecation date
   is within `retirement_horizon_days` gets a rollout of its catalog successor on the chains it is
   in; with no successor, or one whose rollout against it failed, it notifies (once a day);
3. **rolls out newer candidates** (rule `newer-in-family`): a model of status `candidate` that
   core.autopilot's rules match against a chain model of its family challenges it on that model's
   chains, once it has passed an offline `evaluate` on `eval_suite` against it.

Retirements go first and every start counts against `max_active_rollouts` (manual rollouts too).
A candidate is tried once per incumbent: an earlier rollout of the pair, whatever its end, or a
failed offline evaluation (audited as `autopilot-evaluate`) keeps the autopilot from trying again;
`modelctl promote` still can. Every action is audited with actor `autopilot` and the rule that
matched, explained in `upgrade tick` (and `--json`), and autopilot-started rollouts carry their
"why" in `upgrade status`. `--dry-run` reports the same actions without evaluating, starting,
auditing or notifying.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time
from typing import TYPE_CHECKING, Any

from modelctl.clock import rfc3339
from modelctl.core.autopilot import family_of, mismatches
from modelctl.core.catalog import ModelSpec
from modelctl.core.rollout import ACTIVE_PHASES
from modelctl.errors import ModelctlError
from modelctl.store import catalog as catalog_repo
from modelctl.store import rollouts as repo
from modelctl.store.db import Store
from modelctl.store.rollouts import Rollout

if TYPE_CHECKING:
    from modelctl.config import AutopilotSettings
    from modelctl.services.notify import EventKind, RolloutEvent
    from modelctl.services.upgrade import Settings

ACTOR = "autopilot"
RULES = ("retired-substitution", "retiring-successor", "newer-in-family")


@dataclass
class AutoAction:
    """One thing the autopilot did (or, in a dry run or when it cannot, would do), and why.

    action: start | substitute | notify | wait | skip | reject.
    """

    action: str
    rule: str
    model_id: str  # the incumbent, or the retiring / retired model
    why: str
    candidate_id: str | None = None
    segments: tuple[str, ...] = ()
    applied: bool = False
    evidence: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {"action": self.action, "rule": self.rule, "model_id": self.model_id,
                "candidate_id": self.candidate_id, "segments": list(self.segments), "why": self.why,
                "applied": self.applied, **self.evidence}


@dataclass
class _World:
    """What the rules read once per tick."""

    models: dict[str, ModelSpec]
    chains: dict[str, tuple[str, ...]]
    rollouts: list[Rollout]
    room: int
    busy: set[str]

    def segments_of(self, model_id: str) -> list[str]:
        return [segment for segment, chain in self.chains.items() if model_id in chain]

    def tried(self, candidate_id: str, incumbent_id: str) -> Rollout | None:
        pairs = [r for r in self.rollouts if r.candidate_id == candidate_id and r.incumbent_id == incumbent_id]
        return pairs[-1] if pairs else None


def run_autopilot(store: Store, *, now: datetime, dry_run: bool, settings: Settings) -> list[AutoAction]:
    """The tick's automatic actions, applied unless `dry_run`; nothing when the autopilot is off."""
    from modelctl.config import load_upgrade
    from modelctl.services.upgrade import _effective_chains

    upgrade = load_upgrade()
    config = upgrade.autopilot
    if not config.enabled:
        return []
    rollouts = repo.list_rollouts(store)
    active = [r for r in rollouts if r.phase in ACTIVE_PHASES]
    world = _World(
        models={spec.model_id: spec for spec in catalog_repo.list_models(store)},
        chains=_effective_chains(store),
        rollouts=rollouts,
        room=config.max_active_rollouts - len(active),
        busy={s for r in active for s in r.segments},
    )
    actions = _retirements(store, world, config=config, now=now, dry_run=dry_run, settings=settings)
    actions += _candidates(store, world, config=config, now=now, dry_run=dry_run, settings=settings)
    if not dry_run:
        from modelctl.services.upgrade import announce

        announce(store, [(a.evidence.pop("_event"), a.evidence) for a in actions if "_event" in a.evidence],
                 now=now, who=ACTOR)
    return actions


# --------------------------------------------------------------------------- retirements


def _retirements(store: Store, world: _World, *, config: AutopilotSettings, now: datetime, dry_run: bool,
                 settings: Settings) -> list[AutoAction]:
    today = now.date()
    actions = []
    in_chains = dict.fromkeys(m for chain in world.chains.values() for m in chain)
    for model_id in in_chains:
        spec = world.models.get(model_id)
        if spec is None or spec.deprecation_date is None:
            continue
        ends = spec.deprecation_date
        if ends <= today:
            action = _substitution(store, world, spec, retired_on=ends, now=now, dry_run=dry_run)
        elif (ends - today).days <= config.retirement_horizon_days:
            action = _migration(store, world, spec, retires_on=ends, now=now, dry_run=dry_run, settings=settings)
        else:
            continue
        if action is not None:
            actions.append(action)
    return actions


def _successor(world: _World, spec: ModelSpec) -> ModelSpec | None:
    successor = world.models.get(spec.successor or "")
    return successor if successor is not None and successor.status not in ("disabled", "retired") else None


def _substitution(store: Store, world: _World, spec: ModelSpec, *, retired_on: date, now: datetime,
                  dry_run: bool) -> AutoAction | None:
    """Once per retired chain model with a successor: the audit entry saying who took its place where."""
    successor = _successor(world, spec)
    if successor is None or catalog_repo.find_audit(store, action="autopilot-substitute", target=spec.model_id):
        return None
    segments = tuple(world.segments_of(spec.model_id))
    rollout = world.tried(successor.model_id, spec.model_id)
    finished = f"its rollout ended {rollout.phase}" if rollout and rollout.phase not in ACTIVE_PHASES else (
        f"its rollout is still in {rollout.phase}" if rollout else "no rollout of it was run")
    why = (f"{spec.model_id} retired on {spec.deprecation_date}: its successor {successor.model_id} takes its place "
           f"in {', '.join(segments)} ({finished})")
    action = AutoAction("substitute", "retired-substitution", spec.model_id, why, successor.model_id, segments)
    if dry_run:
        return action
    with store.write() as conn:
        catalog_repo.write_audit(
            conn, actor=ACTOR, action="autopilot-substitute", target=spec.model_id,
            after={"rule": "retired-substitution", "why": why, "successor": successor.model_id,
                   "chains": list(segments), "deprecation_date": retired_on.isoformat(),
                   "rollout": {"id": rollout.id, "phase": rollout.phase} if rollout else None},
            now=now,
        )
    action.applied = True
    action.evidence["_event"] = _event("successor_took_over", spec.model_id, successor.model_id, segments, why)
    return action


def _migration(store: Store, world: _World, spec: ModelSpec, *, retires_on: date, now: datetime, dry_run: bool,
               settings: Settings) -> AutoAction | None:
    """A retiring chain model: start its successor's rollout, or say (once a day) that it has none."""
    rule = "retiring-successor"
    successor = _successor(world, spec)
    days = (retires_on - now.date()).days
    when = f"{spec.model_id} retires on {retires_on} (in {days} days)"
    if successor is None:
        named = f"its successor {spec.successor} is not in the catalog or is disabled" if spec.successor else (
            "the catalog names no successor")
        return _warn_retirement(store, spec, None, f"{when} and {named}", now=now, dry_run=dry_run)
    rollout = world.tried(successor.model_id, spec.model_id)
    if rollout is not None:
        if rollout.phase in (*ACTIVE_PHASES, "full"):
            return None  # on its way, or done
        return _warn_retirement(store, spec, successor.model_id, f"{when} and the rollout of its successor "
                                f"{successor.model_id} ended {rollout.phase}: {rollout.reason}", now=now,
                                dry_run=dry_run)
    why = f"{when}: its successor {successor.model_id} challenges it"
    return _start(store, world, rule, successor, spec, why, now=now, dry_run=dry_run, settings=settings)


def _warn_retirement(store: Store, spec: ModelSpec, successor_id: str | None, why: str, *, now: datetime,
                     dry_run: bool) -> AutoAction | None:
    """A retirement with no passing successor: notified and audited once per model per day."""
    midnight = datetime.combine(now.date(), time(0), tzinfo=now.tzinfo)
    if catalog_repo.find_audit(store, action="autopilot-retirement-warning", target=spec.model_id, since=midnight):
        return None
    action = AutoAction("notify", "retiring-successor", spec.model_id, why, successor_id)
    if dry_run:
        return action
    with store.write() as conn:
        catalog_repo.write_audit(conn, actor=ACTOR, action="autopilot-retirement-warning", target=spec.model_id,
                                 after={"rule": "retiring-successor", "why": why}, now=now)
    action.applied = True
    action.evidence["_event"] = _event("retirement_without_successor", spec.model_id, successor_id, (), why)
    return action


def _event(kind: EventKind, incumbent: str, candidate: str | None, segments: tuple[str, ...], why: str) -> RolloutEvent:
    from modelctl.services.notify import RolloutEvent

    return RolloutEvent(kind, incumbent=incumbent, candidate=candidate, segments=segments, reason=why)


# --------------------------------------------------------------------------- starting a rollout


def _start(store: Store, world: _World, rule: str, candidate: ModelSpec, incumbent: ModelSpec, why: str, *,
           now: datetime, dry_run: bool, settings: Settings,
           evaluate: AutopilotSettings | None = None) -> AutoAction:
    """Start `candidate` against `incumbent` on the incumbent's free chains it can serve, room allowing;
    with `evaluate`, only after it passes the offline evaluation."""
    from modelctl.services import upgrade

    segments = tuple(s for s in world.segments_of(incumbent.model_id)
                     if not upgrade._needed_capabilities(s) - candidate.capabilities)
    free = tuple(s for s in segments if s not in world.busy)
    action = AutoAction("start", rule, incumbent.model_id, why, candidate.model_id, free)
    if not free:
        busy = f"its segments ({', '.join(segments)}) all have rollouts" if segments else "it serves no segment"
        action.action, action.why = "wait", f"{why}; waits: {busy}"
        return action
    if world.room <= 0:
        action.action, action.why = "wait", f"{why}; waits: autopilot.max_active_rollouts rollouts are active"
        return action
    if evaluate is not None:
        passed = _evaluation(store, candidate, incumbent, suite=evaluate.eval_suite, now=now, dry_run=dry_run)
        action.evidence["evaluation"] = passed
        if dry_run and passed["passed"] is None:
            action.why += f"; would first evaluate it on suite {evaluate.eval_suite} and start only if it passes"
        elif not passed["passed"]:
            action.action = "skip" if passed.get("retry") else "reject"
            action.applied = action.action == "reject" and not dry_run
            action.why = f"{why}; not started: {passed['why']}"
            return action
    world.room -= 1
    world.busy.update(free)
    if dry_run:
        return action
    try:
        transitions = upgrade._start(store, candidate.model_id, replaces=incumbent.model_id, segments=free,
                                     to="shadow", traffic_pct=None, yes=False, now=now, settings=settings)
    except ModelctlError as exc:  # the catalog or a segment changed since the rules read them
        action.action, action.why = "skip", f"{why}; not started: {str(exc).splitlines()[0]}"
        return action
    with store.write() as conn:
        for t in transitions:
            t.reason = f"started by autopilot ({rule}): {why}"
            t.evidence["autopilot"] = {"rule": rule, "why": why}
            upgrade._insert(conn, store, t, now=now, who=ACTOR)
    for t in transitions:
        action.evidence.setdefault("rollouts", []).append(t.as_dict())
        world.rollouts.append(t.rollout)
    action.applied = True
    upgrade.announce(store, upgrade.transition_events(transitions), now=now, who=ACTOR)
    return action


def _evaluation(store: Store, candidate: ModelSpec, incumbent: ModelSpec, *, suite: str, now: datetime,
                dry_run: bool) -> dict[str, Any]:
    """{"passed": True | False | None (not yet run, dry run), "why": ...}: an earlier verdict of the
    autopilot's for the pair, else a new `evaluate` run (audited as autopilot-evaluate)."""
    for entry in reversed(catalog_repo.find_audit(store, action="autopilot-evaluate", target=candidate.model_id)):
        if entry["after"].get("incumbent") == incumbent.model_id:
            return {"passed": entry["after"]["passed"], "why": entry["after"]["why"], "at": rfc3339(entry["ts"])}
    if dry_run:
        return {"passed": None, "why": f"not evaluated yet on {suite}"}
    from modelctl.services.offline_eval import evaluate

    try:
        report = evaluate(store, candidate.model_id, suite=suite, against=incumbent.model_id)
    except ModelctlError as exc:  # a missing key or suite: said every tick until fixed, never a verdict
        return {"passed": False, "why": f"offline evaluation on {suite} could not run: {str(exc).splitlines()[0]}",
                "retry": True}
    comparison = report.summary()["comparison"]
    passed = comparison["verdict"] == "candidate not worse"
    why = (f"offline evaluation on {report.suite} against {incumbent.model_id}: {comparison['verdict']} "
           f"(mean paired difference {comparison['mean_difference']:+.3f}, margin -{comparison['margin']:g}, "
           f"{comparison['pairs']} cases)")
    with store.write() as conn:
        catalog_repo.write_audit(conn, actor=ACTOR, action="autopilot-evaluate", target=candidate.model_id,
                                 after={"rule": "newer-in-family", "incumbent": incumbent.model_id,
                                        "suite": report.path, "passed": passed, "why": why}, now=now)
    return {"passed": passed, "why": why}


# --------------------------------------------------------------------------- newer candidates


def _candidates(store: Store, world: _World, *, config: AutopilotSettings, now: datetime, dry_run: bool,
                settings: Settings) -> list[AutoAction]:
    rule = "newer-in-family"
    in_chains = [world.models[m] for m in dict.fromkeys(m for c in world.chains.values() for m in c)
                 if m in world.models]
    today = now.date()
    actions = []
    for candidate in sorted((m for m in world.models.values() if m.status == "candidate"), key=lambda m: m.model_id):
        family = family_of(candidate)
        incumbents = [m for m in in_chains if family and family_of(m) == family and _serving(m, today)]
        if not incumbents:
            actions.append(AutoAction("skip", rule, "-", f"{candidate.model_id}: no chain has a serving model of "
                                      f"its family {family or '(none)'}", candidate.model_id))
            continue
        for incumbent in incumbents:
            if world.tried(candidate.model_id, incumbent.model_id) is not None:
                continue  # tried once already: a person decides about another go
            failed = mismatches(candidate, incumbent, price_ratio_max=config.price_ratio_max)
            if failed:
                why = f"{candidate.model_id} vs {incumbent.model_id}: " + "; ".join(failed.values())
                actions.append(AutoAction("skip", rule, incumbent.model_id, why, candidate.model_id,
                                          evidence={"failed_rules": sorted(failed)}))
                continue
            why = (f"{candidate.model_id} is a newer {family} than {incumbent.model_id} (version "
                   f"{candidate.version or '?'} vs {incumbent.version or '?'}), priced within "
                   f"{config.price_ratio_max:g}x, with no less context and every capability")
            actions.append(_start(store, world, rule, candidate, incumbent, why, now=now, dry_run=dry_run,
                                  settings=settings, evaluate=config))
    return actions


def _serving(spec: ModelSpec, today: date) -> bool:
    from modelctl.core.routing import ROUTABLE_STATUSES

    return spec.status in ROUTABLE_STATUSES and (spec.deprecation_date is None or spec.deprecation_date > today)


# --------------------------------------------------------------------------- explaining


def explanations(store: Store) -> dict[tuple[str, str, datetime], dict[str, str]]:
    """{(candidate, incumbent, started_at): {"rule", "why"}} of the rollouts the autopilot started."""
    return {
        (entry["target"], entry["before"]["incumbent_id"], entry["ts"]): entry["after"]["autopilot"]
        for entry in catalog_repo.find_audit(store, action="rollout-start")
        if entry["actor"] == ACTOR and "autopilot" in (entry["after"] or {})
    }


def substitutions(store: Store) -> list[dict[str, Any]]:
    """The retired models whose successors took their place, as audited."""
    return [{"model_id": e["target"], "at": rfc3339(e["ts"]), **e["after"]}
            for e in catalog_repo.find_audit(store, action="autopilot-substitute")]
