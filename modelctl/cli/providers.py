"""`modelctl providers ...`: the configured providers (config/providers.yaml)."""

from __future__ import annotations

import typer

from modelctl.cli.common import JsonOption, emit, new_app, print_table, store_from

app = new_app("Configured providers, whether their key is set, and their health.")


@app.command("list")
def list_(ctx: typer.Context, as_json: JsonOption = False) -> None:
    """List providers: wire kind, base URL, whether the key's env var is set (never the key).

    \b
    Example:
      modelctl providers list --json
    """
    from modelctl.services.providers import provider_report

    rows = provider_report(store_from(ctx))
    emit(rows, as_json=as_json, table=lambda: print_table(
        ["provider", "kind", "base URL", "key env var", "key set", "health", "cooldown until"],
        [(r["name"], r["kind"], r["base_url"], r["api_key_env"] or "(none needed)",
          "yes" if r["key_set"] else "no", r["health"], r["cooldown_until"]) for r in rows],
    ))
