"""Where modelctl keeps its files, decided from the environment each time (never at import).

`MODELCTL_HOME` moves everything (tests point it at a temp dir); otherwise the platform's user
data directory. `MODELCTL_DATABASE_URL` or `--db` override the database location alone.
"""

from __future__ import annotations

import functools
import getpass
import os
from contextvars import ContextVar
from pathlib import Path


def home_dir() -> Path:
    explicit = os.environ.get("MODELCTL_HOME")
    if explicit:
        return Path(explicit).expanduser()
    from platformdirs import user_data_dir

    return Path(user_data_dir("modelctl", appauthor=False))


def config_dir() -> Path:
    explicit = os.environ.get("MODELCTL_CONFIG_DIR")
    return Path(explicit).expanduser() if explicit else home_dir() / "config"


@functools.cache  # where the package lies never changes; every routing call asks
def bundled_config_dir() -> Path:
    """config/ inside the wheel, or at the repo root for an editable install."""
    package = Path(__file__).resolve().parent
    bundled = package / "_bundled" / "config"
    return bundled if bundled.is_dir() else package.parent / "config"


def migrations_dir() -> Path:
    """migrations/ inside the wheel, or at the repo root for an editable install."""
    package = Path(__file__).resolve().parent
    bundled = package / "_bundled" / "migrations"
    return bundled if bundled.is_dir() else package.parent / "migrations"


def config_path(name: str) -> Path:
    """The user's copy of a config file when there is one, else the bundled default."""
    user = config_dir() / name
    return user if user.is_file() else bundled_config_dir() / name


def default_database_path() -> Path:
    """<home>/modelctl.db: the one database location created with its directory on first use;
    a path the user names must be in a directory that exists."""
    return home_dir() / "modelctl.db"


def database_url(db: str | None = None) -> str:
    """`--db PATH` (or URL) > $MODELCTL_DATABASE_URL > <home>/modelctl.db."""
    if db:
        return db if "://" in db else f"sqlite:///{Path(db).expanduser().resolve()}"
    env = os.environ.get("MODELCTL_DATABASE_URL")
    if env:
        return env
    return f"sqlite:///{default_database_path()}"


# Who a server is acting for in this request ("token:admin", "key:NAME"): set by the HTTP API
# around a call, so the audit log names the caller rather than the server's OS user.
acting_for: ContextVar[str | None] = ContextVar("acting_for", default=None)


def actor() -> str:
    """Who to name in the audit log: the HTTP caller (`acting_for`), $MODELCTL_ACTOR, else the OS user."""
    explicit = acting_for.get() or os.environ.get("MODELCTL_ACTOR")
    if explicit:
        return explicit
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return f"uid:{os.getuid()}"
