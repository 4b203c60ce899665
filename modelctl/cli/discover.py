"""`modelctl discover` and `modelctl candidates`: new models found at the providers."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Annotated

import typer

from modelctl.cli.common import DryRunOption, JsonOption, emit, money, print_table, say, store_from
from modelctl.errors import ModelctlError

if TYPE_CHECKING:
    from collections.abc import Callable

    from rich.progress import Progress

    from modelctl.services.discovery import Listing


def discover(
    ctx: typer.Context,
    provider: Annotated[list[str] | None, typer.Option(
        "--provider", "-p", metavar="NAME",
        help="Only this provider (repeatable; default: every configured one).")] = None,
    timeout: Annotated[float | None, typer.Option(
        "--timeout", min=0.1, metavar="SECONDS",
        help="Seconds each provider has to list its models (default: discovery.yaml).")] = None,
    dry_run: DryRunOption = False,
    as_json: JsonOption = False,
) -> None:
    """Find new models at every provider and add the pinned chat models as candidates.

    Also carries providers' announced retirement dates onto known models. Exits 0 with a warning
    when some providers failed, 1 when all did. --json explains the decision on every model.

    \b
    Example (weekly from cron):
      modelctl discover --json > discover.json
    """
    from modelctl.services.discovery import discover as run_discovery

    store = store_from(ctx)
    with _progress(enabled=not as_json) as on_listed:
        report = run_discovery(store, providers=provider or (), dry_run=dry_run, timeout_s=timeout,
                               on_listed=on_listed)

    def table() -> None:
        print_table(
            ["provider", "found", "new", "updated", "error"],
            [(p.listing.provider, len(p.listing.models), p.count("new"), p.count("updated"),
              p.listing.error or "") for p in report.providers],
            title="discovery (dry run: nothing written)" if dry_run else "discovery",
        )
        new = [(p.listing.provider, o, o.spec) for p in report.providers for o in p.outcomes
               if o.action == "new" and o.spec is not None]
        if new:
            print_table(
                ["model", "provider", "stability", "prices", "in $/1k", "out $/1k"],
                [(o.model.model_id, name, o.model.stability, o.price_source,
                  money(spec.input_cost_per_1k, missing="unpriced"),
                  money(spec.output_cost_per_1k, missing="unpriced")) for name, o, spec in new],
                title="new candidates",
            )
        updated = [o for p in report.providers for o in p.outcomes if o.action == "updated"]
        if updated:
            print_table(
                ["model", "field", "before", "after"],
                [(o.model.model_id, name, old, new) for o in updated for name, (old, new) in o.changes.items()],
                title="retirement dates",
            )

    emit(report.as_dict(), as_json=as_json, table=table)
    for failed in report.failed:
        say(f"warning: {failed.listing.provider}: {failed.listing.error}")
    if report.providers and report.all_failed:
        raise ModelctlError("every provider failed; nothing was discovered")


def candidates(
    ctx: typer.Context,
    provider: Annotated[str | None, typer.Option("--provider", "-p", help="Only this provider's candidates.")] = None,
    as_json: JsonOption = False,
) -> None:
    """List candidate models (never routed to until a rollout promotes them), newest finds first.

    \b
    Example:
      modelctl candidates --json
    """
    from modelctl.services.discovery import candidates as list_candidates

    rows = list_candidates(store_from(ctx), provider=provider)
    emit(rows, as_json=as_json, table=lambda: print_table(
        ["model", "provider", "found at", "stability", "priced", "found in"],
        [(r["model_id"], r["provider"], r["found_at"] or f"({r['source']})", r["stability"] or "",
          "yes" if r["priced"] else "unpriced", r["discovered_from"] or "") for r in rows],
        drop_first=("found in", "found at", "stability"),
    ))


class _progress:
    """A progress bar on stderr while providers answer, only for a person at a terminal."""

    def __init__(self, *, enabled: bool) -> None:
        self.enabled = enabled and sys.stderr.isatty()
        self.bar: Progress | None = None

    def __enter__(self) -> Callable[[Listing], None] | None:
        """The callback discovery calls as each provider answers; None when no bar is shown."""
        if not self.enabled:
            return None
        from rich.console import Console
        from rich.progress import Progress

        bar = self.bar = Progress(console=Console(stderr=True), transient=True)
        bar.start()
        task = bar.add_task("listing models", total=None)

        def on_listed(listing: Listing) -> None:
            bar.update(task, advance=1, description=f"listed {listing.provider}")

        return on_listed

    def __exit__(self, *exc: object) -> None:
        if self.bar is not None:
            self.bar.stop()
