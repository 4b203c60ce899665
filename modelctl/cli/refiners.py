"""`modelctl refiners sweep`: refinement chains ordered by the refiners' measured latency."""

from __future__ import annotations

from typing import Annotated

import typer

from modelctl.cli.common import JsonOption, new_app, number, print_json, print_table, say, store_from

app = new_app("Refiner models: keep the refinement chains ordered by measured latency.")


@app.command("sweep")
def sweep(
    ctx: typer.Context,
    probe: Annotated[bool, typer.Option("--probe", help="Measure with a few short real calls per refiner "
                     "(recorded as usage) instead of the last 7 days of usage.")] = False,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Show the new order; store nothing.")] = False,
    as_json: JsonOption = False,
) -> None:
    """Measure each refiner's p50/p95 latency and put those within the refinement budget first in
    every refinement chain, fastest p95 first (stored and audited; routing applies it).

    \b
    Example:
      modelctl refiners sweep --dry-run
    """
    from modelctl.services.refiners import sweep as run

    report = run(store_from(ctx), probe=probe, dry_run=dry_run)
    if as_json:
        print_json(report.as_dict())
        return
    print_table(
        ["refiner", "source", "calls", "p50 ms", "p95 ms", "note"],
        [(m.model_id, m.source, m.calls, number(m.p50_ms, ",.0f"), number(m.p95_ms, ",.0f"), m.note or "")
         for m in report.measurements],
    )
    for c in report.chains:
        budget = f"p50 <= {c.budget_ms} ms, p95 <= {c.p95_budget_ms} ms"
        if not c.changed:
            say(f"{c.name}: unchanged ({budget}): {' -> '.join(c.after)}")
            continue
        verb = "would become" if dry_run else "now"
        say(f"{c.name}: {verb} {' -> '.join(c.after)} ({budget}; was {' -> '.join(c.before)})")
