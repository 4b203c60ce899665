"""A scratch database on a PostgreSQL server, for the tests and the benchmarks alike."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def scratch_database(server: str, prefix: str) -> Iterator[str]:
    """A new, empty database on `server` (a SQLAlchemy URL), dropped afterwards, connections and all."""
    import psycopg
    from sqlalchemy.engine import make_url

    base = make_url(server)
    admin = base.set(drivername="postgresql").render_as_string(hide_password=False)
    name = f"{prefix}_{uuid.uuid4().hex[:16]}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield base.set(database=name).render_as_string(hide_password=False)
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
