"""`cotmill ingest W2`: merge a whole workspace made elsewhere (a Slurm array task, another
machine ran `cotmill generate`/`verify` into a directory of its own) into this one.

The other store is ATTACHed read-only and its rows copied by INSERT ... SELECT inside
DuckDB, one transaction per workspace: nothing passes through Python, a failure adds
nothing, and the other workspace is never written to (its WAL, if any, is read, not replayed
into the file). Every table with a key is merged INSERT OR IGNORE, so a row this workspace
already holds is kept and ingesting twice adds nothing. Per table:

- problems, job_completions, verdicts, pseudo_labels, curation_marks, difficulty: rows
  whose key is new. The last four are derived from their workspace's rows (votes, curation,
  pass rates): after a merge, `cotmill curate` (and `verify --vote`) measure the merged rows.
- completions: new ids; and, as `Store.write_completions` does, a completion stored here
  as an error row is replaced by the other workspace's successful one.
- jobs: a job this workspace lacks is copied. A job both hold keeps this workspace's row
  (teacher, config, times) with its counts recounted over the merged rows: `requested` the
  greater of the two, `stored` the completions the job covers without an error (what a
  re-run would find done), `failed` what is still missing, and status `done` once nothing is.
- mixtures: a unit, the mixture row with its items: one this workspace lacks is copied
  whole, one of the same name is left as it is (never two mixtures' items under one name).
- rejects (no key): a unit per (job, source file): copied when this workspace has no
  rejects of that pair (a generate here over the same file made the same ones).
- runs (training and eval runs): a unit, the run row with its `metrics` and `evals` rows
  (tables without a key): a run this workspace lacks is copied whole, one it has is kept.
  Its `out` names a directory of the machine that ran it.

Not merged: `schema_version` (this workspace's own), `pipeline_stages` (which stages of
this workspace's `cotmill run` finished: the other's would make it skip stages over rows it
never processed), the `curated` view, and tables that are no part of cotmill's schema. Nor
are the other workspace's shards that it has not ingested: they are named as shards.

A workspace of an older schema is migrated in a temporary copy beside this workspace
(its own file is not touched); one of a newer schema is refused.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from datagen import shards
from datagen.schema import SCHEMA_VERSION
from datagen.store import DB_FILE, Store, WorkspaceError, is_damage

SOURCE = "cotmill_ingest_source"  # the ATTACHed workspace's name in this connection

# units (a mixture with its items, a run with its metrics and evals) are copied only when this
# workspace lacks them; their parts go first, while the unit's own row is still absent, so a
# second ingest finds it and adds nothing
_NEW_RUN = f"run IN (SELECT run FROM {SOURCE}.runs) AND run NOT IN (SELECT run FROM main.runs)"

# tables whose rows are merged by their key alone
KEYED = (
    "problems",
    "completions",
    "job_completions",
    "verdicts",
    "pseudo_labels",
    "curation_marks",
    "difficulty",
)
# (table, statement), run in this order in one transaction; each statement's count is the rows
# it added to `table`
MERGES: list[tuple[str, str]] = [
    *((table, f"INSERT OR IGNORE INTO {table} BY NAME SELECT * FROM {SOURCE}.{table}") for table in KEYED),
    (
        "mixture_items",
        f"""INSERT OR IGNORE INTO mixture_items BY NAME SELECT * FROM {SOURCE}.mixture_items
            WHERE mixture NOT IN (SELECT name FROM main.mixtures)""",
    ),
    ("mixtures", f"INSERT OR IGNORE INTO mixtures BY NAME SELECT * FROM {SOURCE}.mixtures"),
    (
        "rejects",
        f"""INSERT INTO rejects BY NAME SELECT * FROM {SOURCE}.rejects o
            WHERE NOT EXISTS (SELECT 1 FROM main.rejects r
                              WHERE r.job IS NOT DISTINCT FROM o.job AND r.source = o.source)""",
    ),
    ("metrics", f"INSERT INTO metrics BY NAME SELECT * FROM {SOURCE}.metrics WHERE {_NEW_RUN}"),
    ("evals", f"INSERT INTO evals BY NAME SELECT * FROM {SOURCE}.evals WHERE {_NEW_RUN}"),
    ("runs", f"INSERT OR IGNORE INTO runs BY NAME SELECT * FROM {SOURCE}.runs"),
]

# before the inserts: this workspace's error rows that the other workspace holds as successes
_REPLACE_ERRORS = f"""INSERT OR REPLACE INTO completions BY NAME
    SELECT o.* FROM {SOURCE}.completions o JOIN main.completions c ON c.completion_id = o.completion_id
    WHERE c.error IS NOT NULL AND o.error IS NULL"""

# after the completions: the jobs both workspaces hold, recounted over the merged rows (only
# the rows whose counts change, so a second ingest updates nothing)
_RECOUNT_JOBS = f"""UPDATE jobs SET requested = n.requested, stored = n.stored, failed = n.failed,
                                   status = n.status
    FROM (
        SELECT job, requested, stored,
               CASE WHEN requested IS NULL THEN failed ELSE greatest(requested - stored, 0) END AS failed,
               CASE WHEN stored >= requested THEN 'done' ELSE status END AS status
        FROM (
            SELECT j.job, greatest(j.requested, o.requested) AS requested, j.failed, j.status,
                   (SELECT count(*) FROM main.job_completions l JOIN main.completions c USING (completion_id)
                    WHERE l.job = j.job AND c.error IS NULL) AS stored
            FROM main.jobs j JOIN {SOURCE}.jobs o USING (job)
        )
    ) n
    WHERE jobs.job = n.job
      AND (jobs.requested IS DISTINCT FROM n.requested OR jobs.stored IS DISTINCT FROM n.stored
           OR jobs.failed IS DISTINCT FROM n.failed OR jobs.status IS DISTINCT FROM n.status)"""

_NEW_JOBS = f"INSERT OR IGNORE INTO jobs BY NAME SELECT * FROM {SOURCE}.jobs"

# cotmill's tables and views that are not merged, and why (see the module docstring)
NOT_MERGED = {
    "schema_version": "this workspace's own",
    "pipeline_stages": "the stages this workspace's `cotmill run` finished",
    "curated": "a view over the merged tables",
}


@dataclass
class Merged:
    """What merging one workspace did: rows added per table (only tables that gained
    some), this workspace's error rows replaced by successes, jobs recounted."""

    source: Path
    added: dict[str, int] = field(default_factory=dict)
    replaced: int = 0
    recounted: int = 0

    @property
    def rows(self) -> int:
        return sum(self.added.values())

    def summary(self) -> str:
        parts = [f"{table} +{count:,}" for table, count in self.added.items()]
        if self.replaced:
            parts.append(f"{self.replaced:,} error row(s) replaced by successes")
        if self.recounted:
            parts.append(f"{self.recounted:,} job(s) recounted")
        return f"ingested workspace {self.source}: {', '.join(parts) or 'nothing new'}"


