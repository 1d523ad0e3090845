"""The workspace: one DuckDB file, one writer at a time.

Why a lock file of our own: DuckDB already refuses a second writer, but with a
lock trace; `fcntl.flock` is released by the kernel even when the holder is
SIGKILLed, and the file tells the second process *which* PID holds it.

Writes are batched: rows are buffered and committed in one transaction per flush,
so a killed process loses only the rows not yet flushed and never leaves a half row.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import shutil
import sys
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from datagen.schema import MIGRATIONS, SCHEMA_VERSION, VERSION_TABLE
from datagen.store_health import (  # noqa: F401 - the errors and checks are re-exported: part of the store's API
    StoreDamaged,
    WorkspaceError,
    damage,
    damaged,
    expected_columns,
    is_damage,
    note_opened,
    own_tables,
)

DB_FILE = "cotmill.duckdb"
LOCK_FILE = "cotmill.lock"
DEFAULT_WORKSPACE = "cotmill-workspace"


_ARROW_TYPES = {
    "VARCHAR": pa.string(),
    "JSON": pa.string(),
    "INTEGER": pa.int32(),
    "BIGINT": pa.int64(),
    "DOUBLE": pa.float64(),
    "BOOLEAN": pa.bool_(),
    "TIMESTAMP": pa.timestamp("us"),
}


def resolve_workspace(workspace: str | os.PathLike | None) -> Path:
    return Path(workspace or os.environ.get("COTMILL_WORKSPACE") or DEFAULT_WORKSPACE)


def _holder(lock_path: Path) -> str:
    try:
        info = json.loads(lock_path.read_text() or "{}")
    except (OSError, ValueError):
        return "PID unknown"
    if "pid" not in info:
        return "PID unknown"
    return f"PID {info['pid']} ({info.get('command', '?')})"


@dataclass
class _Lock:
    path: Path
    fd: int

    @classmethod
    def acquire(cls, path: Path) -> _Lock:
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as e:
            raise WorkspaceError(f"cannot open workspace {path.parent}: {e.strerror}") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise WorkspaceError(f"workspace {path.parent} is in use by {_holder(path)}") from None
        os.ftruncate(fd, 0)
        command = " ".join([Path(sys.argv[0]).name, *sys.argv[1:]])[:200]
        os.write(fd, json.dumps({"pid": os.getpid(), "command": command}).encode())
        return cls(path, fd)

    def release(self) -> None:
        os.ftruncate(self.fd, 0)
        fcntl.flock(self.fd, fcntl.LOCK_UN)
        os.close(self.fd)


def _connect(root: Path, read_only: bool) -> duckdb.DuckDBPyConnection:
    """DuckDB's own errors, told in terms of the workspace."""
    db = root / DB_FILE
    try:
        con = duckdb.connect(str(db), read_only=read_only)
    except duckdb.Error as e:
        if is_damage(e):
            raise damaged(db, e, opened=False) from None
        if isinstance(e, duckdb.IOException) and "lock" in str(e).lower():
            raise _busy(root, read_only, e) from None
        raise WorkspaceError(f"cannot open workspace {root}: {e}") from None
    note_opened(db)
    return con


def _busy(root: Path, read_only: bool, error: duckdb.Error) -> WorkspaceError:
    # a writer here holds our lock file; anyone else (a notebook, a `cotmill sql`)
    # holds only DuckDB's lock, whose message names its PID
    holder = _holder(root / LOCK_FILE) if read_only else "PID unknown"
    if holder == "PID unknown":
        pid = re.search(r"PID (\d+)", str(error))
        holder = f"PID {pid.group(1)}" if pid else "another process"
    hint = "; DuckDB allows no readers while another process writes" if read_only else ""
    return WorkspaceError(f"workspace {root} is in use by {holder}{hint}")


