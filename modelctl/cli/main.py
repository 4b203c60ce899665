"""The `modelctl` command: a root app with noun groups, each in its own module."""

# No `from __future__ import annotations`: typer evaluates string annotations again each time it
# reads a signature (several times per command), real ones once, at import; the callback below
# runs before every command (see cli/route.py).
from typing import Annotated, ClassVar

import typer

from modelctl import __version__
from modelctl.cli.common import LazyGroup, new_app


class Commands(LazyGroup):
    """Every command, in the order `modelctl -h` lists them; each module is imported on use."""

    lazy_commands: ClassVar[dict[str, tuple[str, str]]] = {
        "route": ("modelctl.cli.route", "route"),
        "classify": ("modelctl.cli.classify", "classify"),
        "run": ("modelctl.cli.run", "run"),
        "models": ("modelctl.cli.models", "app"),
        "providers": ("modelctl.cli.providers", "app"),
        "health": ("modelctl.cli.health", "health"),
        "usage": ("modelctl.cli.usage", "app"),
        "stats": ("modelctl.cli.usage", "stats"),
        "feedback": ("modelctl.cli.feedback", "feedback"),
        "eval": ("modelctl.cli.eval", "app"),
        "discover": ("modelctl.cli.discover", "discover"),
        "candidates": ("modelctl.cli.discover", "candidates"),
        "prices": ("modelctl.cli.prices", "app"),
        "promote": ("modelctl.cli.upgrade", "promote"),
        "rollback": ("modelctl.cli.upgrade", "rollback"),
        "upgrade": ("modelctl.cli.upgrade", "app"),
        "evaluations": ("modelctl.cli.upgrade", "evaluations"),
        "evaluate": ("modelctl.cli.evaluate", "evaluate"),
        "refiners": ("modelctl.cli.refiners", "app"),
        "audit": ("modelctl.cli.audit", "audit"),
        "metrics": ("modelctl.cli.metrics", "metrics"),
        "serve": ("modelctl.cli.serve", "serve"),
        "keys": ("modelctl.cli.keys", "app"),
        "init": ("modelctl.cli.db", "init"),
        "db": ("modelctl.cli.db", "app"),
    }


app = new_app(
    "modelctl: the control plane for the LLMs a team uses.\n\n"
    "Keeps the model catalog, classifies and routes queries with fallback chains, records cost and "
    "latency. State lives in one SQLite file (see `modelctl db path`), created on first use.",
    cls=Commands,
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


def run() -> None:
    """The console script. Ctrl-C inside a command is the group's to report (cli/common.py); this
    reports it the same way while typer is still building the commands."""
    from modelctl.cli.common import report_error
    from modelctl.errors import Interrupted

    try:
        app()
    except KeyboardInterrupt:
        raise SystemExit(report_error(Interrupted())) from None
