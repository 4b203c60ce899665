"""The rollout state machine: what `upgrade tick` should do with one rollout, given its gates.

    discovered -> shadow -> canary -> full        (full: the candidate replaces the incumbent)
    shadow | canary -> rolled_back                 (a gate failed: a regression is shown)
    shadow | canary -> rejected                    (still inconclusive at the phase's maximum)
    shadow -> canary at its maximum                (on_max: advance: shadow is a screen)

Gates are judged per segment, so a regression in a small segment is not averaged away by a large
one. A failing gate in any segment rolls the whole rollout back at once, whatever the phase's
minimum duration or sample count: those only guard promotion. The rollout advances only when every
one of its segments passes on its own calls and meets the minimums on its own. `decide` is pure;
the service applies the decision and records it.

Each phase may test "pass" at its own level (`PhaseConfig.alpha`, else the gates' `alpha`) and say
what its maximum does (`on_max`, else `on_timeout`). A phase may hand an undecided candidate on
(`on_max: advance`), once every segment has at least the gates' min_samples calls per arm (else
`on_timeout` applies: a screen that saw nothing screened nothing), and only when a gated phase
follows it: the canary, whose own window alone must
show non-inferiority, so P(a candidate at or beyond a margin reaches full) stays within the
canary's level (Ville's inequality) whatever the shadow did.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from modelctl.core.gates import GateConfig, GateResult
from modelctl.errors import ConfigError, InvalidInput

PHASES = ("discovered", "shadow", "canary", "full", "rolled_back", "rejected")
ACTIVE_PHASES = ("discovered", "shadow", "canary")
_PROMOTION_PATH = ("discovered", "shadow", "canary", "full")
ACTIONS = ("advance", "rollback", "wait", "reject", "hold")
ON_TIMEOUT = ("reject", "hold")
ON_MAX = ("advance", *ON_TIMEOUT)


def next_phase(phase: str) -> str | None:
    """The phase a passing rollout moves to; None once it has nowhere further to go."""
    if phase not in PHASES:
        raise InvalidInput(f"unknown rollout phase {phase!r}; phases are {', '.join(PHASES)}")
    if phase not in ACTIVE_PHASES:
        return None
    return _PROMOTION_PATH[_PROMOTION_PATH.index(phase) + 1]


@dataclass(frozen=True, slots=True)
class PhaseConfig:
    traffic_pct: float
    min_duration: timedelta = timedelta(0)
    max_duration: timedelta = timedelta(0)
    min_samples: int = 0  # per arm, before the phase may promote
    alpha: float | None = None  # the gates' pass level in this phase; None: GateConfig.alpha
    on_max: str | None = None  # what the maximum does to an undecided rollout; None: on_timeout

    def __post_init__(self) -> None:
        if self.alpha is not None and not 0.0 < self.alpha < 0.5:
            raise ConfigError(f"a phase's alpha must be between 0 and 0.5, got {self.alpha!r}")
        if self.on_max is not None and self.on_max not in ON_MAX:
            raise ConfigError(f"on_max must be one of {', '.join(ON_MAX)}, got {self.on_max!r}")
        if not 0 < self.traffic_pct <= 100:
            raise ConfigError(f"traffic_pct must be in (0, 100], got {self.traffic_pct!r}")
        if self.min_duration < timedelta(0) or self.max_duration < self.min_duration:
            raise ConfigError(
                f"durations must satisfy 0 <= min_duration <= max_duration, "
                f"got {self.min_duration} and {self.max_duration}"
            )
        if self.min_samples < 0:
            raise ConfigError(f"min_samples must not be negative, got {self.min_samples!r}")


@dataclass(frozen=True, slots=True)
class RolloutConfig:
    """Phases, gates and what a timeout does; the values live in config/upgrade.yaml."""

    phases: Mapping[str, PhaseConfig]
    gates: GateConfig
    on_timeout: str

    def __post_init__(self) -> None:
        missing = [p for p in ("shadow", "canary", "full") if p not in self.phases]
        if missing:
            raise ConfigError(f"rollout config lacks phase(s): {', '.join(missing)}")
        unknown = [p for p in self.phases if p not in ("shadow", "canary", "full")]
        if unknown:
            raise ConfigError(f"rollout config has unknown phase(s): {', '.join(unknown)}")
        if self.on_timeout not in ON_TIMEOUT:
            raise ConfigError(f"on_timeout must be 'reject' or 'hold', got {self.on_timeout!r}")
        if self.phases["canary"].on_max == "advance":
            raise ConfigError("canary's on_max cannot be 'advance': full needs the canary's own evidence")
        object.__setattr__(self, "phases", dict(self.phases))  # a copy: callers cannot change it later

    def gates_for(self, phase: str) -> GateConfig:
        """The gates as judged in `phase`: its own pass level when it sets one."""
        alpha = self.phases[phase].alpha if phase in self.phases else None
        return self.gates if alpha is None else replace(self.gates, alpha=alpha)

    def on_max(self, phase: str) -> str:
        """What reaching `phase`'s maximum does to a rollout its gates have not decided."""
        return self.phases[phase].on_max or self.on_timeout


