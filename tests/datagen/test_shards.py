"""Parquet shards and `cotmill ingest`: real files, a real store; no Ray needed."""

from __future__ import annotations

import shutil

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from datagen import shards
from datagen.config import GenerateConfig
from datagen.jobs import run_generate
from datagen.store import Store
from datagen.verify_runner import judge, pending_rows, stored_version
from tests.conftest import query, run_cli

COLUMNS = (
    "completion_id, verifier, verifier_version, passed, score, extracted, reason, steps, first_error_step"
)


@pytest.fixture(scope="module")
def judged(tmp_path_factory):
    """A workspace of builtin math completions without verdicts, and their verdicts as two
    shards written beside it (as workers elsewhere would)."""
    root = tmp_path_factory.mktemp("shards")
    ws = root / "w"
    run_generate(
        GenerateConfig(workspace=str(ws), job="s", tasks="math", count=30, samples=2, error_rate=0.3)
    )
    version = stored_version("math")
    with Store.open(ws, read_only=True) as store:
        rows = pending_rows(store, "math", version, None)
    verdicts = [judge("math", version, row) for row in rows]
    out = root / "out"
    shards.write_shard(out / "part-0.parquet", "verdicts", verdicts[:25], stage="verify", job="s")
    shards.write_shard(out / "sub" / "part-1.parquet", "verdicts", verdicts[25:], stage="verify", job="s")
    return ws, out, verdicts


def _copy(ws, tmp_path):
    shutil.copytree(ws, tmp_path / "w")
    return tmp_path / "w"


def test_ingest_twice_adds_nothing_the_second_time(judged, tmp_path):
    ws, out, verdicts = judged
    ws = _copy(ws, tmp_path)
    first = run_cli("ingest", str(out), "--workspace", str(ws))
    assert first.returncode == 0, first.stderr
    assert "ingested 2 shard(s): 60 new row(s)" in first.stdout
    again = run_cli("ingest", str(out / "part-0.parquet"), str(out / "sub"), "--workspace", str(ws))
    assert again.returncode == 0, again.stderr
    assert "ingested 2 shard(s): 0 new row(s)" in again.stdout
    stored = query(ws, f"select {COLUMNS} from verdicts order by completion_id")
    expected = sorted(tuple(v[c] for c in COLUMNS.split(", ")) for v in verdicts)
    assert stored == expected


def test_ingested_verdicts_count_as_judged(judged, tmp_path):
    """A verify after ingest judges nothing: the shards' verdicts are current ones."""
    from datagen.verify_runner import run_verify

    ws, out, _ = judged
    ws = _copy(ws, tmp_path)
    with Store.open(ws) as store:
        assert shards.ingest(store, [out]) == (2, 60)
    assert run_verify(ws, workers=1).judged == 0


def test_a_shard_keeps_its_header(judged):
    _, out, _ = judged
    header = shards.read_header(out / "part-0.parquet")
    assert header == {"format": 1, "kind": "verdicts", "stage": "verify", "job": "s"}
    assert not list(out.rglob(".*"))  # no temporary file is left behind


def test_a_parquet_file_without_a_header_is_refused_by_name(judged, tmp_path):
    ws, _, _ = judged
    ws = _copy(ws, tmp_path)
    stray = tmp_path / "stray.parquet"
    pq.write_table(pa.table({"completion_id": ["x"]}), stray)
    result = run_cli("ingest", str(stray), "--workspace", str(ws))
    assert result.returncode == 1
    assert result.stderr.strip() == (
        f"error: {stray}: a Parquet file without a cotmill shard header (key 'cotmill.shard')"
    )


def test_a_shard_with_a_foreign_column_is_refused_and_adds_nothing(judged, tmp_path):
    ws, _, verdicts = judged
    ws = _copy(ws, tmp_path)
    bad = shards.write_shard(tmp_path / "bad.parquet", "verdicts", [{**verdicts[0], "colour": "red"}])
    with Store.open(ws) as store, pytest.raises(shards.ShardError, match=r"bad\.parquet: .*colour"):
        shards.ingest_shard(store, bad)
    assert query(ws, "select count(*) from verdicts") == [(0,)]


def test_a_missing_path_is_named(tmp_path, judged):
    ws, _, _ = judged
    result = run_cli("ingest", str(tmp_path / "nowhere"), "--workspace", str(_copy(ws, tmp_path)))
    assert result.returncode == 1
    assert result.stderr.strip() == f"error: {tmp_path / 'nowhere'}: no such file or directory"


def test_unknown_kinds_are_refused_when_written():
    with pytest.raises(shards.ShardError, match="unknown shard kind 'jobs'"):
        shards.write_shard("/nonexistent/x.parquet", "jobs", [{"job": "j"}])


def test_verify_help_tells_the_shard_size_ray_uses():
    from cotmill.cli import verify
    from datagen.ray_exec import SHARD_ROWS

    (option,) = [p for p in verify.params if p.name == "shard_rows"]
    assert f"[default: {SHARD_ROWS}]" in option.help


def test_a_completions_shard_replaces_error_rows_never_successes_and_links_its_job(tmp_path):
    """What `generate --executor ray` ingests: a reply replaces an error row stored for the
    same completion (as a local job's retry does), a stored reply is never replaced, every
    row is linked to its job, and ingesting the shard again adds nothing."""
    ws = tmp_path / "w"

    def row(cid, text, error=None):
        return {"completion_id": cid, "problem_id": "p", "job": "ray", "teacher": "t", "strategy": "cot",
                "sample_index": int(cid[1:]), "text": text, "error": error, "meta": "{}"}  # fmt: skip

    with Store.open(ws) as store:
        store.write_completions([row("c0", None, "429 gave up"), row("c1", "kept")])
    part = shards.write_shard(
        tmp_path / "part.parquet",
        "completions",
        [row("c0", "replied"), row("c1", None, "500"), row("c2", "new")],
    )
    with Store.open(ws) as store:
        assert shards.ingest_shard(store, part) == 2  # c0 replaced, c2 added; c1 kept
        assert shards.ingest_shard(store, part) == 0
    assert query(ws, "select completion_id, text, error from completions order by 1") == [
        ("c0", "replied", None),
        ("c1", "kept", None),
        ("c2", "new", None),
    ]
    assert query(ws, "select completion_id from job_completions where job = 'ray' order by 1") == [
        ("c0",),
        ("c1",),
        ("c2",),
    ]