class Store:
    """A connection to one workspace. Use `Store.open(w)` for writing (takes the
    lock, migrates) or `Store.open(w, read_only=True)` for queries."""

    def __init__(self, root: Path, con: duckdb.DuckDBPyConnection, lock: _Lock | None):
        self.root = root
        self.con = con
        self._lock = lock
        self._schemas: dict[str, dict[str, pa.DataType]] = {}

    @classmethod
    def open(cls, workspace=None, read_only: bool = False, create: bool = True, check: bool = True) -> Store:
        """`check=False` opens whatever is there, for `cotmill sql`, the tool to look
        into a damaged or hand-altered store: no version or table checks."""
        root = resolve_workspace(workspace)
        db = root / DB_FILE
        if read_only or not create:
            if not db.exists():
                raise WorkspaceError(f"no workspace at {root} (no {DB_FILE}); run `cotmill generate` first")
        if read_only:
            store = cls(root, _connect(root, read_only=True), None)
            store._prepare(check, migrate=False)
            return store
        try:
            root.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise WorkspaceError(f"cannot create workspace {root}: {e.strerror}") from None
        lock = _Lock.acquire(root / LOCK_FILE)
        try:
            store = cls(root, _connect(root, read_only=False), lock)
            store._prepare(check, migrate=True)
        except BaseException:
            lock.release()
            raise
        return store

    def _prepare(self, check: bool, migrate: bool) -> None:
        try:
            if check:
                current = self.version()
                self._check_version(current)
                self._check_tables(current)
            if migrate:
                self.migrate()
        except BaseException as e:
            self.con.close()
            found = damage(e)  # the header read, but a block of the catalog or schema_version did not
            if found is None:
                raise
            raise found from None

    def close(self) -> None:
        self.con.close()
        if self._lock:
            self._lock.release()
            self._lock = None

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # --- schema -----------------------------------------------------------------

    def version(self) -> int:
        exists = self.con.execute(
            "SELECT count(*) FROM information_schema.tables WHERE table_name = 'schema_version'"
        ).fetchall()[0][0]
        if not exists:
            return 0
        return self.con.execute("SELECT max(version) FROM schema_version").fetchall()[0][0] or 0

    def _check_version(self, current: int) -> None:
        if current > SCHEMA_VERSION:
            raise WorkspaceError(
                f"workspace {self.root} has schema version {current}, newer than this cotmill "
                f"understands ({SCHEMA_VERSION}); upgrade cotmill"
            )

    def _check_tables(self, version: int) -> None:
        """Every table and column that the applied migrations made is still there: one
        dropped by hand (`cotmill sql --write --force`) would otherwise fail each
        command somewhere inside with DuckDB's words."""
        have = set(
            self.con.execute(
                "SELECT table_name, column_name FROM duckdb_columns() "
                "WHERE database_name = current_database() AND schema_name = 'main'"
            ).fetchall()
        )
        tables = {table for table, _ in have}
        want = expected_columns(version)
        if version == 0:  # a new store, or one whose schema_version is gone
            want = {("schema_version", "version")} if tables & own_tables() else set()
        db = self.root / DB_FILE
        fix = ": cotmill's commands need it; restore the store from a backup or start a new workspace"
        missing = sorted({table for table, _ in want} - tables)
        if missing:
            raise WorkspaceError(f"store {db} has no table {', '.join(missing)} (dropped?){fix}")
        gone = sorted(f"{table}.{column}" for table, column in set(want) - have)
        if gone:
            raise WorkspaceError(f"store {db} has no column {', '.join(gone)} (dropped?){fix}")

    def migrate(self) -> int:
        current = self.version()
        self._check_version(current)
        if current == SCHEMA_VERSION:
            return current
        with self.transaction():
            self.con.execute(VERSION_TABLE)
            for number in range(current + 1, SCHEMA_VERSION + 1):
                for statement in MIGRATIONS[number - 1]:
                    self.con.execute(statement)
                self.con.execute("INSERT INTO schema_version (version) VALUES (?)", [number])
        return SCHEMA_VERSION

    # --- writes -----------------------------------------------------------------

    def insert_rows(self, table: str, rows: list[dict[str, Any]], mode: str = "IGNORE") -> None:
        """Insert rows in one statement; `mode` is IGNORE (keep existing rows with the
        same key), REPLACE, or APPEND (tables without a key)."""
        if not rows:
            return
        batch = pa.Table.from_pylist(rows, schema=self._arrow_schema(table, list(rows[0])))
        verb = "INSERT INTO" if mode == "APPEND" else f"INSERT OR {mode} INTO"
        self.con.register("_batch", batch)
        try:
            self.con.execute(f"{verb} {table} BY NAME SELECT * FROM _batch")
        except BaseException:
            # a failed insert aborts the transaction, and then unregister fails too: its
            # error must not mask the insert's (a damaged block, a full disk)
            try:
                self.con.unregister("_batch")
            except duckdb.Error:
                pass
            raise
        self.con.unregister("_batch")

    def insert_arrow(self, table: str, batch: pa.Table, mode: str = "IGNORE") -> int:
        """Insert an Arrow table's rows (cast to the table's column types) in one statement;
        the number inserted (with IGNORE: those whose key was not stored yet). ValueError
        names a column the table lacks or a value that does not cast."""
        try:
            batch = batch.cast(self._arrow_schema(table, batch.column_names))
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as e:
            raise ValueError(f"rows do not fit table {table}: {e}") from None
        verb = "INSERT INTO" if mode == "APPEND" else f"INSERT OR {mode} INTO"
        self.con.register("_arrow", batch)
        try:
            return self.con.execute(f"{verb} {table} BY NAME SELECT * FROM _arrow").fetchall()[0][0]
        finally:
            try:
                self.con.unregister("_arrow")
            except duckdb.Error:  # the transaction aborted: the insert's error is the one to see
                pass

    def _arrow_schema(self, table: str, columns: list[str]) -> pa.Schema:
        """The table's own column types, so a batch is typed by the table and not
        guessed from its first rows (an all-NULL column, a stray int in a text one)."""
        if table not in self._schemas:
            described = self.con.execute(f"DESCRIBE {table}").fetchall()
            self._schemas[table] = {name: _ARROW_TYPES.get(kind, pa.string()) for name, kind, *_ in described}
        known = self._schemas[table]
        unknown = [c for c in columns if c not in known]
        if unknown:
            raise ValueError(f"table {table} has no column(s) {', '.join(unknown)}")
        return pa.schema([(c, known[c]) for c in columns])

    def write_batch(self, batches: Iterable[tuple[str, list[dict], str]]) -> None:
        """Several inserts committed together: all or nothing."""
        with self.transaction():
            for table, rows, mode in batches:
                self.insert_rows(table, rows, mode)

    def write_completions(self, rows: list[dict]) -> None:
        """Completion rows (a later success replaces an earlier error row for the same id),
        each linked in `job_completions` to the job that wrote it: all or nothing."""
        links = [{"job": r.get("job"), "completion_id": r.get("completion_id")} for r in rows]
        self.write_batch([("completions", rows, "REPLACE"), ("job_completions", links, "IGNORE")])

    def link_completions(self, job: str, completion_ids: Iterable[str]) -> None:
        """Record that `job` covers these stored completions (reused from another job's run
        over the same requests: completion ids do not name the job)."""
        links = [{"job": job, "completion_id": cid} for cid in completion_ids]
        self.write_batch([("job_completions", links, "IGNORE")])

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """BEGIN ... COMMIT, rolled back on any error, without masking that error."""
        self.con.execute("BEGIN TRANSACTION")
        try:
            yield
            self.con.execute("COMMIT")
        except BaseException:
            self.rollback()
            raise

    # --- checkpoints -------------------------------------------------------------------
    # A commit that fails for lack of space fails alone; a checkpoint that fails for lack
    # of space invalidates the DuckDB instance, so every later statement (the job's own
    # status update included) fails too. A long writer therefore turns DuckDB's automatic
    # checkpoints off and checkpoints itself only where the disk has room for it.

    def defer_checkpoints(self) -> None:
        self.con.execute("SET checkpoint_threshold = '1TB'")

    def wal_bytes(self) -> int:
        try:
            return (self.root / f"{DB_FILE}.wal").stat().st_size
        except FileNotFoundError:
            return 0

    def checkpoint_if_room(self, margin: int = 16 << 20) -> bool:
        """Checkpoint when the free space exceeds twice the WAL plus `margin` (the data
        moves from the WAL into the file, then the WAL is truncated); else leave the rows
        in the WAL, where they are as safe, and say False."""
        if shutil.disk_usage(self.root).free < 2 * self.wal_bytes() + margin:
            return False
        self.con.execute("CHECKPOINT")
        return True

    def reconnect(self) -> None:
        """A new connection after DuckDB invalidated this one (a failed checkpoint); the
        workspace lock stays held. Opening replays the WAL."""
        try:
            self.con.close()
        except duckdb.Error:
            pass
        self.con = _connect(self.root, read_only=False)
        self.defer_checkpoints()

    def skip_checkpoint_on_close(self) -> None:
        """On a full disk the checkpoint at close would fail: the rows stay in the WAL."""
        try:
            self.con.execute("PRAGMA disable_checkpoint_on_shutdown")
        except duckdb.Error:
            pass

    def rollback(self) -> None:
        """Roll back the open transaction, if any: a COMMIT that failed (a full disk)
        has already ended it, and a second error must not mask the first."""
        try:
            self.con.execute("ROLLBACK")
        except duckdb.TransactionException:
            pass

    def existing_ids(self, table: str, column: str, ids: list[str], where: str = "TRUE") -> set[str]:
        """Which of `ids` are already in `table` (joined, not loaded whole)."""
        if not ids:
            return set()
        wanted = pa.table({"id": ids})
        self.con.register("_wanted", wanted)
        try:
            found = self.con.execute(
                f"SELECT t.{column} FROM {table} t JOIN _wanted w ON t.{column} = w.id WHERE {where}"
            ).fetchall()
        finally:
            self.con.unregister("_wanted")
        return {row[0] for row in found}

    def upsert_job(self, job: str, **fields: Any) -> None:
        row = {"job": job, **fields}
        if isinstance(row.get("config"), dict):
            row["config"] = json.dumps(row["config"], sort_keys=True, default=str)
        exists = self.con.execute("SELECT count(*) FROM jobs WHERE job = ?", [job]).fetchall()[0][0]
        if not exists:
            self.insert_rows("jobs", [row])
            return
        sets = ", ".join(f"{k} = ?" for k in fields)
        if sets:
            self.con.execute(f"UPDATE jobs SET {sets} WHERE job = ?", [*row_values(fields), job])


def in_job(completion_id: str = "c.completion_id") -> str:
    """SQL: the completion is one job `?` covers, stored by it or reused from another job's
    identical request (job_completions; completions.job names only the job that stored it)."""
    return f"{completion_id} IN (SELECT completion_id FROM job_completions WHERE job = ?)"


def row_values(fields: dict[str, Any]) -> list[Any]:
    return [json.dumps(v, sort_keys=True, default=str) if isinstance(v, dict) else v for v in fields.values()]
