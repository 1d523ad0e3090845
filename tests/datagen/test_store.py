"""The workspace store: schema contract, migrations, batched atomic writes, locking."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import duckdb
import pytest

from datagen.records import Completion
from datagen.schema import SCHEMA_VERSION
from datagen.store import Store, StoreDamaged, WorkspaceError
from datagen.tasks import make_problem

CONTRACT = {
    "problems": "problem_id domain task source prompt answer verifier difficulty meta created_at",
    "completions": "completion_id problem_id job teacher strategy sample_index text reasoning finish_reason "
    "prompt_tokens completion_tokens cost_usd latency_ms error created_at",
    "verdicts": "completion_id verifier verifier_version passed score extracted reason steps first_error_step "
    "elapsed_ms created_at",
    "jobs": "job",
}


def test_tables_have_the_contract_columns(tmp_path):
    with Store.open(tmp_path) as store:
        for table, columns in CONTRACT.items():
            have = {
                r[0]
                for r in store.con.execute(
                    "select column_name from information_schema.columns where table_name = ?", [table]
                ).fetchall()
            }
            assert set(columns.split()) <= have, table
        assert store.version() == SCHEMA_VERSION


def test_migrations_are_forward_and_idempotent(tmp_path):
    Store.open(tmp_path).close()
    with Store.open(tmp_path) as store:
        assert store.con.execute("select count(*) from schema_version").fetchall() == [(SCHEMA_VERSION,)]
    con = duckdb.connect(str(tmp_path / "cotmill.duckdb"))
    con.execute("insert into schema_version (version) values (?)", [SCHEMA_VERSION + 1])
    con.close()
    with pytest.raises(WorkspaceError, match="newer than this cotmill"):
        Store.open(tmp_path)


def _completion(problem_id: str, cid: str, **kw) -> dict:
    return Completion(cid, problem_id, "job", "teacher", "cot", 0, **kw).row()


def test_batches_are_all_or_nothing(tmp_path):
    problem = make_problem("arithmetic", 0, 0, 1)
    with Store.open(tmp_path) as store:
        store.write_batch([("problems", [problem.row()], "IGNORE")])
        good = _completion(problem.problem_id, "c1", text="ok")
        bad = {**_completion(problem.problem_id, "c2", text="x"), "job": None}  # NOT NULL
        with pytest.raises(duckdb.Error):
            store.write_batch([("completions", [good], "REPLACE"), ("completions", [bad], "REPLACE")])
        assert store.con.execute("select count(*) from completions").fetchall() == [(0,)]
        # the same problem twice is stored once; a success replaces an error row
        store.write_batch([("problems", [problem.row()], "IGNORE")])
        store.write_batch(
            [("completions", [_completion(problem.problem_id, "c1", error="HTTP 500")], "REPLACE")]
        )
        store.write_batch([("completions", [_completion(problem.problem_id, "c1", text="fixed")], "REPLACE")])
        assert store.con.execute("select count(*) from problems").fetchall() == [(1,)]
        assert store.con.execute("select text, error from completions").fetchall() == [("fixed", None)]


def test_read_only_store_refuses_writes(tmp_path):
    Store.open(tmp_path).close()
    with Store.open(tmp_path, read_only=True) as store:
        with pytest.raises(duckdb.Error):
            store.con.execute("delete from problems")


def test_missing_workspace_is_a_clear_error(tmp_path):
    with pytest.raises(WorkspaceError, match="no workspace at"):
        Store.open(tmp_path / "nowhere", read_only=True)


def test_a_second_process_gets_the_holders_pid(tmp_path):
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            textwrap.dedent(f"""
            import sys, time
            from datagen.store import Store
            s = Store.open({str(tmp_path)!r})
            print("ready", flush=True)
            sys.stdin.read()
        """),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "ready"
        with pytest.raises(WorkspaceError, match=f"in use by PID {holder.pid}"):
            Store.open(tmp_path)
        with pytest.raises(WorkspaceError, match=f"in use by PID {holder.pid}"):
            Store.open(tmp_path, read_only=True)
    finally:
        holder.kill()
        holder.wait()
    Store.open(tmp_path).close()  # the kernel released the lock of the killed holder


def test_a_reader_elsewhere_blocks_writing_with_a_clear_error(tmp_path):
    Store.open(tmp_path).close()
    reader = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(f"""
            import sys, duckdb
            con = duckdb.connect({str(tmp_path / "cotmill.duckdb")!r}, read_only=True)
            print("ready", flush=True)
            sys.stdin.read()
        """)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert reader.stdout.readline().strip() == "ready"
        with pytest.raises(WorkspaceError, match=f"in use by PID {reader.pid}"):
            Store.open(tmp_path)
    finally:
        reader.kill()
        reader.wait()


def test_bad_workspace_paths_are_clear(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(WorkspaceError, match="cannot create workspace"):
        Store.open(tmp_path / "file")
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "cotmill.duckdb").write_text("garbage" * 100)
    with pytest.raises(WorkspaceError, match="not a valid DuckDB database"):
        Store.open(tmp_path / "bad")


def test_a_new_migration_is_applied_to_an_old_workspace(tmp_path, monkeypatch):
    problem = make_problem("arithmetic", 0, 0, 1)
    with Store.open(tmp_path) as store:
        store.write_batch([("problems", [problem.row()], "IGNORE")])
    import datagen.store as store_module

    newer = [*store_module.MIGRATIONS, ["ALTER TABLE problems ADD COLUMN license VARCHAR DEFAULT 'mit'"]]
    monkeypatch.setattr(store_module, "MIGRATIONS", newer)
    monkeypatch.setattr(store_module, "SCHEMA_VERSION", len(newer))
    with Store.open(tmp_path) as store:
        assert store.version() == len(newer)
        assert store.con.execute("select problem_id, license from problems").fetchall() == [
            (problem.problem_id, "mit")
        ]


def test_a_store_from_before_job_completions_gets_the_link_from_completions_job(tmp_path, monkeypatch):
    import datagen.store as store_module
    from datagen.schema import MIGRATIONS

    old = next(i for i, m in enumerate(MIGRATIONS) if "job_completions" in m[0])  # the store before it
    monkeypatch.setattr(store_module, "MIGRATIONS", MIGRATIONS[:old])
    monkeypatch.setattr(store_module, "SCHEMA_VERSION", old)
    problem = make_problem("arithmetic", 0, 0, 1)
    with Store.open(tmp_path) as store:
        assert store.version() == old
        store.write_batch(
            [
                ("problems", [problem.row()], "IGNORE"),
                (
                    "completions",
                    [_completion(problem.problem_id, "c1"), _completion(problem.problem_id, "c2")],
                    "REPLACE",
                ),
            ]
        )
    monkeypatch.undo()
    with Store.open(tmp_path) as store:
        assert store.version() == SCHEMA_VERSION
        assert store.con.execute("SELECT job, completion_id FROM job_completions ORDER BY 2").fetchall() == [
            ("job", "c1"),
            ("job", "c2"),
        ]


def test_a_transaction_commits_all_or_nothing(tmp_path):
    """An exception mid-transaction rolls back every statement before it, re-raised as
    it was; the file, reopened, holds what was committed and nothing else."""
    with Store.open(tmp_path) as store:
        with store.transaction():
            store.insert_rows("jobs", [{"job": "kept", "status": "done"}])
    with Store.open(tmp_path) as store:
        with pytest.raises(KeyError, match="midway"):
            with store.transaction():
                store.insert_rows("jobs", [{"job": "new", "status": "running"}])
                store.con.execute("UPDATE jobs SET status = 'changed' WHERE job = 'kept'")
                raise KeyError("midway")
        assert store.con.execute("SELECT job, status FROM jobs").fetchall() == [("kept", "done")]
        with store.transaction():  # the store takes the next transaction as usual
            store.insert_rows("jobs", [{"job": "later"}])
    with Store.open(tmp_path, read_only=True) as store:
        assert store.con.execute("SELECT job, status FROM jobs ORDER BY job").fetchall() == [
            ("kept", "done"),
            ("later", None),
        ]


def test_a_failed_commit_raises_its_own_error_not_the_rollbacks(tmp_path):
    """DuckDB ends the transaction when COMMIT fails (a full disk); the rollback that
    follows must not replace that error with "no transaction is active"."""
    with Store.open(tmp_path) as store:
        with pytest.raises(RuntimeError, match="the real error"):
            with store.transaction():
                store.con.execute("INSERT INTO jobs (job) VALUES ('x')")
                store.con.execute("COMMIT")  # the transaction ends here, as a failed COMMIT ends it
                raise RuntimeError("the real error")
        assert store.con.execute("SELECT count(*) FROM jobs").fetchall() == [(1,)]


def test_a_dropped_table_or_column_is_named(tmp_path):
    Store.open(tmp_path).close()
    db = tmp_path / "cotmill.duckdb"
    for statement, missing in (
        ("ALTER TABLE completions DROP COLUMN text", "has no column completions.text (dropped?)"),
        ("DROP TABLE completions", "has no table completions (dropped?)"),
        ("DROP TABLE schema_version", "has no table schema_version (dropped?)"),
    ):
        con = duckdb.connect(str(db))
        con.execute(statement)
        con.close()
        for read_only in (True, False):
            with pytest.raises(WorkspaceError) as info:
                Store.open(tmp_path, read_only=read_only)
            assert str(info.value).startswith(f"store {db} {missing}: cotmill's commands need it")
    # unchecked, as `cotmill sql` opens it, to look around or put a table back
    with Store.open(tmp_path, read_only=True, check=False) as store:
        assert store.con.execute("select count(*) from problems").fetchall() == [(0,)]


def test_a_table_of_ones_own_is_no_damage(tmp_path):
    Store.open(tmp_path).close()
    con = duckdb.connect(str(tmp_path / "cotmill.duckdb"))
    con.execute("CREATE TABLE notes (x INT)")
    con.execute("ALTER TABLE problems ADD COLUMN license VARCHAR")
    con.close()
    Store.open(tmp_path).close()


def test_a_damaged_file_is_named_as_damage(tmp_path):
    Store.open(tmp_path).close()
    db = tmp_path / "cotmill.duckdb"
    with open(db, "r+b") as f:
        f.seek(8192)  # the second file header, where the catalog starts
        f.write(b"\xff" * 64)
    with pytest.raises(
        StoreDamaged, match=f"^store {db} is damaged \\(Corrupt database file.*cannot be opened"
    ):
        Store.open(tmp_path, read_only=True)
