"""`modelctl evaluate`: an offline suite run against a candidate and its incumbent, before shadow."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from modelctl.cli.common import JsonOption, money, number, print_json, print_table, say, store_from


def evaluate(
    ctx: typer.Context,
    candidate: Annotated[str, typer.Argument(help="The model to check.")],
    suite: Annotated[str, typer.Option("--suite", help="A suite file (YAML list of cases with checks), or "
                     "NAME for config/eval/NAME.yaml, e.g. smoke.")],
    against: Annotated[str | None, typer.Option("--against", help="The incumbent to compare with "
                       "(default: the head of each case's segment chain that can serve).")] = None,
    segment: Annotated[str | None, typer.Option("--segment", help="Segment of cases that name none "
                       "(default: the prompt's query type).")] = None,
    judge: Annotated[str | None, typer.Option("--judge", metavar="MODEL", help="Also have this model grade "
                     "each answer 0..10; the grade / 10 is averaged with the checks' score. Never the "
                     "candidate or the incumbent.")] = None,
    as_json: JsonOption = False,
) -> None:
    """Send a suite's prompts to a candidate and its incumbent, score the answers, store the scores.

    Each answer scores the fraction of its checks that pass; scores are stored as evaluation scores
    (source evaluate:SUITE, see `modelctl eval show`) and calls are recorded as usage. The verdict is
    a paired test: "candidate not worse" only when shown at 5% (one-sided) within the 0.05 margin;
    `promote` shows the latest verdict (and requires a pass with upgrade.yaml require_offline_eval).

    \b
    Example:
      modelctl evaluate claude-sonnet-5-5 --suite smoke --against gpt-4o-2024-08-06
    """
    from modelctl.services.offline_eval import evaluate as run

    store = store_from(ctx)
    if as_json or not sys.stderr.isatty():
        report = run(store, candidate, suite=suite, against=against, segment=segment, judge_id=judge)
    else:
        from rich.console import Console
        from rich.progress import Progress

        with Progress(console=Console(stderr=True), transient=True) as bar:
            task = bar.add_task("evaluating", total=None)
            report = run(store, candidate, suite=suite, against=against, segment=segment, judge_id=judge,
                         progress=lambda done, total: bar.update(task, completed=done, total=total))
    if as_json:
        print_json(report.as_dict())
        return
    rows = []
    for case in report.cases:
        for role, outcome in (("candidate", case.candidate), ("incumbent", case.incumbent)):
            a = outcome.answer
            note = a.error or outcome.judge_error or "; ".join(
                f"{c['check']}: {c['why']}" for c in outcome.checks if not c["passed"])
            rows.append((case.id, case.segment, role, a.model_id, number(outcome.score, ".2f"),
                         f"{sum(c['passed'] for c in outcome.checks)}/{len(outcome.checks)}",
                         number(outcome.judge_grade, "g"), number(a.latency_ms, ",.0f"),
                         money(a.cost_usd), note))
    print_table(["case", "segment", "role", "model", "score", "checks", "judge", "ms", "cost $", "note"], rows,
                title=f"{report.suite}: {candidate}")
    summary = report.summary()
    print_table(
        ["role", "models", "mean score", "answered", "errors", "cost $", "mean ms"],
        [(role, ", ".join(s["model_ids"]), number(s["mean_score"], ".3f"), s["answered"], s["errors"],
          money(s["cost_usd"]), number(s["mean_latency_ms"], ",.0f"))
         for role, s in (("candidate", summary["candidate"]), ("incumbent", summary["incumbent"]))],
    )
    c = summary["comparison"]
    say(f"{c['verdict']}: mean paired difference {c['mean_difference']:+.3f} (margin -{c['margin']:g}, "
        + ("too few cases to test" if c["p_value"] is None else f"one-sided p = {c['p_value']:.3g} at {c['alpha']:g}")
        + f") over {c['pairs']} cases; {c['wins']} better, {c['losses']} worse, {c['ties']} tied"
        + (f"; sign test p = {c['sign_test_p']:.3g}" if c["sign_test_p"] is not None else ""))
    say(f"stored {report.stored} scores as {report.source}")
