"""`cotmill sql`: formats, read-only by default, errors without tracebacks."""

from __future__ import annotations

import json

import pyarrow.parquet as pq
import pytest

from datagen.config import GenerateConfig
from datagen.jobs import run_generate
from tests.conftest import run_cli


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    ws = tmp_path_factory.mktemp("sql") / "w"
    run_generate(GenerateConfig(workspace=str(ws), job="s", tasks="arithmetic", count=10, samples=2))
    return str(ws)


def test_formats(workspace, tmp_path):
    q = "select problem_id, count(*) as n from completions group by 1 order by 1"
    as_json = run_cli("sql", q, "-w", workspace, "--format", "json")
    records = json.loads(as_json.stdout)
    assert len(records) == 10 and all(r["n"] == 2 for r in records)
    as_table = run_cli("sql", q, "-w", workspace)
    assert "(10 rows)" in as_table.stdout
    out = tmp_path / "x.parquet"
    run_cli("sql", "select * from completions", "-w", workspace, "--format", "parquet", "--out", str(out))
    assert pq.read_table(out).num_rows == 20
    csv_out = tmp_path / "x.csv"
    run_cli("sql", q, "-w", workspace, "--format", "csv", "--out", str(csv_out))
    assert len(csv_out.read_text().splitlines()) == 11


def test_read_only_unless_write(workspace):
    denied = run_cli("sql", "delete from completions", "-w", workspace)
    assert denied.returncode != 0 and "read-only" in denied.stderr.lower()
    assert "pass --write to change it" in denied.stderr  # what to do about it
    assert "Traceback" not in denied.stderr
    allowed = run_cli("sql", "create table notes as select 1 as x", "-w", workspace, "--write")
    assert allowed.returncode == 0, allowed.stderr
    assert json.loads(run_cli("sql", "select x from notes", "-w", workspace, "--format", "json").stdout) == [
        {"x": 1}
    ]


def test_errors_show_duckdbs_message_and_the_query(workspace):
    result = run_cli("sql", "select nope from problems", "-w", workspace)
    assert result.returncode != 0
    assert 'Referenced column "nope" not found' in result.stderr
    assert "query: select nope from problems" in result.stderr
    assert "Traceback" not in result.stderr
    parquet = run_cli("sql", "select 1", "-w", workspace, "--format", "parquet")
    assert parquet.returncode != 0 and "--out" in parquet.stderr


def test_odd_queries_and_outputs_are_clear(workspace, tmp_path):
    empty = run_cli("sql", " ; ", "-w", workspace)
    assert empty.returncode != 0 and "the query is empty" in empty.stderr
    no_rows = run_cli("sql", "select * from problems where false", "-w", workspace, "--format", "json")
    assert no_rows.returncode == 0 and json.loads(no_rows.stdout) == []
    several = run_cli("sql", "select 1 as a; select 2 as b", "-w", workspace, "--format", "csv")
    assert several.stdout == "b\n2\n"
    # lists and structs (list(reason) over curation_marks, say) are JSON text in a CSV cell
    nested = run_cli(
        "sql", "select [1, 2] as a, {'x': 'y'} as b, null::int[] as c", "-w", workspace, "--format", "csv"
    )
    assert nested.returncode == 0, nested.stderr
    assert nested.stdout == 'a,b,c\n"[1, 2]","{""x"": ""y""}",\n'
    bad_out = run_cli("sql", "select 1", "-w", workspace, "--out", str(tmp_path / "no" / "such" / "x.csv"))
    assert bad_out.returncode != 0 and "cannot write" in bad_out.stderr and "Traceback" not in bad_out.stderr
    missing = run_cli("sql", "create table t (x int)", "-w", str(tmp_path / "nowhere"), "--write")
    assert missing.returncode != 0 and "no workspace at" in missing.stderr
    assert not (tmp_path / "nowhere").exists()


