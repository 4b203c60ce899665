"""`modelctl keys`: client keys for the HTTP API (`serve`), each with an optional budget and rate."""

from __future__ import annotations

from typing import Annotated

import typer

from modelctl.cli.common import JsonOption, emit, new_app, print_json, print_table, say, store_from

app = new_app("Client keys for `modelctl serve`: who calls, what each may spend, and how often.")


@app.command("create")
def create(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="What the key is for (a team, a service); usage rows name it.")],
    budget_usd: Annotated[float | None, typer.Option("--budget-usd", min=0, metavar="N",
                          help="USD the key may spend per calendar month (UTC); past it, 429.")] = None,
    rate_limit: Annotated[float | None, typer.Option("--rate-limit", min=0.01, metavar="R",
                          help="Requests per second for this key, per server process.")] = None,
    as_json: JsonOption = False,
) -> None:
    """Create a key and print it once: only its hash is stored, so it cannot be shown again.

    Clients send it as `Authorization: Bearer <key>`. MODELCTL_API_TOKEN stays the admin token.

    \b
    Example:
      modelctl keys create search-team --budget-usd 200 --rate-limit 20
    """
    from modelctl.services.keys import create_key

    created = create_key(store_from(ctx), name, budget_usd=budget_usd, rate_limit=rate_limit)
    if as_json:
        print_json({**created.key.as_dict(), "key": created.secret})
        return
    print(created.secret)
    say(f"key {name!r} created; it is shown only now: store it where the client reads its secrets")


@app.command("list")
def list_(ctx: typer.Context, as_json: JsonOption = False) -> None:
    """Every key's name, budget, rate limit and state (never the key itself).

    \b
    Example:
      modelctl keys list --json
    """
    from modelctl.services.keys import list_keys

    keys = [key.as_dict() for key in list_keys(store_from(ctx))]
    emit(keys, as_json=as_json, table=lambda: print_table(
        ["name", "budget $/month", "rate /s", "created", "revoked"],
        [(k["name"], "-" if k["budget_usd"] is None else f"{k['budget_usd']:,.2f}",
          "-" if k["rate_limit"] is None else f"{k['rate_limit']:g}", k["created_at"][:16],
          (k["revoked_at"] or "-")[:16])
         for k in keys],
    ))


@app.command("revoke")
def revoke(ctx: typer.Context, name: Annotated[str, typer.Argument(help="The key's name.")],
           as_json: JsonOption = False) -> None:
    """Revoke a key at once, in every server process and host sharing the database.

    \b
    Example:
      modelctl keys revoke search-team
    """
    from modelctl.services.keys import revoke_key

    revoke_key(store_from(ctx), name)
    if as_json:
        print_json({"revoked": name})
        return
    say(f"key {name!r} revoked")
