"""`cotmill sql`: one query, printed as a table, CSV, JSON or written to Parquet."""

from __future__ import annotations

import csv
import datetime as dt
import decimal
import io
import json
import sys
from pathlib import Path

import duckdb

from datagen.store import Store


class SqlError(RuntimeError):
    pass


def _json_default(value):
    if isinstance(value, (dt.date, dt.datetime, dt.time)):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return float(value)
    if isinstance(value, bytes):
        return value.hex()
    return str(value)


def _render_table(columns: list[str], rows: list[tuple], max_rows: int) -> str:
    from rich.console import Console
    from rich.table import Table

    table = Table(*columns)
    for row in rows[:max_rows]:
        table.add_row(*("NULL" if v is None else str(v) for v in row))
    buf = io.StringIO()
    console = Console(file=buf, width=max(100, Console().width))
    console.print(table)
    if len(rows) > max_rows:
        console.print(f"... {len(rows) - max_rows} more rows (use --format csv or --max-rows)")
    console.print(f"({len(rows)} rows)")
    return buf.getvalue()


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
    store = Store.open(workspace, read_only=not write)
    try:
        try:
            result = store.con.execute(query)
            if result.description is None:  # a statement with no result set
                text = "ok\n"
                columns, rows = [], []
            elif fmt == "parquet":
                import pyarrow.parquet as pq

                # DuckDB 2 renamed fetch_arrow_table to to_arrow_table
                fetch = getattr(result, "to_arrow_table", None) or result.fetch_arrow_table
                pq.write_table(fetch(), out)
                return
            else:
                columns = [d[0] for d in result.description]
                rows = result.fetchall()
        except duckdb.Error as e:
            raise SqlError(f"{e}\nquery: {query}") from None
        if columns or rows:
            text = _format(fmt, columns, rows, max_rows)
        if out:
            Path(out).write_text(text, encoding="utf-8")
        else:
            sys.stdout.write(text)
    finally:
        store.close()


def _format(fmt: str, columns: list[str], rows: list[tuple], max_rows: int) -> str:
    if fmt == "csv":
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(columns)
        writer.writerows(rows)
        return buf.getvalue()
    if fmt == "json":
        records = [dict(zip(columns, row)) for row in rows]
        return json.dumps(records, default=_json_default, ensure_ascii=False, indent=1) + "\n"
    return _render_table(columns, rows, max_rows)
