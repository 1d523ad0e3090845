"""`cotmill ingest W2 W3`: whole workspaces made elsewhere merged into one, on real
workspaces generated with the builtin teacher and verified."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import duckdb
import pytest

from cotmill.api import Workspace
from datagen import merge, shards
from datagen.config import GenerateConfig
from datagen.jobs import run_generate
from datagen.schema import SCHEMA_VERSION
from datagen.store import Store, WorkspaceError, own_tables
from datagen.verify_runner import run_verify
from tests.conftest import query, run_cli

JOBS = {"A": ("math", 10), "B": ("logic", 10), "C": ("code", 6)}  # job: (tasks, problems)

# what two workspaces of the same rows hold alike: everything but the times measured and the
# workspace path in a job's config
SAME = {
    "problems": "select * exclude (created_at) from problems",
    "completions": "select * exclude (created_at, latency_ms) from completions",
    "job_completions": "select * from job_completions",
    "verdicts": "select * exclude (created_at, elapsed_ms) from verdicts",
    "jobs": "select job, teacher, status, requested, stored, failed, "
    "json_extract_string(config, '$.tasks') from jobs",
}


def make(ws: Path, *jobs: str) -> Path:
    for job in jobs:
        tasks, count = JOBS[job]
        run_generate(GenerateConfig(workspace=str(ws), job=job, tasks=tasks, count=count, samples=2))
    run_verify(ws, workers=1)
    return ws


@pytest.fixture(scope="module")
def made(tmp_path_factory):
    """W2 ran jobs A and B, W3 ran B and C (B overlaps), ONE ran A, B and C."""
    root = tmp_path_factory.mktemp("merge")
    return make(root / "W2", "A", "B"), make(root / "W3", "B", "C"), make(root / "ONE", "A", "B", "C")


def copy(ws: Path, to: Path) -> Path:
    shutil.copytree(ws, to)
    return to


def contents(ws: Path) -> dict[str, list]:
    return {table: sorted(query(ws, sql), key=repr) for table, sql in SAME.items()}


def fingerprint(ws: Path) -> dict[str, str]:
    """Every file of a workspace and its hash: proof that nothing wrote to it."""
    return {str(p.relative_to(ws)): hashlib.sha256(p.read_bytes()).hexdigest() for p in ws.rglob("*")}


def test_two_workspaces_merged_equal_one_that_ran_both(made, tmp_path):
    w2, w3, one = made
    before = fingerprint(w2), fingerprint(w3)
    result = run_cli("ingest", str(w2), str(w3), "--workspace", str(tmp_path / "W"))
    assert result.returncode == 0, result.stderr
    # logic's problems and B's completions are in W2 already: W3 adds only C's
    assert result.stdout.splitlines() == [
        f"ingested workspace {w2}: problems +20, completions +40, job_completions +40, verdicts +40, jobs +2",
        f"ingested workspace {w3}: problems +6, completions +12, job_completions +12, verdicts +12, jobs +1",
    ]
    assert contents(tmp_path / "W") == contents(one)
    assert (fingerprint(w2), fingerprint(w3)) == before  # opened read-only, never written


def test_ingesting_twice_adds_nothing(made, tmp_path):
    w2, w3, _ = made
    ws = copy(w2, tmp_path / "W")
    assert run_cli("ingest", str(w3), "--workspace", str(ws)).returncode == 0
    once = contents(ws)
    again = run_cli("ingest", str(w3), str(w2 / "cotmill.duckdb"), "--workspace", str(ws))
    assert again.returncode == 0, again.stderr
    assert again.stdout.splitlines() == [
        f"ingested workspace {w3}: nothing new",
        f"ingested workspace {w2}: nothing new",
    ]
    assert contents(ws) == once


def _spoil(ws: Path, job: str) -> str:
    """Turn one of `job`'s completions into an error row (its verdicts gone, as an error row
    is never judged) and its job row into that of a run that failed it; its id."""
    con = duckdb.connect(str(ws / "cotmill.duckdb"))
    try:
        (cid,) = con.execute(
            "select min(completion_id) from completions where job = ? and error is null", [job]
        ).fetchone()
        con.execute(
            "update completions set text = null, finish_reason = null, error = 'HTTP 503' where completion_id = ?",
            [cid],
        )
        con.execute("delete from verdicts where completion_id = ?", [cid])
        con.execute("update jobs set stored = stored - 1, failed = 1, status = 'failed' where job = ?", [job])
    finally:
        con.close()
    return cid


def test_an_error_row_is_replaced_by_the_others_success(made, tmp_path):
    w2, _, _ = made
    ws = copy(w2, tmp_path / "W")
    cid = _spoil(ws, "A")
    with Store.open(ws) as store:
        merged = merge.merge_workspace(store, w2)
        again = merge.merge_workspace(store, w2)
    assert (merged.replaced, merged.added, merged.recounted) == (1, {"verdicts": 1}, 1)
    assert (again.replaced, again.added, again.recounted) == (0, {}, 0)
    assert contents(ws) == contents(w2)  # the completion, its verdict, job A's counts and status
    assert query(ws, f"select error from completions where completion_id = '{cid}'") == [(None,)]
    assert merged.summary() == (
        f"ingested workspace {w2}: verdicts +1, 1 error row(s) replaced by successes, 1 job(s) recounted"
    )


def test_a_success_is_never_replaced_by_the_others_error_row(made, tmp_path):
    w2, _, _ = made
    spoilt = copy(w2, tmp_path / "spoilt")
    _spoil(spoilt, "A")
    ws = copy(w2, tmp_path / "W")
    with Store.open(ws) as store:
        merged = merge.merge_workspace(store, spoilt)
    assert (merged.replaced, merged.added, merged.recounted) == (0, {}, 0)
    assert contents(ws) == contents(w2)


def test_a_job_both_ran_in_part_is_recounted_over_the_merged_rows(made, tmp_path):
    """Each holds B with a different completion failed: merged, B is whole and done."""
    w2, w3, one = made
    left, right = copy(w2, tmp_path / "left"), copy(w3, tmp_path / "right")
    _spoil(left, "B")
    con = duckdb.connect(str(right / "cotmill.duckdb"))
    (cid,) = con.execute("select max(completion_id) from completions where job = 'B'").fetchone()
    con.execute("update completions set error = 'HTTP 503', text = null where completion_id = ?", [cid])
    con.execute("update jobs set stored = 19, failed = 1, status = 'failed' where job = 'B'")
    con.close()
    with Store.open(left) as store:
        merge.merge_workspace(store, right)
    assert query(left, "select status, requested, stored, failed from jobs where job = 'B'") == [
        ("done", 20, 20, 0)
    ]


def _add_units(ws: Path, mixture_rows: int, run: str, job: str) -> None:
    """A mixture `m`, a training run with metrics and an eval, and a reject set, by hand."""
    with Store.open(ws) as store:
        ids = [
            r[0]
            for r in store.con.execute(
                "select completion_id from completions limit ?", [mixture_rows]
            ).fetchall()
        ]
        store.write_batch(
            [
                ("mixtures", [{"name": "m", "total": mixture_rows}], "IGNORE"),
                (
                    "mixture_items",
                    [
                        {"mixture": "m", "completion_id": c, "position": i, "repeat": 0}
                        for i, c in enumerate(ids)
                    ],
                    "IGNORE",
                ),  # fmt: skip
                ("runs", [{"run": run, "kind": "sft", "status": "finished"}], "IGNORE"),
                (
                    "metrics",
                    [{"run": run, "step": s, "name": "loss", "value": 1.0 / s} for s in (1, 2)],
                    "APPEND",
                ),
                ("evals", [{"run": run, "metric": "pass@1", "k": 1, "value": 0.5, "n": 10}], "APPEND"),
                (
                    "rejects",
                    [{"source": "x.jsonl", "location": "line 3", "reason": "no answer", "job": job}],
                    "APPEND",
                ),  # fmt: skip
            ]
        )


def test_mixtures_runs_and_rejects_merge_as_units(made, tmp_path):
    """One this workspace lacks comes whole; one of the same name stays as it is."""
    w2, w3, _ = made
    here, other = copy(w2, tmp_path / "here"), copy(w3, tmp_path / "other")
    _add_units(here, 2, "sft-1", "A")
    _add_units(other, 3, "sft-1", "A")  # the same names: this workspace keeps its own
    with Store.open(other) as store:
        store.write_batch([("runs", [{"run": "sft-2", "kind": "sft"}], "IGNORE"),
                           ("metrics", [{"run": "sft-2", "step": 1, "name": "loss", "value": 2.0}], "APPEND"),
                           ("rejects", [{"source": "y.jsonl", "location": "line 1", "reason": "bad", "job": "C"}],
                            "APPEND")])  # fmt: skip
    with Store.open(here) as store:
        merged = merge.merge_workspace(store, other)
        again = merge.merge_workspace(store, other)
    assert {t: merged.added.get(t, 0) for t in ("mixtures", "mixture_items", "runs", "metrics", "rejects")} == {
        "mixtures": 0, "mixture_items": 0, "runs": 1, "metrics": 1, "rejects": 1
    }  # fmt: skip
    assert again.added == {}
    assert query(here, "select count(*) from mixture_items where mixture = 'm'") == [(2,)]
    assert query(here, "select run, count(*) from metrics group by run order by run") == [
        ("sft-1", 2),
        ("sft-2", 1),
    ]
    assert query(here, "select count(*) from evals") == [(1,)]
    assert query(here, "select source, job from rejects order by source") == [
        ("x.jsonl", "A"),
        ("y.jsonl", "C"),
    ]
    fresh = tmp_path / "fresh"
    with Store.open(fresh) as store:
        merged = merge.merge_workspace(store, other)
    assert {t: merged.added.get(t) for t in ("mixtures", "mixture_items", "runs", "metrics", "evals")} == {
        "mixtures": 1, "mixture_items": 3, "runs": 2, "metrics": 3, "evals": 1
    }  # fmt: skip


def test_pipeline_stages_are_not_merged(made, tmp_path):
    w2, _, _ = made
    other = copy(w2, tmp_path / "other")
    with Store.open(other) as store:
        store.insert_rows("pipeline_stages", [{"stage": "curate", "fingerprint": "f"}])
    with Store.open(tmp_path / "W") as store:
        merge.merge_workspace(store, other)
    assert query(tmp_path / "W", "select count(*) from pipeline_stages") == [(0,)]


def test_every_table_is_merged_or_named_as_not_merged():
    """A table a new migration adds must be given a rule here."""
    merged = {table for table, _ in merge.MERGES} | {"jobs"}
    assert merged | set(merge.NOT_MERGED) == own_tables()
    assert not merged & set(merge.NOT_MERGED)


def test_an_older_workspace_is_migrated_in_a_copy(made, tmp_path):
    """A workspace from before job_completions: its links come from completions.job, as its
    own migration would make them, and its file is left as it was."""
    w2, _, _ = made
    old = copy(w2, tmp_path / "old")
    con = duckdb.connect(str(old / "cotmill.duckdb"))
    con.execute("drop table job_completions")
    con.execute("delete from schema_version where version = ?", [SCHEMA_VERSION])
    con.close()
    before = fingerprint(old)
    with Store.open(tmp_path / "W") as store:
        merged = merge.merge_workspace(store, old)
    assert merged.added["job_completions"] == 40
    assert contents(tmp_path / "W") == contents(w2)
    assert fingerprint(old) == before
    assert [p.name for p in (tmp_path / "W").iterdir() if p.name.startswith(".ingest-")] == []


def test_a_newer_workspace_is_refused(made, tmp_path):
    w2, _, _ = made
    newer = copy(w2, tmp_path / "newer")
    con = duckdb.connect(str(newer / "cotmill.duckdb"))
    con.execute("insert into schema_version (version) values (?)", [SCHEMA_VERSION + 1])
    con.close()
    ws = copy(w2, tmp_path / "W")
    result = run_cli("ingest", str(newer), "--workspace", str(ws))
    assert result.returncode == 1
    assert result.stderr.strip() == (
        f"error: workspace {newer} has schema version {SCHEMA_VERSION + 1}, newer than this cotmill "
        f"understands ({SCHEMA_VERSION}); upgrade cotmill"
    )


@pytest.mark.parametrize("kind", ["empty directory", "text file", "missing", "itself"])
def test_a_path_that_is_no_shard_nor_workspace_is_named(made, tmp_path, kind):
    w2, w3, _ = made
    ws = copy(w2, tmp_path / "W")
    path, message = {
        "empty directory": (
            tmp_path / "empty",
            "neither a workspace (no cotmill.duckdb) nor a directory of shards (no *.parquet)",
        ),
        "text file": (tmp_path / "notes.txt", "not a readable Parquet file"),
        "missing": (tmp_path / "nowhere", "no such file or directory"),
        "itself": (ws, "is the workspace being ingested into"),
    }[kind]
    if kind == "empty directory":
        path.mkdir()
    if kind == "text file":
        path.write_text("hello")
    before = fingerprint(ws)
    # W3 first: a bad path among several is found before anything is merged
    result = run_cli("ingest", str(w3), str(path), "--workspace", str(ws))
    assert result.returncode == 1
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith(f"error: {path}: {message}")
    assert fingerprint(ws) == before


def test_a_missing_workspace_is_created_for_workspaces_only(made, tmp_path):
    """Shards alone need a workspace that holds their completions; workspaces make one."""
    w2, _, _ = made
    shard = shards.write_shard(tmp_path / "s" / "part-0.parquet", "verdicts", [{"completion_id": "c"}])
    with pytest.raises(WorkspaceError, match="no workspace at"):
        Workspace(tmp_path / "W").ingest(shard)
    done = Workspace(tmp_path / "new").ingest(w2)
    assert (done.shards, done.rows, [m.source for m in done.workspaces]) == (0, 0, [w2])
    assert done.workspaces[0].rows == 20 + 40 + 40 + 40 + 2


def test_a_hand_altered_workspace_is_refused_whole(made, tmp_path):
    """A column of its own (`cotmill sql --write --force`) has nowhere to go: nothing of that
    workspace is added, and the error names it."""
    w2, w3, _ = made
    altered = copy(w3, tmp_path / "altered")
    con = duckdb.connect(str(altered / "cotmill.duckdb"))
    con.execute("alter table verdicts add column colour varchar")
    con.close()
    ws = copy(w2, tmp_path / "W")
    before = contents(ws)
    result = run_cli("ingest", str(altered), "--workspace", str(ws))
    assert result.returncode == 1
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith(f"error: cannot merge workspace {altered}: ")
    assert "colour" in line and line.endswith("; nothing of it was added")
    assert contents(ws) == before
