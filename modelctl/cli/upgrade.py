"""`modelctl promote`, `rollback`, `evaluations` and `upgrade status|tick`: rollouts by hand and by cron."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Annotated

import typer

from modelctl.cli.common import JsonOption, emit, money, new_app, print_json, print_table, say, store_from

if TYPE_CHECKING:
    from modelctl.services.upgrade import Transition

app = new_app("Rollouts of candidate models: status, and the cron tick that judges them.")


def _segments(values: list[str]) -> tuple[str, ...]:
    """--segments simple,technical and --segments simple --segments technical mean the same."""
    return tuple(s.strip() for value in values for s in value.split(",") if s.strip())


def _hours(value: float | None) -> str:
    return "never" if value is None else f"~{value:,.0f} h"


def _say_estimates(estimates: list[dict]) -> None:
    """Time to decision of each phase ahead, and what to change when it exceeds the phase's maximum."""
    for e in estimates:
        say(f"  {e['phase']}: an equal candidate needs {_hours(e['hours'])} to pass (median "
            f"{_hours(e['median_hours'])}; max {e['max_hours']:g} h; {e['segment']} at "
            f"{e['requests_per_hour']:,.1f} requests/h)")
        if e["warning"]:
            say(f"  warning: {e['warning']}")


def _say_notification(evidence: dict) -> None:
    warning = (evidence.get("notification") or {}).get("warning")
    if warning:
        say(f"  warning: {warning}")


def _say_transitions(transitions: Sequence[Transition]) -> None:
    for t in transitions:
        r = t.rollout
        state = "" if t.applied else " (not applied: the rollout changed meanwhile)"
        say(f"{r.candidate_id} vs {r.incumbent_id} [{', '.join(r.segments)}]: {t.action} {r.phase} -> "
            f"{t.phase} at {t.traffic_pct:g}%{state}")
        say(f"  {t.reason}")
        _say_estimates(t.evidence.get("time_to_decision", []))
        _say_notification(t.evidence)
        if "offline_evaluation" in t.evidence:
            e = t.evidence["offline_evaluation"]
            say("  offline evaluation: none (`modelctl evaluate` checks a candidate before shadow)" if e is None
                else f"  offline evaluation: {e['verdict']} on {e['suite']} ({e['pairs']} cases, mean paired "
                     f"difference {e['mean_difference']:+.3f}, p={_p(e['p_value'])}) at {e['ts'][:16]}")


def _p(value: float | None) -> str:
    return "-" if value is None else f"{value:.2g}"


def promote(
    ctx: typer.Context,
    candidate: Annotated[str, typer.Argument(help="The model to roll out.")],
    replaces: Annotated[str | None, typer.Option("--replaces", help="The incumbent it challenges "
                        "(default: the head of each segment's chain).")] = None,
    segments: Annotated[list[str] | None, typer.Option("--segments", help="Segments to roll out on (repeat or "
                        "comma-separate; default: every segment the candidate can serve).")] = None,
    to: Annotated[str | None, typer.Option("--to", help="shadow, canary or full (default: the next phase).")] = None,
    traffic: Annotated[float | None, typer.Option("--traffic", help="Share of requests in percent "
                       "(default: config/upgrade.yaml).")] = None,
    yes: Annotated[bool, typer.Option("--yes", help="Promote ahead of the gates (skip a phase, or "
                   "the current window has not passed).")] = False,
    as_json: JsonOption = False,
) -> None:
    """Start a rollout (shadow) or move it to its next phase: the manual gate.

    \b
    Example:
      modelctl promote claude-sonnet-5-5 --segments technical
    """
    from modelctl.services.upgrade import promote as run

    transitions = run(store_from(ctx), candidate, replaces=replaces, segments=_segments(segments or []), to=to,
                      traffic_pct=traffic, yes=yes)
    if as_json:
        print_json([t.as_dict() for t in transitions])
    else:
        _say_transitions(transitions)


def rollback(
    ctx: typer.Context,
    candidate: Annotated[str, typer.Argument(help="The model whose rollouts end.")],
    reason: Annotated[str | None, typer.Option("--reason", help="Why, for the audit log.")] = None,
    replaces: Annotated[str | None, typer.Option("--replaces", help="Only its rollout against this "
                        "incumbent.")] = None,
    as_json: JsonOption = False,
) -> None:
    """End a candidate's rollouts at once: no traffic, the incumbent restored (also after full).

    \b
    Example:
      modelctl rollback claude-sonnet-5-5 --reason "p95 latency doubled"
    """
    from modelctl.services.upgrade import rollback as run

    transitions = run(store_from(ctx), candidate, reason=reason, incumbent_id=replaces)
    if as_json:
        print_json([t.as_dict() for t in transitions])
    else:
        _say_transitions(transitions)


