"""`modelctl health`: can each provider be called, is anything cooling down, how have calls gone."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from modelctl.cli.common import JsonOption, emit, print_table, say, store_from


def health(
    ctx: typer.Context,
    probe: Annotated[bool, typer.Option("--probe", help="Also make a live list-models call to each provider "
                                        "whose key is set (short timeout); the outcome is recorded.")] = False,
    strict: Annotated[bool, typer.Option("--strict", help="Exit 1 if any provider that can be called is down "
                                         "(a provider needing no key, like ollama, always can).")] = False,
    as_json: JsonOption = False,
) -> None:
    """Per provider: key set, cooldowns, success rate and p95 latency over the last 24 h, live probe.

    \b
    Example (cron or CI):
      modelctl health --probe --strict
    """
    from modelctl import clock
    from modelctl.services.health import health_report

    rows = health_report(store_from(ctx), probe=probe, now=clock.now())

    def table() -> None:
        def probe_text(row: dict[str, Any]) -> str:
            result = row.get("probe")
            if result is None:
                return ""
            if result["ok"]:
                return f"ok, {result['models']} models in {result['latency_ms']:.0f} ms"
            return f"{result['error_kind']}: {result['error']}"

        print_table(
            ["provider", "status", "key", "cooldown until", "models resting", "calls 24h", "success",
             "p95 ms", "probe"],
            [(r["name"], r["status"], "not needed" if r["key_env"] is None else
              ("set" if r["key_set"] else f"{r['key_env']} not set"), r["cooldown_until"],
              ", ".join(r["models_cooling_down"]), r["calls"],
              "" if r["success_rate"] is None else f"{r['success_rate']:.1%}",
              "" if r["p95_latency_ms"] is None else f"{r['p95_latency_ms']:.0f}", probe_text(r))
             for r in rows],
            drop_first=("cooldown until", "models resting"),
        )

    emit(rows, as_json=as_json, table=table)
    down = [r["name"] for r in rows if r["status"] == "down"]
    if strict and down:
        say(f"down: {', '.join(down)}")
        raise typer.Exit(1)