def workspace_root(path: str | Path) -> Path | None:
    """The workspace `path` names (its directory, or its cotmill.duckdb), else None."""
    path = Path(path)
    if path.is_dir() and (path / DB_FILE).is_file():
        return path
    if path.name == DB_FILE and path.is_file():
        return path.parent
    return None


def merge_workspace(store: Store, path: str | Path) -> Merged:
    """Merge the workspace at `path` (opened read-only, never written) into `store`, in
    one transaction; see the module docstring for what each table takes."""
    root = workspace_root(path)
    if root is None:
        raise WorkspaceError(f"{path}: not a workspace (no {DB_FILE})")
    _not_here(root, store.root)
    merged = Merged(root)
    with _current_copy(root, store.root) as db:
        literal = "'" + str(db).replace("'", "''") + "'"
        try:
            store.con.execute(f"ATTACH {literal} AS {SOURCE} (READ_ONLY)")
        except duckdb.Error as e:
            raise WorkspaceError(f"cannot open workspace {root} to ingest it: {e}") from None
        try:
            with store.transaction():
                merged.replaced = _count(store, _REPLACE_ERRORS)
                added = {table: _count(store, statement) for table, statement in MERGES}
                merged.recounted = _count(store, _RECOUNT_JOBS)  # before the new jobs: only those in both
                added["jobs"] = _count(store, _NEW_JOBS)
            merged.added = {table: count for table, count in added.items() if count}
        except duckdb.Error as e:
            if is_damage(e):  # told as damage, once for all commands (cotmill.cli)
                raise
            # a hand-altered store (a column of its own, a dropped key): DuckDB's first line
            reason = str(e).splitlines()[0]
            raise WorkspaceError(
                f"cannot merge workspace {root}: {reason}; nothing of it was added"
            ) from None
        finally:
            try:
                store.con.execute(f"DETACH {SOURCE}")
            except duckdb.Error:  # a connection DuckDB invalidated: the error above is the one to see
                pass
    return merged


