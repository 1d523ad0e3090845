"""`cotmill sql`: one query, printed as a table, CSV or JSON, or written to a file
(Parquet needs one). Several statements separated by `;` run in order and the
last one's result is shown, as in DuckDB's own shell."""

from __future__ import annotations

import io
import sys
from pathlib import Path

import duckdb
import polars as pl

from datagen.store import Store


class SqlError(RuntimeError):
    pass


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


def _fetch(con: duckdb.DuckDBPyConnection, query: str) -> pl.DataFrame | None:
    relation = con.sql(query)  # runs every statement; the last one's rows, if any
    if relation is None:
        return None
    # polars writes CSV and JSON with DuckDB's types intact (timestamps, lists, structs)
    return relation.pl()


def run_sql(
    query: str,
    workspace,
    fmt: str = "table",
    out: str | None = None,
    write: bool = False,
    max_rows: int = 100,
) -> None:
    if fmt == "parquet" and not out:
        raise SqlError("--format parquet needs --out FILE")
    if not query.strip().strip(";").strip():
        raise SqlError("the query is empty")
    store = Store.open(workspace, read_only=not write, create=False)
    try:
        try:
            frame = _fetch(store.con, query)
        except duckdb.Error as e:
            raise SqlError(f"{e}\nquery: {query}") from None
    finally:
        store.close()
    if frame is None:
        sys.stdout.write("ok\n")
        return
    try:
        if fmt == "parquet":
            frame.write_parquet(out)
            return
        if fmt == "csv":
            text = frame.write_csv()
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