@app.command("status")
def status(
    ctx: typer.Context,
    active: Annotated[bool, typer.Option("--active", help="Only shadow, canary (and discovered) rollouts.")] = False,
    as_json: JsonOption = False,
) -> None:
    """Rollouts, oldest first: phase, traffic share, since when, why (for those the autopilot
    started), the estimated time to decision of a shadow or canary, and the latest state; with a
    judge configured, its spend today against its daily cap.

    \b
    Example:
      modelctl upgrade status --active
    """
    from modelctl.services.autopilot import substitutions
    from modelctl.services.upgrade import judge_budget, status_rows

    store = store_from(ctx)
    rows = status_rows(store, active_only=active)
    judge = judge_budget(store)
    if as_json:
        # The JSON stays a list of rollouts: the judge, its spend today and its cap ride on each one.
        print_json([{**r, **({"judge": judge} if judge else {})} for r in rows])
        return

    def decision_in(row: dict) -> str:
        current = (row.get("time_to_decision") or [None])[0]
        if current is None:
            return ""
        return f"{_hours(current['hours'])} (max {current['max_hours']:g} h)"

    print_table(
        ["candidate", "incumbent", "segments", "phase", "traffic %", "phase since", "decision in", "why", "reason"],
        [(r["candidate_id"], r["incumbent_id"], ", ".join(r["segments"]), r["phase"], f"{r['traffic_pct']:g}",
          r["phase_started_at"][:16].replace("T", " "), decision_in(r), r["why"] or "", r["reason"]) for r in rows],
        drop_first=("phase since", "traffic %", "segments"),
    )
    for r in rows:
        for e in r.get("time_to_decision", []):
            if e["warning"]:
                say(f"warning: {r['candidate_id']} vs {r['incumbent_id']}: {e['warning']}")
    for sub in substitutions(store):
        say(f"autopilot ({sub['rule']}): {sub['why']}")
    if judge is not None:
        say(f"judge {judge['model']}: {money(judge['spent_today_usd'])} spent today (UTC) of its "
            f"{money(judge['daily_budget_usd'])} daily cap")


@app.command("tick")
def tick(
    ctx: typer.Context,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Show what it would do; change nothing.")] = False,
    as_json: JsonOption = False,
) -> None:
    """Judge every active rollout and promote, roll back, reject or wait (run from cron every 15 minutes);
    with autopilot enabled in upgrade.yaml, also start rollouts of newer candidates and retiring models'
    successors.

    \b
    Example (cron, every 15 minutes):
      modelctl upgrade tick
    """
    from modelctl.services.upgrade import tick as run

    report = run(store_from(ctx), dry_run=dry_run)
    if as_json:
        print_json(report.as_dict())
        return
    if report.lease not in ("taken", "dry-run"):
        say(f"another tick is running (lease {report.lease}); nothing done")
        return
    if not report.transitions:
        say("no active rollouts")
    prefix = "would " if dry_run else ""
    for t in report.transitions:
        r = t.rollout
        say(f"{r.candidate_id} vs {r.incumbent_id}: {prefix}{t.action} ({r.phase} -> {t.phase}, {t.traffic_pct:g}%)")
        for gate in t.evidence.get("gates", []):
            say(f"  {gate['summary']}")
        _say_notification(t.evidence)
    for a in report.autopilot:
        if a.action == "skip":
            continue  # the rules a candidate misses are in --json
        say(f"autopilot: {prefix}{a.action} ({a.rule}): {a.why}")
        _say_notification(a.evidence)


def evaluations(
    ctx: typer.Context,
    candidate: Annotated[str | None, typer.Option("--candidate", help="Only this candidate's rollouts.")] = None,
    limit: Annotated[int, typer.Option("--limit", help="Most recent gate results to show.")] = 50,
    as_json: JsonOption = False,
) -> None:
    """Gate results of rollouts, newest first: verdict, figures and p-values.

    \b
    Example:
      modelctl evaluations --candidate claude-sonnet-5-5 --limit 10
    """
    from modelctl.services.upgrade import evaluations as run

    rows = run(store_from(ctx), candidate_id=candidate, limit=limit)
    emit(rows, as_json=as_json, table=lambda: print_table(
        ["when", "candidate", "incumbent", "phase", "gate", "verdict", "p", "summary"],
        [(r["ts"][:16], r["candidate_id"], r["incumbent_id"], r["phase"], r["gate"], r["verdict"],
          "" if r["p_value"] is None else f"{r['p_value']:.2g}", r["summary"]) for r in rows],
    ))
