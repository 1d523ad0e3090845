"""`cotmill sql`: one query, printed as a table, CSV or JSON, or written to a file
(Parquet needs one). Several statements separated by `;` run in order and the
last one's result is shown, as in DuckDB's own shell.

Read-only means the workspace and nothing else: DuckDB's external access is off,
so a query cannot `COPY ... TO` a path or `read_text('/etc/...')` unless
`--allow-files`. `--write` may change data and make tables of its own, but not
drop or alter cotmill's tables, which every command needs, unless `--force`.

The workspace's own shards (W/shards/**, not ingested yet) are views of the query, one per
kind: `shards_verdicts` and so on, defined when such shards exist. Arrow reads them, not
DuckDB, so the sandbox stays whole: a read-only query reads those files and no other, and
writes none (allowing DuckDB the folder would let `COPY ... TO` plant a shard there)."""

from __future__ import annotations

import io
import json
import sys
from pathlib import Path

import duckdb
import polars as pl
import pyarrow as pa

from datagen import shards
from datagen.store import Store, damage, own_tables
from verifiers.errors import CotmillError


class SqlError(CotmillError, RuntimeError):
    pass


def _flat(frame):
    """CSV has no nesting: list and struct columns become JSON text in their cells."""
    nested = [name for name, dtype in frame.schema.items() if dtype.is_nested()]
    if not nested:
        return frame
    return frame.with_columns(
        pl.col(name).map_elements(lambda v: json.dumps(v.to_list() if isinstance(v, pl.Series) else v),
                                  return_dtype=pl.String)
        for name in nested
    )  # fmt: skip


def _render_table(frame: pl.DataFrame, max_rows: int) -> str:
    from rich.console import Console
    from rich.table import Table

    table = Table(*frame.columns)
    for row in frame.head(max_rows).iter_rows():
        table.add_row(*("NULL" if v is None else str(v) for v in row))
    buf = io.StringIO()
    console = Console(file=buf, width=max(100, Console().width))
    console.print(table)
    if frame.height > max_rows:
        console.print(f"... {frame.height - max_rows} more rows (use --format csv or --max-rows)")
    console.print(f"({frame.height} rows)")
    return buf.getvalue()


def shard_views(con: duckdb.DuckDBPyConnection, root: Path) -> list[str]:
    """Define the view `shards_<kind>` over the workspace's shards of each kind (files under
    root/shards whose header names it; others are skipped), columns united by name; the names
    defined. A kind whose shards disagree on a column's type gets no view, with a warning."""
    import warnings

    import pyarrow.dataset as ds
    import pyarrow.parquet as pq

    folder = root / shards.SHARDS_DIR
    if not folder.is_dir():
        return []
    found: dict[str, list[Path]] = {}
    for path in shards.find_shards([folder]):
        try:
            found.setdefault(shards.read_header(path)["kind"], []).append(path)
        except shards.ShardError:
            continue  # not a shard: nothing of the workspace's to show
    names = []
    for kind, paths in sorted(found.items()):
        try:
            schema = pa.unify_schemas([pq.read_schema(p) for p in paths], promote_options="permissive")
        except (OSError, pa.ArrowException) as e:
            warnings.warn(
                f"no view shards_{kind}: its shards under {folder} do not agree ({e})", stacklevel=2
            )
            continue
        con.register(f"shards_{kind}", ds.dataset([str(p) for p in paths], schema=schema.remove_metadata()))
        names.append(f"shards_{kind}")
    return names


def _fetch(con: duckdb.DuckDBPyConnection, query: str) -> pl.DataFrame | None:
    relation = con.sql(query)  # runs every statement; the last one's rows, if any
    if relation is None:
        return None
    # polars writes CSV and JSON with DuckDB's types intact (timestamps, lists, structs)
    return relation.pl()


_SCHEMA_CHANGES = {duckdb.StatementType.CREATE, duckdb.StatementType.DROP, duckdb.StatementType.ALTER}


