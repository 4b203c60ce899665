"""`modelctl init` and `modelctl db ...`: where the database is, and keeping its schema current."""

from __future__ import annotations

from typing import Annotated

import typer

from modelctl.cli.common import JsonOption, emit, new_app, print_json, print_table, say, store_from
from modelctl.errors import InvalidInput, ModelctlError

app = new_app("The database: its location, schema upgrades, consistency checks.")


def init(
    ctx: typer.Context,
    force_reseed: Annotated[bool, typer.Option("--force-reseed", help="Reload the bundled catalog and "
                                               "providers over the stored ones (statuses are kept).")] = False,
) -> None:
    """Create, migrate and seed the database (done automatically on first use), with its
    directory when that does not exist yet.

    \b
    Example:
      modelctl --db ~/projects/bot/modelctl.db init
    """
    from modelctl.services.catalog import seed_catalog
    from modelctl.services.database import open_database

    store = open_database((ctx.find_root().obj or {}).get("db"), create_parents=True)
    if force_reseed:
        changed = seed_catalog(store, action="reseed", reseed=True)
        say(f"reseeded {changed} models from the bundled catalog")
    say(f"database ready: {store.path or store.url}")


@app.command("path")
def path(ctx: typer.Context, as_json: JsonOption = False) -> None:
    """Print where the database is (it may not exist yet); a server's address without its credentials.

    \b
    Example:
      modelctl --db ~/projects/bot/modelctl.db db path --json
    """
    from modelctl.paths import database_url

    url = database_url((ctx.find_root().obj or {}).get("db"))
    scheme, _, rest = url.partition("://")
    file = url.removeprefix("sqlite:///") if url.startswith("sqlite:///") else None
    if as_json:
        print_json({"path": file, "url": f"{scheme}://{rest.split('@')[-1]}"})
    else:
        print(file or rest.split("@")[-1])


@app.command("upgrade")
def upgrade(ctx: typer.Context) -> None:
    """Migrate the schema to this version of modelctl (also done automatically when needed).

    \b
    Example:
      modelctl db upgrade
    """
    from modelctl.services.database import latest_schema

    store_from(ctx)
    say(f"schema at {latest_schema()}")


@app.command("check")
def check(ctx: typer.Context, as_json: JsonOption = False) -> None:
    """Check the database: integrity, schema version, references. Exits 1 on a problem.

    \b
    Example (cron or CI):
      modelctl db check --json
    """
    from modelctl.services.maintenance import check_database

    report = check_database(store_from(ctx, migrate=False))
    emit(report, as_json=as_json, table=lambda: print_table(
        ["check", "result"], [(name, value) for name, value in report["checks"].items()]))
    if not report["ok"]:
        raise typer.Exit(1)


@app.command("backup")
def backup(
    ctx: typer.Context,
    path: Annotated[str, typer.Argument(help="Where to write the copy (a new file, mode 0600).")],
    force: Annotated[bool, typer.Option("--force", help="Overwrite PATH if it exists.")] = False,
    as_json: JsonOption = False,
) -> None:
    """Copy the SQLite database while it is in use (online backup API); for PostgreSQL, name pg_dump.

    \b
    Example:
      modelctl db backup ~/backups/modelctl.db
    """
    from modelctl.services.maintenance import backup_database

    result = backup_database(store_from(ctx), path, force=force)
    if as_json:
        print_json(result)
        return
    say(f"backed up {result['source']} to {result['backup']} ({result['bytes']:,} bytes)")


@app.command("export")
def export(
    ctx: typer.Context,
    output: Annotated[str | None, typer.Option("--output", "-o", metavar="FILE",
                                               help="Write the JSON document here (a new file, mode 0600).")] = None,
    force: Annotated[bool, typer.Option("--force", help="Overwrite FILE if it exists.")] = False,
    as_json: JsonOption = False,
) -> None:
    """Export the catalog, providers, rollouts, gate results and audit log as one JSON document.

    With --json the document goes to stdout; with --output to FILE; otherwise a count per section.
    Like `db backup`, it leaves an existing FILE alone unless given --force.

    \b
    Example:
      modelctl db export --output modelctl-export.json
    """
    import json
    import os

    from modelctl.services.maintenance import export_database

    document = export_database(store_from(ctx))
    sections = [(name, len(rows)) for name, rows in document.items() if isinstance(rows, list)]
    if output:
        text = json.dumps(document, indent=2, ensure_ascii=False) + "\n"
        try:
            fd = os.open(output, os.O_WRONLY | os.O_CREAT | (os.O_TRUNC if force else os.O_EXCL), 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as stream:
                stream.write(text)
        except FileExistsError:
            raise InvalidInput(f"{output}: already exists; pass --force to overwrite it") from None
        except OSError as exc:
            raise ModelctlError(f"{output}: cannot write ({exc.strerror})") from None
        say(f"exported {', '.join(f'{n:,} {name}' for name, n in sections)} to {output}")
    elif as_json:
        print_json(document)
    else:
        print_table(["section", "rows"], sections)
        say("give --json (stdout) or --output FILE for the document itself")
