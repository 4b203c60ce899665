"""`modelctl route`: which model should answer, its fallbacks, and why."""

# No `from __future__ import annotations`: typer evaluates string annotations again each time it
# reads a signature (several times per command), real ones once, at import: cold `route` has a
# start-up budget (CONTRIBUTING.md), measured by python tests/benchmarks/bench_routing.py --only cold
from typing import TYPE_CHECKING, Annotated

import typer

from modelctl.cli.batch import BatchOption, WorkersOption, run_batch
from modelctl.cli.classify import AttachOption
from modelctl.cli.common import (
    QUERY_HELP,
    JsonOption,
    money,
    print_json,
    print_line,
    print_table,
    query_text,
    say,
    store_from,
)
from modelctl.errors import InvalidInput

if TYPE_CHECKING:
    from collections.abc import Iterable

    from modelctl.core.routing import RouteRequest
    from modelctl.services.routing import Router


def route(
    ctx: typer.Context,
    query: Annotated[str | None, typer.Argument(help=QUERY_HELP)] = None,
    attach: AttachOption = None,
    segment: Annotated[str | None, typer.Option("--segment", help="Route with this segment's policy "
                                                "(default: the query type).")] = None,
    require: Annotated[list[str] | None, typer.Option("--require", metavar="CAP",
                                                      help="A capability the model must have (repeatable).")] = None,
    max_cost: Annotated[float | None, typer.Option("--max-cost", metavar="USD",
                                                   help="Drop models whose estimated cost is higher.")] = None,
    deadline_ms: Annotated[int | None, typer.Option("--deadline-ms", help="Latency budget in ms "
                                                    "(default: the segment's or the query type's).")] = None,
    objective: Annotated[str | None, typer.Option("--objective", help="policy (chain order), cost (cheapest "
                                                  "within R x the best learned quality), quality (best "
                                                  "learned), or value (quality - W x $/1k calls).")] = None,
    min_quality_ratio: Annotated[float | None, typer.Option("--min-quality-ratio", metavar="R",
                                 help="For objective cost: at least R x the best model's quality.")] = None,
    cost_weight: Annotated[float | None, typer.Option("--cost-weight", metavar="W",
                           help="For objective value: quality (0..1) worth $1 per 1,000 calls.")] = None,
    request_id: Annotated[str | None, typer.Option("--request-id", help="Decides rollout arms; "
                                                   "the same id always routes the same way.")] = None,
    ignore_keys: Annotated[bool, typer.Option("--ignore-keys",
                                              help="Plan as if every provider key were set.")] = False,
    refinement: Annotated[bool, typer.Option("--refinement",
                                             help="Pick a fast refiner within 500 ms instead.")] = False,
    refinement_type: Annotated[str, typer.Option("--refinement-type", help="fast, quality or lmm.")] = "fast",
    explain: Annotated[bool, typer.Option("--explain",
                                          help="Show every candidate and why it was kept or dropped.")] = False,
    batch: BatchOption = None,
    workers: WorkersOption = None,
    as_json: JsonOption = False,
) -> None:
    """Choose the model for a query, with its fallback chain and the reason for every candidate.

    \b
    Examples:
      modelctl route "What is the capital of France?"
      modelctl route "Compare Postgres and MySQL for analytics" --objective cost --explain
      modelctl route - < question.txt
      modelctl route --batch queries.jsonl > decisions.jsonl
    """
    from modelctl import clock
    from modelctl.services.routing import Router

    router = Router.load(store_from(ctx), now=clock.now(), ignore_keys=ignore_keys)

    def make_request(text: str, attachments: "Iterable[str]", query_segment: str | None,
                     query_id: str | None) -> "RouteRequest":
        """One query with the options every query of the command shares."""
        return router.request(text, attachments=attachments, segment=query_segment, request_id=query_id,
                              require=require or (), max_cost=max_cost, deadline_ms=deadline_ms,
                              objective=objective, min_quality_ratio=min_quality_ratio, cost_weight=cost_weight)

    if batch is not None:
        _print_notes(router)
        decide = router.batch_decider()
        run_batch(batch, lambda item: decide(make_request(
            item.query, item.attachments, item.segment or segment,
            None if item.id is None else str(item.id))), workers=workers)
        return
    if query is None:
        raise InvalidInput("give a QUERY, or --batch FILE|-")
    request = make_request(query_text(query), attach or (), segment, request_id)
    decision = router.refine(request, refinement_type) if refinement else router.decide(request)
    _print_notes(router)  # once the input was accepted: an input error comes alone
    for warning in decision.warnings:
        say(f"warning: {warning}")
    result = decision.as_dict()
    if as_json:
        print_json(result)
        return
    if decision.bypass_recommended:
        print_line(f"bypass refinement: no refiner can answer within {decision.budget_seconds * 1000:,.0f} ms; "
              f"the fastest is {decision.model_id} ({decision.provider})")
    else:
        fallbacks = " -> ".join(decision.fallback_models) or "(none)"
        cost = money(decision.estimated_cost, missing="unpriced")
        latency = "?" if decision.estimated_latency is None else f"{decision.estimated_latency:.1f}s"
        print_line(f"{decision.model_id} ({decision.provider})  fallbacks: {fallbacks}")
        print_line(f"{decision.query_type}/{decision.complexity}, segment {decision.segment}, budget "
              f"{decision.budget_seconds:g}s, est. {cost} in {latency}, confidence {decision.confidence:.2f}"
              + (f", arm {decision.arm}" if decision.arm != "control" else ""))
    if explain or decision.bypass_recommended:
        _explain(result)


def _print_notes(router: "Router") -> None:
    for note in router.notes:
        say(f"note: {note}")


def _explain(result: dict) -> None:
    def quality(q: dict | None) -> str:
        return "" if q is None else f"{q['mean']:.3f} (lcb {q['lcb']:.3f}, n={q['n']})"

    print_table(
        ["model", "verdict", "why", "est. $", "est. ms", "quality"],
        [(c["model_id"], c["verdict"], c["reason"], money(c["estimated_cost"]),
          "" if c["estimated_latency_ms"] is None else f"{c['estimated_latency_ms']:.0f}", quality(c["quality"]))
         for c in result["reason"]],
        title="candidates",
    )