def test_ddl_on_cotmills_own_tables_needs_force(tmp_path):
    ws = str(tmp_path / "w")
    run_generate(GenerateConfig(workspace=ws, job="d", tasks="arithmetic", count=3))
    for statement in (
        "DROP TABLE completions",
        "DROP VIEW curated",
        "ALTER TABLE problems RENAME TO old_problems",
        "ALTER TABLE completions DROP COLUMN text",
        "CREATE OR REPLACE TABLE jobs AS SELECT * FROM jobs",  # the same columns, but no key
        "CREATE TABLE notes (x INT); DROP TABLE verdicts",
    ):
        refused = run_cli("sql", statement, "-w", ws, "--write")
        assert refused.returncode != 0 and "Traceback" not in refused.stderr, statement
        assert "pass --force" in refused.stderr, (statement, refused.stderr)
    # nothing of a refused query was kept, not even its harmless first statement
    tables = run_cli("sql", "select table_name from duckdb_tables() order by 1", "-w", ws, "--format", "csv")
    assert "notes" not in tables.stdout and "completions" in tables.stdout
    assert run_cli("sql", "select text from completions", "-w", ws).returncode == 0
    # data changes and tables of one's own are what --write is for
    for statement in ("DELETE FROM rejects", "CREATE TABLE notes (x INT)", "DROP TABLE notes"):
        allowed = run_cli("sql", statement, "-w", ws, "--write")
        assert allowed.returncode == 0, (statement, allowed.stderr)
    forced = run_cli("sql", "ALTER TABLE problems ADD COLUMN license VARCHAR", "-w", ws, "--write", "--force")
    assert forced.returncode == 0, forced.stderr


def test_read_only_queries_touch_no_files_unless_allowed(workspace, tmp_path):
    out = tmp_path / "p.parquet"
    for query in (f"COPY problems TO '{out}'", "select * from read_text('/etc/hostname')"):
        blocked = run_cli("sql", query, "-w", workspace)
        assert blocked.returncode != 0 and "Traceback" not in blocked.stderr, query
        assert "pass --allow-files" in blocked.stderr, blocked.stderr
    assert not out.exists()
    copied = run_cli("sql", f"COPY problems TO '{out}'", "-w", workspace, "--allow-files")
    assert copied.returncode == 0, copied.stderr
    read = run_cli(
        "sql", f"select count(*) as n from '{out}'", "-w", workspace, "--allow-files", "--format", "csv"
    )
    assert read.stdout == "n\n10\n"
    # --out and --format parquet are cotmill's own writes, not the query's: always allowed
    written = run_cli(
        "sql", "select 1 as x", "-w", workspace, "--format", "parquet", "--out", str(tmp_path / "x.parquet")
    )
    assert written.returncode == 0 and pq.read_table(tmp_path / "x.parquet").num_rows == 1


def test_the_workspaces_own_shards_are_views_and_nothing_else_opens(workspace, tmp_path):
    """Verdict shards not ingested yet are `shards_verdicts`, without --allow-files; the rest
    of the sandbox holds: no read_parquet, no COPY into W/shards."""
    import shutil

    from datagen import shards
    from datagen.store import Store
    from datagen.verify_runner import judge, pending_rows, stored_version

    ws = tmp_path / "w"
    shutil.copytree(workspace, ws)
    version = stored_version("math")
    with Store.open(ws, read_only=True) as store:
        verdicts = [judge("math", version, row) for row in pending_rows(store, "math", version, None)]
    folder = shards.shard_dir(ws, "verify", "s")
    shards.write_shard(folder / "part-0.parquet", "verdicts", verdicts[:15], stage="verify", job="s")
    # a shard of fewer columns, and a stray Parquet file without a header: united, skipped
    shards.write_shard(folder / "part-1.parquet", "verdicts", [{"completion_id": v["completion_id"],
                       "verifier": "math", "passed": v["passed"]} for v in verdicts[15:]])  # fmt: skip
    pq.write_table(
        pq.read_table(folder / "part-0.parquet").replace_schema_metadata(None), ws / "shards" / "x.parquet"
    )

    def sql(query, *flags):
        return run_cli("sql", query, "-w", str(ws), "--format", "csv", *flags)

    counted = sql(
        "select count(*) as n, count(distinct completion_id) as ids, count(verifier_version) as versioned, "
        "sum(passed::int) as passed from shards_verdicts join completions using (completion_id)"
    )
    assert counted.returncode == 0, counted.stderr
    assert counted.stdout == f"n,ids,versioned,passed\n20,20,15,{sum(v['passed'] for v in verdicts)}\n"
    pattern = f"{ws}/shards/**/*.parquet"
    for query in (
        f"select count(*) from read_parquet('{pattern}')",
        f"COPY problems TO '{ws}/shards/p.parquet'",
    ):
        blocked = sql(query)
        assert blocked.returncode != 0 and "pass --allow-files" in blocked.stderr, blocked.stderr
    assert not (ws / "shards" / "p.parquet").exists()
    allowed = sql(
        f"select count(*) as n from read_parquet('{folder}/*.parquet', union_by_name = true)", "--allow-files"
    )
    assert allowed.stdout == "n\n20\n"
    none = run_cli("sql", "select * from shards_verdicts", "-w", workspace)  # no shards there
    assert none.returncode == 1 and "shards_verdicts does not exist" in none.stderr
