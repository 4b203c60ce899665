"""The private file between the two passes of `usage import`: checked rows, in batches.

Pass one writes each batch's rows, its last line number and its roll-up groups here; pass two
commits the batches into the store one by one. A SQLite file rather than a serialised stream,
so that on SQLite pass two copies a batch inside the database engine (INSERT ... SELECT from the
attached file) instead of decoding every row into Python and binding it again: that is 40% of
what an insert costs. It lives in a private temporary directory and is never shared, so it is
written without a journal.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from pathlib import Path
from typing import NamedTuple

import msgspec

from modelctl.store.usage import USAGE_COLUMNS, Rollups

_COLUMNS = ", ".join(USAGE_COLUMNS)
# a batch's roll-up groups, hourly then daily: each group its key (5 texts) and then its sums
_GroupRows = list[tuple[str, str, str, str, str, int, int, int, int, float, float, float, int, int,
                        dict[int, int], dict[int, int]]]


class Batch(NamedTuple):
    last_line: int
    rowids: tuple[int, int]  # its rows in the file's `usage`: rowid > first and <= second
    rollups: Rollups


@contextmanager
def writing(path: Path) -> Iterator[Callable[[list[tuple], int, Rollups], None]]:
    """A function that appends one batch (rows in USAGE_COLUMNS order, last line, roll-ups)."""
    encode = msgspec.msgpack.Encoder().encode
    insert = f"INSERT INTO usage VALUES ({', '.join(['?'] * len(USAGE_COLUMNS))})"
    written = 0
    with closing(sqlite3.connect(path, isolation_level=None)) as db:
        db.execute("PRAGMA journal_mode=OFF")
        db.execute("PRAGMA synchronous=OFF")
        db.execute(f"CREATE TABLE usage ({_COLUMNS})")  # untyped columns: values stay as bound
        db.execute("CREATE TABLE batch (last_line INTEGER, last_rowid INTEGER, rollups BLOB)")
        db.execute("BEGIN")

        def write(rows: list[tuple], last_line: int, rollups: Rollups) -> None:
            nonlocal written
            db.executemany(insert, rows)
            written += len(rows)  # a fresh table with no deletes numbers its rows 1, 2, 3, ...
            hourly, daily = ([(*key, *sums) for key, sums in groups.items()] for groups in rollups)
            db.execute("INSERT INTO batch VALUES (?, ?, ?)", (last_line, written, encode((hourly, daily))))

        yield write
        db.execute("COMMIT")


def batches(path: Path) -> Iterator[Batch]:
    """Every batch written to the file, in order. Each is read whole (fetchall) before it is
    yielded, so no lock on the file is held while the store copies from it."""
    decode = msgspec.msgpack.Decoder(tuple[_GroupRows, _GroupRows]).decode
    with closing(sqlite3.connect(path)) as db:
        first, number = 0, 1
        select = "SELECT last_line, last_rowid, rollups FROM batch WHERE rowid = ?"
        while found := db.execute(select, (number,)).fetchall():
            last_line, last_rowid, blob = found[0]
            hourly, daily = decode(blob)
            yield Batch(last_line, (first, last_rowid), (_by_group(hourly), _by_group(daily)))
            first, number = last_rowid, number + 1


def select_rows(schema: str) -> str:
    """SELECT of one batch's rows (parameters: its rowids) from the file attached as `schema`."""
    return f"SELECT {_COLUMNS} FROM {schema}.usage WHERE rowid > ? AND rowid <= ?"


def _by_group(groups: _GroupRows) -> dict[tuple, list]:
    """Decoded roll-up rows keyed by their group (the first five fields), as Rollups holds them."""
    return {group[:5]: list(group[5:]) for group in groups}
