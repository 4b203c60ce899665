"""`modelctl prices sync`: catalog prices, context windows and capability flags from a price map."""

from __future__ import annotations

from typing import Annotated

import typer

from modelctl.cli.common import DryRunOption, JsonOption, emit, new_app, print_table, say, store_from

app = new_app("Prices, context windows and capability flags from a LiteLLM-format price map.")


@app.command("sync")
def sync(
    ctx: typer.Context,
    source: Annotated[str | None, typer.Argument(
        metavar="[FILE|URL]",
        help="A LiteLLM model_prices_and_context_window.json file or URL "
             "(default: discovery.yaml price_map, else LiteLLM's public copy).")] = None,
    dry_run: DryRunOption = False,
    as_json: JsonOption = False,
) -> None:
    """Update catalog prices, context windows, capability flags and end dates from a price map.

    Shows what changed; a model the map does not list is left as it is.

    \b
    Example:
      modelctl prices sync ./model_prices_and_context_window.json --dry-run
    """
    from modelctl.services.prices import sync_prices

    report = sync_prices(store_from(ctx), source=source, dry_run=dry_run)

    def table() -> None:
        verb = "would change" if dry_run else "changed"
        print_table(
            ["model", "field", "before", "after"],
            [(c.model_id, name, old, new) for c in report.changed for name, (old, new) in c.changes.items()],
            title=f"{report.source}: {verb} {len(report.changed)} of {report.checked} models",
        )

    emit(report.as_dict(), as_json=as_json, table=table)
    if report.unmatched and not as_json:
        say(f"not in the price map ({len(report.unmatched)}, left as they are): "
            + ", ".join(report.unmatched[:10]) + (" ..." if len(report.unmatched) > 10 else ""))