def _not_here(root: Path, here: Path) -> None:
    if root.resolve() == Path(here).resolve():
        raise WorkspaceError(f"{root}: is the workspace being ingested into")


def _count(store: Store, statement: str) -> int:
    return store.con.execute(statement).fetchall()[0][0]


@contextmanager
def _current_copy(root: Path, here: Path) -> Iterator[Path]:
    """The database file of the workspace at `root` in this cotmill's schema: its own file,
    or, for an older schema, a migrated copy in a temporary directory under `here` (removed
    after). Opening it read-only first checks it as every command does (a newer schema, a
    dropped table, a writer holding it: each a WorkspaceError naming it)."""
    with Store.open(root, read_only=True) as other:
        version = other.version()
    if version == SCHEMA_VERSION:
        yield root / DB_FILE
        return
    with tempfile.TemporaryDirectory(prefix=".ingest-", dir=here) as tmp:
        for name in (DB_FILE, f"{DB_FILE}.wal"):
            if (root / name).exists():
                shutil.copyfile(root / name, Path(tmp) / name)
        Store.open(tmp).close()  # applies the missing migrations to the copy
        yield Path(tmp) / DB_FILE


@dataclass
class Ingested:
    """What `cotmill ingest` did: shards read and the rows they added, and one Merged per
    workspace."""

    shards: int = 0
    rows: int = 0
    workspaces: list[Merged] = field(default_factory=list)


def classify(paths, here: Path) -> tuple[list[Path], list[Path]]:
    """(workspaces, shard paths) among `paths`, each checked before anything is ingested into
    the workspace `here`: a workspace (a directory holding cotmill.duckdb, or that file) other
    than `here`, a shard file, or a directory of shards; anything else is a WorkspaceError
    naming it."""
    workspaces: list[Path] = []
    shard_paths: list[Path] = []
    for given in paths:
        path = Path(given)
        root = workspace_root(path)
        if root is not None:
            _not_here(root, here)
            workspaces.append(root)
        elif path.is_file():
            shard_paths.append(path)  # read_header says so if it is no shard
        elif path.is_dir() and any(not p.name.startswith(".") for p in path.rglob("*.parquet")):
            shard_paths.append(path)
        elif path.is_dir():
            raise WorkspaceError(
                f"{path}: neither a workspace (no {DB_FILE}) nor a directory of shards (no *.parquet)"
            )
        else:
            raise WorkspaceError(f"{path}: no such file or directory")
    return workspaces, shard_paths


def ingest_paths(store: Store, workspaces: list[Path], shard_paths: list[Path]) -> Ingested:
    """Merge each workspace (one transaction each), then ingest the shards (one each). Every
    shard's header is read first: a file that is no shard stops it before anything is added."""
    found = shards.find_shards(shard_paths)
    for path in found:
        shards.read_header(path)
    done = Ingested(workspaces=[merge_workspace(store, root) for root in workspaces])
    if found:
        done.shards, done.rows = shards.ingest(store, found)
    return done
