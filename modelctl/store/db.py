"""The one way to open the database: `open_store(url)`.

Reads go through `Store.read`, which for SQLite uses the standard library's sqlite3 so the fast
commands (`route`, `classify`, `models list`) never import SQLAlchemy; writes go through the
SQLAlchemy engine, created on first use. When the schema is current, opening imports neither
SQLAlchemy nor alembic; when it is behind, migrations run (in-process, under a lock) first.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import date, datetime
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from modelctl.errors import InvalidInput, StoreError
from modelctl.paths import database_url, default_database_path

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection, Engine


def schema_history() -> tuple[str, ...]:
    """Revision ids in order, read from the migration file names (NNNN_what.py) without alembic.

    Migrations are numbered and linear; a test checks this agrees with alembic's own head.
    """
    from modelctl.paths import migrations_dir

    names = (p.name for p in (migrations_dir() / "versions").glob("[0-9][0-9][0-9][0-9]_*.py"))
    return tuple(sorted(name[:4] for name in names))


SQLITE_PRAGMAS = (
    "PRAGMA journal_mode=WAL",
    "PRAGMA foreign_keys=ON",
    "PRAGMA synchronous=NORMAL",
)
# How long one SQLite statement waits for another process's lock (sqlite3's busy handler), and
# how long a write transaction keeps trying to start, with backoff, before giving up.
BUSY_TIMEOUT_S = 15.0
WRITE_PATIENCE_S = 120.0


def _begin_immediate(dbapi_conn: sqlite3.Connection) -> None:
    """BEGIN IMMEDIATE, tried again with jittered backoff when the busy timeout runs out.

    SQLite's busy handler polls, so under several busy writers one process can lose every race
    for a whole timeout; retrying at the BEGIN is safe because no work has been done yet.
    """
    deadline = time.monotonic() + WRITE_PATIENCE_S
    delay = 0.05
    while True:
        try:
            dbapi_conn.execute("BEGIN IMMEDIATE")
            return
        except sqlite3.OperationalError as exc:
            if not _is_busy(exc) or time.monotonic() + delay > deadline:
                raise
        import random

        time.sleep(delay * random.uniform(0.5, 1.5))
        delay = min(delay * 2, 2.0)


def _is_busy(exc: BaseException) -> bool:
    text = str(exc).lower()
    return "locked" in text or "busy" in text


def _as_sqlite_rows(rows: Iterable[Sequence[Any]]) -> list[tuple]:
    """PostgreSQL rows as sqlite3 returns the same columns: timestamps in `sql_ts` text, dates
    ISO, booleans 0/1, JSON as text, whole-number sums as int."""
    from decimal import Decimal

    def value(v: Any) -> Any:
        if isinstance(v, datetime):
            return sql_ts(v)
        if isinstance(v, date):
            return v.isoformat()
        if isinstance(v, bool):
            return int(v)
        if isinstance(v, Decimal):
            return int(v) if v == v.to_integral_value() else float(v)
        if isinstance(v, (dict, list)):
            return json.dumps(v)
        return v

    return [tuple(map(value, row)) for row in rows]


def _sqlite_path(url: str) -> Path | None:
    if not url.startswith("sqlite"):
        return None
    rest = url.split(":///", 1)[1] if ":///" in url else ""
    if not rest or rest.startswith(":memory:"):
        raise StoreError(f"{url}: an in-memory database cannot be shared between commands; give a file path")
    return Path(rest.split("?", 1)[0])


def _fix_hint(path: Path) -> str:
    return (
        f"check that {path.parent} is writable, or choose another location with --db PATH "
        "or MODELCTL_DATABASE_URL"
    )


def _backend_engine(url: str) -> Engine:
    """The engine of a database server URL: PostgreSQL, the one server backend the store speaks,
    through an installed driver; anything else is refused in one line that names the fix."""
    from sqlalchemy import create_engine
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    scheme = url.split("://", 1)[0]
    postgres = "postgresql+psycopg://USER@HOST:PORT/DB (pip install 'modelctl[postgres]')"
    try:
        backend = make_url(url).get_backend_name()
    except ArgumentError:
        raise InvalidInput(f"{scheme}://...: not a database URL; give a file path or {postgres}") from None
    if backend != "postgresql":
        raise InvalidInput(f"{scheme}://...: {backend} is not supported; modelctl keeps its data in SQLite "
                           f"(give a file path) or PostgreSQL: {postgres}")
    try:
        return create_engine(url, pool_pre_ping=True)
    except ImportError as exc:
        raise StoreError(f"{scheme}://...: the database driver {exc.name or ''} is not installed; "
                         f"use {postgres}") from None


class Store:
    """A handle on one database. Cheap to create; connections are opened lazily."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.path = _sqlite_path(url)
        # SQLite takes one writer at a time, and a writer that finds it taken sleeps and polls
        # (1, 2, 5 ... 100 ms): writers of one process queue here instead, each starting as the
        # last commits (`bench_gateway.py`: a usage row per gateway call, hundreds a second).
        self._writer = threading.RLock() if self.path is not None else contextlib.nullcontext()

    @cached_property
    def read_only(self) -> str | None:
        """Why an existing SQLite database cannot be written (read-only storage, permissions), or
        None. Reads then open it read-only; writes fail saying so."""
        if self.path is None or not self.path.exists():
            return None
        if not os.access(self.path, os.W_OK):
            return f"{self.path} is read-only"
        if not os.access(self.path.parent, os.W_OK):
            return f"its directory {self.path.parent} is read-only"
        return None

    def open_sqlite(self) -> sqlite3.Connection:
        """A new sqlite3 connection in autocommit mode; read-only when the database is (`read_only`)."""
        path = self.path
        assert path is not None, "open_sqlite is only asked of a SQLite store"
        target: str | Path = path
        uri = False
        if self.read_only:
            from urllib.parse import quote

            # Nothing can write it, so nothing can change it: immutable needs no -shm file (which
            # read-only storage could not hold); a WAL left behind by a crash is read with mode=ro.
            wal = path.with_name(path.name + "-wal")
            target, uri = f"file:{quote(str(path))}?{'mode=ro' if wal.exists() else 'immutable=1'}", True
        return sqlite3.connect(target, timeout=BUSY_TIMEOUT_S, isolation_level=None, check_same_thread=False,
                               uri=uri)

    @property
    def is_sqlite(self) -> bool:
        return self.path is not None

    @property
    def dialect(self) -> str:
        return "sqlite" if self.is_sqlite else self.engine.dialect.name

    # ----------------------------------------------------------------- fast read path

    @cached_property
    def _sqlite(self) -> sqlite3.Connection:
        try:
            conn = self.open_sqlite()
            conn.execute("PRAGMA query_only=ON")
        except sqlite3.Error as exc:
            raise self._translate(exc) from None
        return conn

    def read(self, sql: str, params: Mapping[str, Any] | None = None) -> list[tuple]:
        """Run a SELECT with `:name` parameters; the same SQL text serves both backends, and the
        rows hold the same Python values on both (what sqlite3 returns)."""
        if self.is_sqlite:
            try:
                return self._sqlite.execute(sql, dict(params or {})).fetchall()
            except sqlite3.Error as exc:
                raise self._translate(exc) from None
        from sqlalchemy import text
        from sqlalchemy.exc import SQLAlchemyError

        try:
            with self.engine.connect() as conn:
                return _as_sqlite_rows(conn.execute(text(sql), dict(params or {})))
        except SQLAlchemyError as exc:
            raise self._translate(getattr(exc, "orig", exc)) from None

    def schema_version(self) -> str | None:
        try:
            rows = self.read("SELECT version_num FROM alembic_version")
        except StoreError as exc:
            if "no such table" in str(exc) or "does not exist" in str(exc):
                return None
            raise
        return rows[0][0] if rows else None

    # ----------------------------------------------------------------- write path

    @cached_property
    def engine(self) -> Engine:
        if not self.is_sqlite:
            return _backend_engine(self.url)
        from sqlalchemy import create_engine, event

        if self.read_only:  # reads work (export, backup); a write fails in _translate's words
            return create_engine("sqlite://", creator=self.open_sqlite)
        engine = create_engine(self.url, connect_args={"timeout": BUSY_TIMEOUT_S})

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn: sqlite3.Connection, _record: object) -> None:
            dbapi_conn.isolation_level = None  # we issue BEGIN ourselves, below
            for pragma in SQLITE_PRAGMAS:
                dbapi_conn.execute(pragma)

        @event.listens_for(engine, "begin")
        def _begin(conn: Connection) -> None:
            # Take the write lock up front: a deferred BEGIN that later upgrades to a write
            # can fail with "database is locked" without waiting for the busy timeout.
            _begin_immediate(sqlite_driver(conn))

        return engine

    @contextlib.contextmanager
    def write(self) -> Iterator[Connection]:
        """One transaction on a SQLAlchemy connection; errors become StoreError with the fix."""
        from sqlalchemy.exc import SQLAlchemyError

        try:
            with self._writer, self.engine.begin() as conn:
                yield conn
        except (SQLAlchemyError, sqlite3.Error) as exc:
            raise self._translate(getattr(exc, "orig", exc)) from None

    @contextlib.contextmanager
    def connection(self) -> Iterator[Connection]:
        """One connection for work that spans several transactions (each `conn.begin()`)."""
        from sqlalchemy.exc import SQLAlchemyError

        try:
            with self.engine.connect() as conn:
                yield conn
        except (SQLAlchemyError, sqlite3.Error) as exc:
            raise self._translate(getattr(exc, "orig", exc)) from None

    def dispose(self) -> None:
        if "_sqlite" in self.__dict__:
            self._sqlite.close()
            del self.__dict__["_sqlite"]
        if "engine" in self.__dict__:
            self.engine.dispose()
            del self.__dict__["engine"]

    # ----------------------------------------------------------------- errors

    def _translate(self, exc: BaseException) -> StoreError:
        text = str(exc).strip() or type(exc).__name__
        where = str(self.path) if self.path else self.url.split("@")[-1]
        lowered = text.lower()
        if "file is not a database" in lowered or "malformed" in lowered:
            return StoreError(
                f"{where}: the database file is corrupt ({text}); restore a backup, or move it "
                "aside and run `modelctl init` to start a new one"
            )
        if self.path and ("unable to open" in lowered or "readonly" in lowered or "read-only" in lowered):
            if self.read_only:
                return StoreError(
                    f"{where}: this command writes to the database, and {self.read_only}; make it writable, "
                    "or copy it somewhere writable (`modelctl db backup COPY`) and use that with --db COPY"
                )
            return StoreError(f"{where}: cannot write the database ({text}); {_fix_hint(self.path)}")
        if "locked" in lowered or "busy" in lowered:
            return StoreError(f"{where}: the database stayed locked by another modelctl process ({text}); try again")
        return StoreError(f"{where}: database error: {text}")


