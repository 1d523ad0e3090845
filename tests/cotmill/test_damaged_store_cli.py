"""A damaged or hand-altered store: every command says what is wrong in one line
and how to get the data out, never a traceback. The damage is real: a workspace
made by `cotmill generate`, then truncated or overwritten mid-file."""

from __future__ import annotations

import os
import shutil

import duckdb
import pytest

from tests.conftest import run_cli

HEADER = 3 * 4096  # DuckDB's file header: blocks are counted from here


@pytest.fixture(scope="module")
def made(tmp_path_factory):
    ws = tmp_path_factory.mktemp("damage") / "w"
    result = run_cli("generate", "-w", str(ws), "--tasks", "math", "--count", "20", "--teacher", "builtin")
    assert result.returncode == 0, result.stderr
    return ws


def _copy(made, tmp_path):
    ws = tmp_path / "w"
    shutil.copytree(made, ws)
    return ws, ws / "cotmill.duckdb"


def _only_block_of(db, table: str) -> int:
    """The file offset of a data block that holds `table` and no other table, so
    overwriting it spoils that table alone."""
    con = duckdb.connect(str(db), read_only=True)
    try:
        (block_size,) = con.execute("select block_size from pragma_database_size()").fetchone()
        blocks = {}
        for (name,) in con.execute("select table_name from duckdb_tables()").fetchall():
            rows = con.execute(f"select block_id from pragma_storage_info('{name}') where block_id >= 0")
            blocks[name] = {b for (b,) in rows.fetchall()}
    finally:
        con.close()
    others = set().union(*(b for name, b in blocks.items() if name != table))
    (block, *_) = sorted(blocks[table] - others)
    return HEADER + block * block_size


def _overwrite(db, offset: int, size: int = 4096) -> None:
    with open(db, "r+b") as f:
        f.seek(offset)
        f.write(os.urandom(size))


def _says_damaged(result, db) -> None:
    assert result.returncode != 0
    assert "Traceback" not in result.stderr, result.stderr
    assert f"error: store {db} is damaged (" in result.stderr, result.stderr


def test_garbage_mid_file_is_named_and_the_rest_can_be_copied_out(made, tmp_path):
    ws, db = _copy(made, tmp_path)
    _overwrite(db, _only_block_of(db, "completions") + 100)
    for command in (
        ["generate", "--tasks", "math", "--count", "20"],
        ["verify"],
        ["curate"],
        ["report", "--out", str(tmp_path / "r.html")],
    ):
        result = run_cli(*command, "-w", str(ws))
        _says_damaged(result, db)
        assert "cotmill sql" in result.stderr and "--format parquet --out" in result.stderr
    # the way out that the message names works for the intact tables
    out = tmp_path / "problems.parquet"
    copied = run_cli("sql", "select * from problems", "-w", str(ws), "--format", "parquet", "--out", str(out))
    assert copied.returncode == 0, copied.stderr
    assert duckdb.sql(f"select count(*) from '{out}'").fetchall() == [(20,)]
    lost = run_cli("sql", "select * from completions", "-w", str(ws), "--format", "csv")
    assert lost.returncode != 0 and "Traceback" not in lost.stderr and "damaged" in lost.stderr


def test_a_truncated_store_is_named(made, tmp_path):
    ws, db = _copy(made, tmp_path)
    os.truncate(db, os.path.getsize(db) // 2)
    for command in (["verify"], ["generate", "--tasks", "math", "--count", "20"]):
        _says_damaged(run_cli(*command, "-w", str(ws)), db)


def test_a_store_that_cannot_be_opened_at_all_says_so(made, tmp_path):
    ws, db = _copy(made, tmp_path)
    _overwrite(db, 8192, 100)  # the second header: the catalog's root is lost
    result = run_cli("verify", "-w", str(ws))
    _says_damaged(result, db)
    assert "cannot be opened" in result.stderr and "backup" in result.stderr
    sql = run_cli("sql", "select 1", "-w", str(ws))
    _says_damaged(sql, db)


def test_a_dropped_table_is_refused_then_named(made, tmp_path):
    ws, db = _copy(made, tmp_path)
    refused = run_cli("sql", "DROP TABLE completions", "-w", str(ws), "--write")
    assert refused.returncode != 0 and "Traceback" not in refused.stderr
    assert "completions" in refused.stderr and "--force" in refused.stderr
    assert run_cli("sql", "select count(*) from completions", "-w", str(ws)).returncode == 0
    forced = run_cli("sql", "DROP TABLE completions", "-w", str(ws), "--write", "--force")
    assert forced.returncode == 0, forced.stderr
    for command in (["verify"], ["generate", "--tasks", "math", "--count", "20"], ["curate"]):
        result = run_cli(*command, "-w", str(ws))
        assert result.returncode != 0 and "Traceback" not in result.stderr, result.stderr
        assert f"error: store {db} has no table completions (dropped?)" in result.stderr
    # sql still opens it, to look around or put the table back
    assert run_cli("sql", "select count(*) from problems", "-w", str(ws)).returncode == 0
