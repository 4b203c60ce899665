"""`modelctl eval import|show`: scored outcomes per model and segment, the evidence `route` learns from."""

from __future__ import annotations

from typing import Annotated

import typer

from modelctl.cli.common import JsonOption, emit, money, new_app, print_json, print_table, say, store_from

app = new_app("Scored outcomes per model and segment: what the learned objectives route on.")


@app.command("import")
def eval_import(
    ctx: typer.Context,
    file: Annotated[str, typer.Argument(help='JSON lines {"model_id", "segment", "score" (0..1), '
                                        '"cost_usd"?, "latency_ms"?}, or - for stdin.')],
    skip_invalid: Annotated[bool, typer.Option("--skip-invalid",
                                               help="Import valid lines and report the rest.")] = False,
    as_json: JsonOption = False,
) -> None:
    """Store scored outcomes; the router learns per-segment quality from them (objectives cost/quality).

    \b
    Example:
      modelctl eval import scores.jsonl --skip-invalid
    """
    from modelctl.services.scores import import_scores

    report = import_scores(store_from(ctx), file, skip_invalid=skip_invalid)
    if as_json:
        print_json(report.as_dict())
        return
    say(report.summary())
    for line in report.skipped[:20]:
        say(f"  skipped {line}")


@app.command("show")
def eval_show(ctx: typer.Context, as_json: JsonOption = False) -> None:
    """The learned quality per segment and model: mean, lower confidence bound, sample count.

    \b
    Example:
      modelctl eval show --json
    """
    from modelctl.services.scores import quality_table

    rows = quality_table(store_from(ctx))
    emit(rows, as_json=as_json, table=lambda: print_table(
        ["segment", "model", "n", "mean", "lcb", "mean cost $"],
        [(r["segment"], r["model_id"], r["n"], r["mean"], r["lcb"], money(r["mean_cost_usd"])) for r in rows],
    ))
