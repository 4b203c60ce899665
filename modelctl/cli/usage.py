"""`modelctl usage ...` and `modelctl stats`: call outcomes in, cost and performance out."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from modelctl.cli.common import JsonOption, emit, money, new_app, print_json, print_table, say, store_from

app = new_app("Record call outcomes (latency, tokens, cost) one at a time or in bulk.")


@app.command("record")
def record(
    ctx: typer.Context,
    model_id: Annotated[str, typer.Argument(help="The catalog model that served the call.")],
    latency_ms: Annotated[float, typer.Option("--latency-ms", help="End-to-end latency in ms.")],
    ttft_ms: Annotated[float | None, typer.Option("--ttft-ms", help="Time to first token in ms.")] = None,
    tokens_in: Annotated[int, typer.Option("--tokens-in", help="Prompt tokens.")] = 0,
    tokens_out: Annotated[int, typer.Option("--tokens-out", help="Completion tokens.")] = 0,
    cost_usd: Annotated[float | None, typer.Option("--cost-usd", help="Cost; default: from catalog prices.")] = None,
    failed: Annotated[bool, typer.Option("--failed", help="The call failed.")] = False,
    error_kind: Annotated[str | None, typer.Option("--error-kind", help="e.g. timeout, rate_limited.")] = None,
    segment: Annotated[str | None, typer.Option("--segment", help="Query type or custom segment.")] = None,
    quality: Annotated[float | None, typer.Option("--quality", help="A quality score in 0..1.")] = None,
    request_id: Annotated[str | None, typer.Option("--request-id", help="Recorded once per id.")] = None,
    arm: Annotated[str, typer.Option("--arm", help="control, shadow, canary, rescue or judge "
                                     "(for rollout gates).")] = "control",
    as_json: JsonOption = False,
) -> None:
    """Record one call outcome (the original POST /models/{id}/usage).

    \b
    Example:
      modelctl usage record gpt-4o-2024-08-06 --latency-ms 820 --tokens-in 120 --tokens-out 300
    """
    from modelctl.services.usage import record_usage

    fields = {
        "model_id": model_id, "latency_ms": latency_ms, "ttft_ms": ttft_ms, "tokens_in": tokens_in,
        "tokens_out": tokens_out, "cost_usd": cost_usd, "success": not failed, "error_kind": error_kind,
        "segment": segment, "quality": quality, "request_id": request_id, "arm": arm,
    }
    result = record_usage(store_from(ctx), {k: v for k, v in fields.items() if v is not None})
    if as_json:
        print_json(result)
        return
    cost = "unpriced" if result["cost_usd"] is None else f"${result['cost_usd']:.6f}"
    say(f"recorded {model_id}: {latency_ms:g} ms, {tokens_in}+{tokens_out} tokens, {cost}"
        if result["recorded"] else f"not recorded: {result['note']}")
    if result["recorded"] and result.get("note"):
        say(result["note"])


@app.command("import")
def import_(
    ctx: typer.Context,
    file: Annotated[str, typer.Argument(help="A JSON-lines file, or - for standard input.")],
    skip_invalid: Annotated[bool, typer.Option("--skip-invalid",
                                               help="Import valid lines and report the rest.")] = False,
    as_json: JsonOption = False,
) -> None:
    """Import call outcomes in bulk: one JSON object a line.

    Fields: model_id and latency_ms (required), ttft_ms, tokens_in, tokens_out, cost_usd, success
    (default true), error_kind, segment, quality, request_id, arm, ts (ISO-8601, default now).
    A bad line changes nothing unless --skip-invalid; a repeated request_id is counted once, so an
    interrupted import can simply be run again.

    \b
    Examples:
      modelctl usage import calls.jsonl --skip-invalid
      modelctl usage import - < calls.jsonl
    """
    from modelctl.services.usage import import_usage

    store = store_from(ctx)
    show_progress = not as_json and sys.stderr.isatty()
    if show_progress:
        from rich.progress import Progress

        with Progress(transient=True) as bar:
            task = bar.add_task("importing", total=None)
            report = import_usage(store, file, skip_invalid=skip_invalid,
                                  progress=lambda done, total: bar.update(task, completed=done, total=total))
    else:
        report = import_usage(store, file, skip_invalid=skip_invalid)
    if as_json:
        print_json(report.as_dict())
        return
    say(f"imported {report.inserted:,} rows ({report.duplicates:,} already recorded, "
        f"{len(report.skipped):,} skipped)")
    for line in report.skipped[:20]:
        say(f"  skipped {line}")
    if report.unpriced_models:
        say(f"no catalog price, cost not recorded: {', '.join(sorted(report.unpriced_models))}")


@app.command("prune")
def prune(
    ctx: typer.Context,
    older_than: Annotated[str, typer.Option("--older-than", help="Age of the raw rows to delete: 90d, 12w, "
                                            "yesterday, or an ISO date (rounded down to midnight UTC).")],
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Count what would go; change nothing.")] = False,
    as_json: JsonOption = False,
) -> None:
    """Delete raw usage rows older than a cutoff; their days keep daily roll-ups, so `stats` still answers.

    Each batch is committed on its own: a prune that is interrupted can simply be run again.

    \b
    Example (cron, weekly):
      modelctl usage prune --older-than 90d
    """
    from modelctl.services.maintenance import prune_usage

    report = prune_usage(store_from(ctx), older_than=older_than, dry_run=dry_run)
    if as_json:
        print_json(report.as_dict())
        return
    cutoff = f"{report.cutoff:%Y-%m-%d}"
    if dry_run:
        say(f"would delete {report.deleted_rows:,} usage rows before {cutoff} and compact the "
            f"{report.rollups_before:,} roll-up rows of those days to one per group a day")
        return
    say(f"deleted {report.deleted_rows:,} usage rows before {cutoff} ({len(report.days)} days); "
        f"{report.rollups_before:,} roll-ups compacted into {report.rollups_after:,} daily ones")


def stats(
    ctx: typer.Context,
    since: Annotated[str | None, typer.Option("--since", help="24h, 7d, 30m, today, yesterday, or an ISO date/time "
                                              "(rounded down to the hour). Default: all recorded usage.")] = None,
    by: Annotated[str, typer.Option("--by", help="Group by model, provider, segment, day or key "
                                    "(the API client key).")] = "model",
    as_json: JsonOption = False,
) -> None:
    """Calls, success rate, p50/p95 latency and TTFT, tokens and cost, per group.

    Percentiles come from log-bucket histograms kept per hour (within 1% of the exact value).

    \b
    Examples:
      modelctl stats --since 7d
      modelctl stats --since yesterday --by provider --json
    """
    from modelctl.services.usage import usage_stats

    result = usage_stats(store_from(ctx), by=by, since=since)
    rows = result["rows"]
    emit(rows, as_json=as_json, table=lambda: print_table(
        [by, "calls", "success", "p50 ms", "p95 ms", "p50 TTFT ms", "tokens in", "tokens out", "cost $"],
        [(r["key"], f"{r['calls']:,}", f"{r['success_rate']:.1%}", r["p50_latency_ms"], r["p95_latency_ms"],
          r["p50_ttft_ms"], f"{r['tokens_in']:,}", f"{r['tokens_out']:,}", money(r["cost_usd"])) for r in rows],
        title=f"usage since {result['since']:%Y-%m-%d %H:%M} UTC",
        drop_first=("p50 TTFT ms", "tokens in", "tokens out", "success"),
    ))
