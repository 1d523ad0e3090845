"""The store's health: damage told as damage, and the tables cotmill needs.

DuckDB reports a damaged file in its own words, often only when a command reads the
spoiled block, and a table dropped by hand as a Catalog Error deep inside a command.
This module turns both into one line that says what happened and what to do.
"""

from __future__ import annotations

import functools
import re
from pathlib import Path

import duckdb

from datagen.schema import MIGRATIONS, SCHEMA_VERSION, VERSION_TABLE
from verifiers.errors import CotmillError


class WorkspaceError(CotmillError, RuntimeError):
    """A workspace cannot be opened: busy, missing or from a newer cotmill."""


class StoreDamaged(WorkspaceError):
    """The DuckDB file is not what DuckDB wrote: truncated, or overwritten mid-file."""


# DuckDB's words for damage: a block whose checksum fails, a file shorter than its
# own block list, a header that is not DuckDB's, a write-ahead log that cannot replay
_DAMAGE_SIGNS = (
    "corrupt",
    "checksum",
    "could not read enough bytes",
    "not a valid duckdb database file",
    "replaying wal",
)
# the database files this process opened: a checksum error names no file, so a
# damaged block met in the middle of a command is traced back to the store it read
_opened: dict[Path, None] = {}  # an ordered set, the latest last


def is_damage(error: BaseException) -> bool:
    if not isinstance(error, duckdb.Error):
        return False
    text = str(error).lower()
    return isinstance(error, duckdb.SerializationException) or any(s in text for s in _DAMAGE_SIGNS)


def damaged(db: Path, error: BaseException, opened: bool) -> StoreDamaged:
    detail = str(error).strip().splitlines()[0]
    if "WAL" in detail:
        return StoreDamaged(
            f"store {db} is damaged ({detail}): its write-ahead log {db}.wal cannot be replayed; "
            "move that file aside to open the store without the last writes it holds"
        )
    if not opened:
        return StoreDamaged(
            f"store {db} is damaged ({detail}) and cannot be opened: nothing in it can be read; "
            "restore it from a backup or start a new workspace"
        )
    return StoreDamaged(
        f"store {db} is damaged ({detail}): copy out what is still readable one table at a time, e.g. "
        f'`cotmill sql -w {db.parent} "select * from problems" --format parquet --out problems.parquet` '
        "(a table that fails to copy is damaged), then restore the store from a backup or start a new workspace"
    )


def note_opened(db: Path) -> None:
    _opened.pop(db, None)
    _opened[db] = None  # the latest last


def damage(error: BaseException) -> StoreDamaged | None:
    """The StoreDamaged that a DuckDB error raised mid-command means, or None when
    it is no sign of damage to a store this process opened."""
    if not is_damage(error) or not _opened:
        return None
    named = re.search(r'file "([^"]+)"', str(error))
    if not named:
        return damaged(next(reversed(_opened)), error, opened=True)
    path = Path(named.group(1).removesuffix(".wal")).resolve()
    db = next((db for db in _opened if db.resolve() == path), None)
    return damaged(db, error, opened=True) if db else None  # another file: not ours to name


@functools.lru_cache(maxsize=8)
def _columns_made_by(migrations: tuple[tuple[str, ...], ...]) -> frozenset[tuple[str, str]]:
    # DuckDB itself says what the migrations make: no parsing of our own SQL
    con = duckdb.connect(":memory:")
    try:
        con.execute(VERSION_TABLE)
        for migration in migrations:
            for statement in migration:
                con.execute(statement)
        return frozenset(
            con.execute(
                "SELECT table_name, column_name FROM duckdb_columns() "
                "WHERE database_name = current_database() AND schema_name = 'main'"
            ).fetchall()
        )
    finally:
        con.close()


def expected_columns(version: int) -> frozenset[tuple[str, str]]:
    """(table, column) of every table and view that migrations 1..version make."""
    return _columns_made_by(tuple(tuple(m) for m in MIGRATIONS[:version]))


def own_tables() -> frozenset[str]:
    """The tables and views that cotmill makes and its commands need."""
    return frozenset(table for table, _ in expected_columns(SCHEMA_VERSION))