def _create_sqlite_file(path: Path, *, create_parents: bool) -> None:
    """Create the file 0600 before SQLite does, so the key-free but private data stays private.

    Its directory is created only when asked (`init`) or for the default location: a mistyped
    `--db` path should not silently start a new, empty history somewhere else.
    """
    if not path.parent.is_dir() and not create_parents:
        raise StoreError(
            f"{path.parent}: no such directory for the database {path.name}; create it, or run "
            f"`modelctl --db {path} init` to create it, or choose another location with --db PATH"
        )
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(path, os.O_CREAT | os.O_WRONLY, 0o600)
        os.close(fd)
    except OSError as exc:
        raise StoreError(f"{path}: cannot create the database ({exc.strerror}); {_fix_hint(path)}") from None


@contextlib.contextmanager
def _migration_lock(store: Store) -> Iterator[None]:
    """Serialise migrations between processes: a lock file beside a SQLite database, a session
    advisory lock on PostgreSQL (hosts share no file system)."""
    path = store.path
    if path is None:  # a database server
        with store.connection() as conn:
            conn.exec_driver_sql("SELECT pg_advisory_lock(hashtext('modelctl:migrate'))")
            try:
                yield
            finally:
                conn.exec_driver_sql("SELECT pg_advisory_unlock(hashtext('modelctl:migrate'))")
        return
    import fcntl

    lock_path = path.with_name(path.name + ".lock")
    try:
        fd = os.open(lock_path, os.O_CREAT | os.O_RDWR, 0o600)
    except OSError as exc:
        raise StoreError(f"{lock_path}: cannot create the lock file ({exc.strerror}); {_fix_hint(path)}") from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def open_store(url: str | None = None, *, migrate: bool = True, create_parents: bool = False,
               seed: Callable[[Connection], object] | None = None) -> Store:
    """Open (creating and migrating on first use) the database at `url`.

    `seed(conn)` fills a database that had no schema, in the transaction that creates it: the
    store knows no catalog, so the service layer passes it (services/database.py).
    `migrate=False` only checks, and raises StoreError naming `modelctl db upgrade` when behind.
    `create_parents` creates a new SQLite file's missing directories (the default location's
    always are).
    """
    store = Store(database_url(url))
    if store.path is not None and not store.path.exists():
        if not migrate:
            raise StoreError(f"{store.path}: no database here yet; run `modelctl init`")
        _create_sqlite_file(store.path, create_parents=create_parents or store.path == default_database_path())
    version = store.schema_version()
    history = schema_history()
    if version == history[-1]:
        return store
    if version is not None and version not in history:
        raise StoreError(
            f"{store.path or store.url}: schema {version} is newer than this modelctl knows "
            f"({history[-1]}); upgrade modelctl"
        )
    if not migrate:
        raise StoreError(f"{store.path or store.url}: schema {version or 'empty'} is behind {history[-1]}; "
                         "run `modelctl db upgrade`")
    if store.read_only:
        raise StoreError(f"{store.path}: schema {version or 'empty'} is behind {history[-1]}, and "
                         f"{store.read_only}; make it writable and run `modelctl db upgrade`")
    from modelctl.store.migrate import upgrade_to_head

    with _migration_lock(store):
        upgrade_to_head(store, seed=seed)
    return store


def sql_ts(value: datetime) -> str:
    """The one text form of a stored timestamp (what SQLAlchemy writes on SQLite): sortable as text."""
    return value.isoformat(" ", "microseconds")


def sqlite_driver(conn: Connection) -> sqlite3.Connection:
    """The sqlite3 connection under a SQLAlchemy connection to a SQLite store: for what SQLAlchemy
    does not say itself (BEGIN IMMEDIATE, pragmas, ATTACH). Only asked of a SQLite store's engine."""
    return cast("sqlite3.Connection", conn.connection.dbapi_connection)


def rows_as_dicts(columns: Sequence[str], rows: Sequence[tuple]) -> list[dict[str, Any]]:
    return [dict(zip(columns, row, strict=True)) for row in rows]