@dataclass(frozen=True, slots=True)
class RolloutView:
    candidate_id: str
    incumbent_id: str
    phase: str
    traffic_pct: float
    phase_started_at: datetime


@dataclass(frozen=True, slots=True)
class SegmentEvidence:
    """One segment's gates over the phase window; `samples` is (incumbent calls, candidate calls)."""

    segment: str
    results: tuple[GateResult, ...]
    samples: tuple[int, int]


@dataclass(frozen=True, slots=True)
class PhaseDecision:
    """What `upgrade tick` does with a rollout's phase: wait, advance, hold, reject or roll back."""

    action: str
    next_phase: str
    next_traffic_pct: float
    reason: str


def _hours(delta: timedelta) -> str:
    hours = delta.total_seconds() / 3600
    return f"{hours:.0f} h" if hours < 72 else f"{hours / 24:.1f} days"


def decide(
    *,
    rollout: RolloutView,
    evidence: Sequence[SegmentEvidence],
    now: datetime,
    config: RolloutConfig,
) -> PhaseDecision:
    """Rollback on any segment's failed gate; advance when every segment passes past the minimums;
    else wait or time out."""
    phase = rollout.phase
    target = next_phase(phase)
    if target is None:
        raise InvalidInput(f"rollout of {rollout.candidate_id} is {phase}; there is nothing left to decide")
    if phase == "discovered":
        return _advance(target, config, f"rollout of {rollout.candidate_id} starts")
    if (now.tzinfo is None) != (rollout.phase_started_at.tzinfo is None):
        raise InvalidInput("now and phase_started_at must both be timezone-aware or both naive")

    failed = [f"{e.segment}: {r.summary}" for e in evidence for r in e.results if r.verdict == "fail"]
    if failed:
        reason = f"rolled back {rollout.candidate_id} in {phase}: " + "; ".join(failed)
        return PhaseDecision("rollback", "rolled_back", 0, reason)

    phase_config = config.phases[phase]
    elapsed = now - rollout.phase_started_at
    waits = []
    if elapsed < phase_config.min_duration:
        waits.append(f"{_hours(elapsed)} of the {_hours(phase_config.min_duration)} minimum in {phase}")
    if not evidence:
        waits.append("no segment to judge")
    for e in evidence:
        n_control, n_candidate = e.samples
        if min(n_control, n_candidate) < phase_config.min_samples:
            waits.append(
                f"{e.segment}: {n_candidate:,} candidate / {n_control:,} incumbent calls of the "
                f"{phase_config.min_samples:,} per arm needed"
            )
        if not e.results:
            waits.append(f"{e.segment}: no gate could be evaluated")
        waits.extend(f"{e.segment}: {r.summary}" for r in e.results if r.verdict != "pass")

    if not waits:
        gates = "; ".join(f"{e.segment}: {r.summary}" for e in evidence for r in e.results)
        passed = f"{rollout.candidate_id} passed {phase} after {_hours(elapsed)}: {gates}"
        return _advance(target, config, passed)

    if elapsed >= phase_config.max_duration:
        why = (
            f"{rollout.candidate_id} is still undecided after the {_hours(phase_config.max_duration)} "
            f"maximum in {phase}: " + "; ".join(waits)
        )
        on_max = config.on_max(phase)
        screened = bool(evidence) and all(e.results and min(e.samples) >= config.gates.min_samples for e in evidence)
        if on_max == "advance" and screened:
            return _advance(target, config, why + " (no gate failed, so it goes on to be judged there)")
        if on_max == "advance":
            on_max = config.on_timeout  # a screen that saw too few calls in some segment screened nothing
        if on_max == "hold":
            why += " (held for a manual promote or rollback)"
            return PhaseDecision("hold", phase, rollout.traffic_pct, why)
        return PhaseDecision("reject", "rejected", 0, why)

    why = f"{rollout.candidate_id} waits in {phase}: " + "; ".join(waits)
    return PhaseDecision("wait", phase, rollout.traffic_pct, why)


def _advance(target: str, config: RolloutConfig, reason: str) -> PhaseDecision:
    traffic = config.phases[target].traffic_pct
    return PhaseDecision("advance", target, traffic, f"{reason}; moving to {target} at {traffic:g}% of traffic")
