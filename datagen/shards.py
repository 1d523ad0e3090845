"""Parquet shards: rows of one store table written by a process that must not open the
DuckDB file (a Ray worker, a Slurm array task, another machine), and ingested later by
the one process that holds it.

A shard is one Parquet file of one table's rows. Its schema's metadata holds a small
header under the key `cotmill.shard`: {"format": 1, "kind": <table>, ...}; `kind` says
which table its rows belong in: `verdicts` (verify) or `completions` (generate), each a
table with a primary key. Ingesting inserts the rows that are not stored yet (INSERT OR
IGNORE on the table's primary key): a shard ingested twice, or written twice by a
retried task, adds nothing the second time, and a row stored first is never replaced —
except a completion stored as an error row, which a successful reply replaces (the
rule of Store.write_completions); completions are linked to their job in
`job_completions` as they are ingested.

Shards are written under a temporary name and renamed into place, so a reader (the
driver, `cotmill ingest`, `cotmill sql` over `read_parquet('W/shards/**/*.parquet')`)
never sees half a file.
"""

from __future__ import annotations

import json
import os
import uuid
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from verifiers.errors import CotmillError

FORMAT = 1
HEADER_KEY = b"cotmill.shard"
SHARDS_DIR = "shards"  # under the workspace: shards/<stage>/<job or "all">/part-*.parquet
KINDS = (
    "verdicts",
    "completions",
)  # tables a shard may fill; each has a primary key, so ingest is idempotent


class ShardError(CotmillError, ValueError):
    """A file that is not a readable cotmill shard (named in the message)."""


def shard_dir(workspace: str | os.PathLike, stage: str, job: str | None) -> Path:
    # absolute: a Ray worker's working directory is not the driver's (`-w W` is relative)
    return Path(workspace).absolute() / SHARDS_DIR / stage / (job or "all")


def write_shard(path: str | os.PathLike, kind: str, table: pa.Table | list[dict], **header) -> Path:
    """Write `table` (an Arrow table or a list of row dicts) as a shard of `kind`; `header`:
    more fields for the header (stage, job, ...). Atomic: a temporary file renamed into place."""
    if kind not in KINDS:
        raise ShardError(f"unknown shard kind {kind!r}; use one of {', '.join(KINDS)}")
    if not isinstance(table, pa.Table):
        table = pa.Table.from_pylist(table)
    meta = {"format": FORMAT, "kind": kind, **header}
    table = table.replace_schema_metadata({**(table.schema.metadata or {}), HEADER_KEY: json.dumps(meta)})
    return write_parquet(path, table)


def write_parquet(path: str | os.PathLike, table: pa.Table) -> Path:
    """Write `table` as the Parquet file `path` under a temporary name, then rename it into
    place: a reader never sees half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
    pq.write_table(table, tmp)
    os.replace(tmp, path)
    return path


def read_header(path: str | os.PathLike) -> dict:
    """The shard's header; ShardError for a file that is not a cotmill shard."""
    try:
        metadata = pq.read_schema(path).metadata or {}
    except (OSError, pa.ArrowException) as e:
        raise ShardError(f"{path}: not a readable Parquet file ({e})") from None
    if HEADER_KEY not in metadata:
        raise ShardError(
            f"{path}: a Parquet file without a cotmill shard header (key {HEADER_KEY.decode()!r})"
        )
    try:
        header = json.loads(metadata[HEADER_KEY])
    except ValueError:
        raise ShardError(f"{path}: its cotmill shard header is not JSON") from None
    if header.get("format") != FORMAT:
        raise ShardError(f"{path}: shard format {header.get('format')!r}; this cotmill reads format {FORMAT}")
    if header.get("kind") not in KINDS:
        raise ShardError(
            f"{path}: unknown shard kind {header.get('kind')!r}; this cotmill reads {', '.join(KINDS)}"
        )
    return header


def find_shards(paths) -> list[Path]:
    """Shard files among `paths`: each a file, or a directory searched for *.parquet (the
    temporary files of a write in progress are hidden and skipped). A path that does not
    exist is a ShardError naming it."""
    found: list[Path] = []
    for given in paths:
        path = Path(given)
        if path.is_dir():
            found.extend(p for p in sorted(path.rglob("*.parquet")) if not p.name.startswith("."))
        elif path.is_file():
            found.append(path)
        else:
            raise ShardError(f"{path}: no such file or directory")
    return found


def ingest_shard(store, path: str | os.PathLike) -> int:
    """Insert the shard's rows that its table lacks, in one transaction; the number added."""
    return insert_shard(store, path, *read_shard(path))


def read_shard(path: str | os.PathLike) -> tuple[str, pa.Table]:
    """(the shard's kind, its rows without the header)."""
    kind = read_header(path)["kind"]
    try:
        table = pq.read_table(path)
    except (OSError, pa.ArrowException) as e:
        raise ShardError(f"{path}: cannot read ({e})") from None
    return kind, table.replace_schema_metadata(None)


def insert_shard(store, path: str | os.PathLike, kind: str, table: pa.Table) -> int:
    """Insert the rows `read_shard(path)` gave that the store lacks, in one transaction; the
    number added (a caller that also reads the rows, as generate's driver counts them, reads
    the file once)."""
    try:
        with store.transaction():
            if kind == "completions":
                return _insert_completions(store, table)
            return store.insert_arrow(kind, table, "IGNORE")
    except ValueError as e:  # a column the table lacks, a value of the wrong type
        raise ShardError(f"{path}: {e}") from None


def _insert_completions(store, table: pa.Table) -> int:
    """Completion rows a stored success does not already cover (an error row is replaced),
    each linked to its job; the number inserted or replaced."""
    try:
        table = table.cast(store._arrow_schema("completions", table.column_names))
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as e:
        raise ValueError(f"rows do not fit table completions: {e}") from None
    store.con.register("_shard", table)
    try:
        added = store.con.execute(
            "INSERT OR REPLACE INTO completions BY NAME SELECT * FROM _shard s WHERE NOT EXISTS "
            "(SELECT 1 FROM completions c WHERE c.completion_id = s.completion_id AND c.error IS NULL)"
        ).fetchall()[0][0]
        store.con.execute(
            "INSERT OR IGNORE INTO job_completions BY NAME SELECT job, completion_id FROM _shard"
        )
        return added
    finally:
        try:
            store.con.unregister("_shard")
        except duckdb.Error:  # the transaction aborted: the insert's error is the one to see
            pass


def ingest(store, paths, remove: bool = False) -> tuple[int, int]:
    """Ingest every shard among `paths` (files or directories): (shards read, rows added).
    `remove`: delete each shard once its rows are committed."""
    shards = find_shards(paths)
    added = 0
    for path in shards:
        added += ingest_shard(store, path)
        if remove:
            path.unlink(missing_ok=True)
    return len(shards), added
