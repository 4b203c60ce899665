"""The `modelctl` command: a root app with noun groups, each in its own module."""

from __future__ import annotations

from typing import Annotated

import typer

from modelctl import __version__
from modelctl.cli import audit, classify, db, discover, models, providers, route, upgrade, usage
from modelctl.cli import health
from modelctl.cli import run as run_cmd
from modelctl.cli.common import new_app

app = new_app(
    "modelctl: the control plane for the LLMs a team uses.\n\n"
    "Keeps the model catalog, classifies and routes queries with fallback chains, records cost and "
    "latency. State lives in one SQLite file (see `modelctl db path`), created on first use."
)


def _version(value: bool) -> None:
    if value:
        print(f"modelctl {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    ctx: typer.Context,
    db_path: Annotated[
        str | None,
        typer.Option("--db", metavar="PATH|URL", help="Database file or SQLAlchemy URL "
                     "(default: $MODELCTL_DATABASE_URL, else a file in the user data directory)."),
    ] = None,
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit.")
    ] = False,
) -> None:
    ctx.obj = {"db": db_path}


app.add_typer(models.app, name="models")
app.add_typer(providers.app, name="providers")
app.add_typer(usage.app, name="usage")
app.add_typer(db.app, name="db")
app.command("init")(db.init)
app.command("stats")(usage.stats)
app.command("audit")(audit.audit)
app.command("classify")(classify.classify)
app.command("route")(route.route)
app.add_typer(route.eval_app, name="eval")
app.command("promote")(upgrade.promote)
app.command("rollback")(upgrade.rollback)
app.command("evaluations")(upgrade.evaluations)
app.add_typer(upgrade.app, name="upgrade")
app.command("run")(run_cmd.run)
app.command("health")(health.health)
app.command("discover")(discover.discover)
app.command("candidates")(discover.candidates)
app.add_typer(discover.prices_app, name="prices")


def run() -> None:
    app()
