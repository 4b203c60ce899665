"""`modelctl models ...`: the catalog (the original registry's /models endpoints)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from modelctl.cli.common import DryRunOption, JsonOption, emit, money, new_app, print_table, say, store_from

app = new_app("The model catalog: list, show, import, change status.")



@app.command("list")
def list_(
    ctx: typer.Context,
    stable: Annotated[bool, typer.Option("--stable", help="Only stable models (same as --status stable).")] = False,
    refiners: Annotated[bool, typer.Option("--refiners", help="Only fast, cheap refiner models.")] = False,
    capability: Annotated[str | None, typer.Option("--capability", help="Only models with this capability.")] = None,
    provider: Annotated[str | None, typer.Option("--provider", help="Only this provider's models.")] = None,
    status: Annotated[str | None, typer.Option("--status", help="Only models with this lifecycle status.")] = None,
    unpriced: Annotated[bool, typer.Option("--unpriced", help="Only models without prices.")] = False,
    as_json: JsonOption = False,
) -> None:
    """List catalog models, filtered like the original registry's views.

    \b
    Example:
      modelctl models list --capability multimodal --json
    """
    from modelctl.services.catalog import ModelFilter, list_models, spec_to_json

    specs = list_models(
        store_from(ctx),
        ModelFilter(status="stable" if stable else status, provider=provider, capability=capability,
                    refiners=refiners, unpriced=unpriced),
    )
    emit(
        [spec_to_json(spec) for spec in specs],
        as_json=as_json,
        table=lambda: print_table(
            ["model", "provider", "status", "context", "in $/1k", "out $/1k", "capabilities"],
            [
                (s.model_id, s.provider, s.status, s.max_context_tokens,
                 money(s.input_cost_per_1k, missing="unpriced"),
                 money(s.output_cost_per_1k, missing="unpriced"), ", ".join(sorted(s.capabilities)))
                for s in specs
            ],
            drop_first=("context", "provider", "status"),
        ),
    )


@app.command("show")
def show(
    ctx: typer.Context,
    model_id: Annotated[str, typer.Argument(help="The model id, e.g. gpt-4o-2024-08-06.")],
    as_json: JsonOption = False,
) -> None:
    """Show one model: catalog facts, and its priors next to what usage has measured.

    \b
    Example:
      modelctl models show gpt-4o-2024-08-06
    """
    from modelctl.services.catalog import model_report

    report = model_report(store_from(ctx), model_id)

    def table() -> None:
        facts = report["model"]
        print_table(["field", "value"], [(k, v) for k, v in facts.items() if k not in ("capabilities",)]
                    + [("capabilities", ", ".join(facts["capabilities"]))], title=model_id)
        print_table(["figure", "prior (catalog)", "measured (usage)"],
                    [(name, row["prior"], row["measured"]) for name, row in report["performance"].items()],
                    title=f"performance over {report['measured_calls']} recorded calls")

    emit(report, as_json=as_json, table=table)


@app.command("import")
def import_(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(help="YAML or JSON in the catalog schema, or a LiteLLM price map.")],
    fmt: Annotated[str, typer.Option("--format", help="auto (YAML/JSON by content), yaml, json, or litellm.")] = "auto",
    skip_invalid: Annotated[bool, typer.Option("--skip-invalid",
                                               help="Import the valid entries and report the rest.")] = False,
    dry_run: DryRunOption = False,
    as_json: JsonOption = False,
) -> None:
    """Add or update models from a file (upsert by model_id); a bad entry changes nothing.

    \b
    Example:
      modelctl models import prices.json --format litellm --skip-invalid
    """
    from modelctl.services.catalog import import_models

    report = import_models(store_from(ctx), file, fmt=fmt, skip_invalid=skip_invalid, dry_run=dry_run)
    if as_json:
        emit(report.as_dict(), as_json=True, table=lambda: None)
        return
    verb = "would import" if dry_run else "imported"
    say(f"{verb}: {len(report.created)} new, {len(report.updated)} updated, {report.unchanged} unchanged, "
        f"{len(report.skipped)} skipped")
    for line in report.skipped[:20]:
        say(f"  skipped {line}")


@app.command("set-status")
def set_status(
    ctx: typer.Context,
    model_id: Annotated[str, typer.Argument(help="The model id.")],
    status: Annotated[str, typer.Argument(help="candidate, stable, deprecated, disabled or retired.")],
) -> None:
    """Change a model's lifecycle status (audited). Only stable and deprecated models are routed to.

    \b
    Example:
      modelctl models set-status gpt-4o-2024-08-06 deprecated
    """
    from modelctl.services.catalog import set_status as set_model_status

    before, after = set_model_status(store_from(ctx), model_id, status)
    say(f"{model_id}: {before.status} -> {after.status}")