def _own_catalog(con: duckdb.DuckDBPyConnection, database: str) -> dict[str, str]:
    """cotmill's tables and views by name, with the SQL that DuckDB would make them with."""
    rows = con.execute(
        "SELECT table_name, sql FROM duckdb_tables() WHERE database_name = ? AND schema_name = 'main' "
        "UNION ALL SELECT view_name, sql FROM duckdb_views() "
        "WHERE database_name = ? AND schema_name = 'main' AND NOT internal",
        [database, database],
    ).fetchall()
    own = own_tables()
    return {name: sql for name, sql in rows if name in own}


def _fetch_sparing_own_tables(store: Store, query: str) -> pl.DataFrame | None:
    """A query that may change the schema runs in one transaction, rolled back when
    it dropped, renamed or redefined one of cotmill's tables. DuckDB's catalog
    before and after says what changed: no guessing of table names from the text."""
    con = store.con
    types = {statement.type for statement in duckdb.extract_statements(query)}
    if not types & _SCHEMA_CHANGES:
        return _fetch(con, query)
    if duckdb.StatementType.TRANSACTION in types:
        raise SqlError(
            "BEGIN/COMMIT with CREATE, DROP or ALTER: leave them out (the statements run in one "
            "transaction) or pass --force"
        )
    database = con.execute("SELECT current_database()").fetchall()[0][0]
    before = _own_catalog(con, database)
    with store.transaction():
        frame = _fetch(con, query)
        after = _own_catalog(con, database)
        dropped = [name for name in before if name not in after]
        changed = [name for name in before if name in after and after[name] != before[name]]
        if dropped or changed:
            what = " and ".join(
                f"{verb} {', '.join(names)}"
                for verb, names in (("drop", dropped), ("change", changed))
                if names
            )
            raise SqlError(
                f"refused: the query would {what}, which cotmill's commands need; nothing was changed "
                "(pass --force to do it anyway)"
            )
    return frame


def run_sql(
    query: str,
    workspace,
    fmt: str = "table",
    out: str | None = None,
    write: bool = False,
    max_rows: int = 100,
    force: bool = False,
    allow_files: bool = False,
) -> None:
    if fmt == "parquet" and not out:
        raise SqlError("--format parquet needs --out FILE")
    frame = query_frame(query, workspace, write, force, allow_files)
    if frame is None:
        sys.stdout.write("ok\n")
        return
    try:
        if fmt == "parquet":
            frame.write_parquet(out)
            return
        if fmt == "csv":
            text = _flat(frame).write_csv()
        elif fmt == "json":
            text = frame.write_json() + "\n"
        else:
            text = _render_table(frame, max_rows)
        if out:
            Path(out).write_text(text, encoding="utf-8")
        else:
            sys.stdout.write(text)
    except OSError as e:
        raise SqlError(f"cannot write {out}: {e.strerror}") from None


def query_frame(
    query: str, workspace, write: bool = False, force: bool = False, allow_files: bool = False
) -> pl.DataFrame | None:
    """The last statement's rows as a frame (None when it has none); `run_sql` without the printing,
    and what the Python API's `Workspace.sql` returns."""
    if not query.strip().strip(";").strip():
        raise SqlError("the query is empty")
    # no checks: this is the tool to look into a damaged or hand-altered store
    store = Store.open(workspace, read_only=not write, create=False, check=False)
    sandboxed = not write and not allow_files
    try:
        shard_views(store.con, store.root)
        if sandboxed:  # once off, no statement of the query can turn it back on
            store.con.execute("SET enable_external_access = false")
        try:
            frame = (
                _fetch(store.con, query) if force or not write else _fetch_sparing_own_tables(store, query)
            )
        except duckdb.PermissionException as e:
            hint = "\na read-only query may not read or write files: pass --allow-files" if sandboxed else ""
            raise SqlError(f"{e}\nquery: {query}{hint}") from None
        except duckdb.Error as e:
            hint = "\nthat part of the store is damaged; other tables may still read" if damage(e) else ""
            if not write and "read-only mode" in str(e):
                hint = "\nthe workspace is opened read-only: pass --write to change it"
            raise SqlError(f"{e}\nquery: {query}{hint}") from None
    finally:
        store.close()
    return frame
