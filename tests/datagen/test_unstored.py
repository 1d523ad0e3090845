"""Every paid reply is either stored or kept in `unstored.jsonl`, and the job says so.

The engine runs against the real test server; write failures are injected into the
store (the batch commit, single-row writes, the spill file, the final job update),
except the full-disk test, which fills a real tmpfs."""

from __future__ import annotations

import errno
import json
import os
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from datagen import unstored, writer
from datagen.config import GenerateConfig
from datagen.jobs import run_generate
from datagen.store import Store
from tests.conftest import REPO, query

FAST = {"retry_base_delay": 0.01, "retry_max_delay": 0.05, "flush_interval": 0.0}


@pytest.fixture(autouse=True)
def api_key(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")


def config(server, workspace, **kw) -> GenerateConfig:
    base = dict(
        workspace=str(workspace), job="j", tasks="arithmetic", count=12, samples=1,
        teacher="openai:fake-model", base_url=server.base_url, concurrency=4, **FAST,
    )  # fmt: skip
    return GenerateConfig(**{**base, **kw})


def unstored_ids(workspace) -> set[str]:
    path = Path(workspace) / "unstored.jsonl"
    if not path.exists():
        return set()
    return {json.loads(line)["completion_id"] for line in path.read_text().splitlines()}


def stored_ids(workspace) -> set[str]:
    return {cid for (cid,) in query(workspace, "select completion_id from completions where error is null")}


def test_a_lone_surrogate_is_replaced_recorded_and_stored(openai_server, tmp_path):
    server = openai_server(extra_text="\nbad byte: \ud800 and a pair: \ud83d\ude00")
    stats = run_generate(config(server, tmp_path))
    assert stats.stored == 12 and stats.failed == 0 and stats.unstored == 0
    got = query(tmp_path, "select text, meta from completions")
    assert len(got) == 12
    for text, meta in got:
        assert "bad byte: \ufffd and a pair: \U0001f600" in text
        assert json.loads(meta)["sanitized"] == ["text"]
    assert not (tmp_path / "unstored.jsonl").exists()


def _refuse(monkeypatch, predicate, error=RuntimeError("injected: the store refuses this row")):
    """Make the store refuse every completions row for which `predicate(row)` holds."""
    real = Store.insert_rows

    def insert_rows(self, table, rows, mode="IGNORE"):
        if table == "completions" and any(predicate(r) for r in rows):
            raise error
        return real(self, table, rows, mode)

    monkeypatch.setattr(Store, "insert_rows", insert_rows)


def test_unstorable_replies_are_counted_failed_and_never_requested_again(
    openai_server, tmp_path, monkeypatch
):
    server = openai_server()
    cfg = config(server, tmp_path)
    refused = lambda row: row["error"] is None and int(row["problem_id"][-4:], 16) % 3 == 0  # noqa: E731
    _refuse(monkeypatch, refused)
    stats = run_generate(cfg)
    held = unstored_ids(tmp_path)
    assert held and stats.unstored == len(held) and stats.failed == len(held)
    assert stats.stored == 12 - len(held)
    assert stored_ids(tmp_path) | held == set(server.state.served) and not stored_ids(tmp_path) & held
    (job,) = query(tmp_path, "select status, stored, failed from jobs")
    assert job == ("failed", 12 - len(held), len(held))

    # the store still refuses them: the re-run pays for nothing and says so
    served = sum(server.state.served.values())
    stats = run_generate(cfg)
    assert sum(server.state.served.values()) == served
    assert stats.unstored == len(held) and stats.failed == len(held)
    assert unstored_ids(tmp_path) == held

    # the store takes them again: they are ingested from the file, still not requested
    monkeypatch.undo()
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    stats = run_generate(cfg)
    assert sum(server.state.served.values()) == served
    assert stats.failed == 0 and stats.reingested == len(held)
    assert stored_ids(tmp_path) == set(server.state.served)
    assert not (tmp_path / "unstored.jsonl").exists()
    assert query(tmp_path, "select status, stored, failed from jobs") == [("done", 12, 0)]


def test_a_torn_line_in_unstored_jsonl_is_kept(tmp_path):
    with Store.open(tmp_path):
        pass
    (tmp_path / "unstored.jsonl").write_text('{"completion_id": "abc", "te')
    with Store.open(tmp_path) as store:
        result = unstored.ingest(store)
    assert result.stored == 0 and result.held == set()
    assert (tmp_path / "unstored.jsonl").read_text() == '{"completion_id": "abc", "te\n'


DISK_FULL = OSError(errno.ENOSPC, "No space left on device")


@pytest.mark.parametrize(
    "where",
    ["batch", "every-row", "disk-full", "disk-full-and-spill", "job-update", "store-gone", "checkpoint"],
)
def test_injected_write_errors_lose_no_reply_unrecorded(openai_server, tmp_path, monkeypatch, where):
    """Wherever a write fails, each reply the server served is stored, in
    unstored.jsonl, or (when even that file cannot be written) counted as lost."""
    server = openai_server(delay_s=0.01)
    cfg = config(server, tmp_path, count=24)
    if where == "batch":  # batches fail, single rows go through
        real = Store.write_batch

        def write_batch(self, batches):
            batches = list(batches)
            if sum(len(rows) for table, rows, _ in batches if table == "completions") > 1:
                raise RuntimeError("injected: batch refused")
            return real(self, batches)

        monkeypatch.setattr(Store, "write_batch", write_batch)
    elif where == "every-row":
        _refuse(monkeypatch, lambda row: True)
    elif where.startswith("disk-full"):
        count = {"n": 0}

        def after_five(row):
            count["n"] += 1
            return count["n"] > 5

        _refuse(monkeypatch, after_five, DISK_FULL)
        if where == "disk-full-and-spill":
            monkeypatch.setattr(unstored, "_append_lines", _raise_disk_full)
    elif where == "store-gone":  # DuckDB invalidated the connection: stop, spill, do not pay on
        count = {"n": 0}

        def after_five_gone(row):
            count["n"] += 1
            return count["n"] > 5

        _refuse(
            monkeypatch, after_five_gone, duckdb.FatalException("FATAL Error: database has been invalidated")
        )
    elif where == "checkpoint":  # a checkpoint that fails for another reason: said, rows kept in the WAL
        monkeypatch.setattr(writer, "CHECKPOINT_WAL_BYTES", 0)

        def checkpoint_if_room(self, margin=0):
            raise RuntimeError("injected: checkpoint failed")

        monkeypatch.setattr(Store, "checkpoint_if_room", checkpoint_if_room)
    elif where == "job-update":
        real_upsert = Store.upsert_job

        def upsert_job(self, job, **fields):
            if fields.get("status") in ("done", "failed"):
                raise DISK_FULL
            return real_upsert(self, job, **fields)

        monkeypatch.setattr(Store, "upsert_job", upsert_job)

    notices = []
    stats = run_generate(cfg, on_notice=notices.append)
    served = set(server.state.served)
    kept = stored_ids(tmp_path) | unstored_ids(tmp_path)
    assert len(kept) + stats.lost == len(served) and kept <= served
    assert stats.stored == len(stored_ids(tmp_path))
    if where == "batch":
        assert stats.failed == 0 and stats.stored == 24
    if where == "store-gone":
        assert "the store failed" in stats.fatal and stats.stored <= 5
        assert stats.unstored == len(served) - stats.stored and len(served) < 24
    if where == "checkpoint":
        assert stats.stored == 24 and not stats.fatal and stats.failed == 0
        assert any("checkpoint failed" in n for n in notices)
    if where == "job-update":  # all stored; the job row could not say so, and the job does
        assert stats.stored == 24 and "disk full" in stats.fatal and "job" in stats.fatal
    if where == "every-row":
        assert stats.unstored == len(served) == stats.failed and not stats.fatal
        assert query(tmp_path, "select status from jobs") == [("failed",)]
    if where.startswith("disk-full"):
        assert "disk full" in stats.fatal
        assert query(tmp_path, "select status from jobs") == [("failed",)]
        # `failed` counts every reply not stored, the lost ones too (a loaded machine lets
        # more replies arrive before the stop; counting lost twice failed there once)
        assert stats.stored + stats.failed <= 24 and stats.lost <= stats.failed and stats.stored <= 5
    if where == "disk-full":
        assert stats.lost == 0 and stats.unstored == len(served) - stats.stored
    if where == "disk-full-and-spill":
        assert stats.lost == len(served) - stats.stored > 0
        assert "unstored.jsonl failed too" in stats.lost_reason


def _raise_disk_full(path, lines):
    raise DISK_FULL


def _mount_tmpfs(path: Path, size: str) -> bool:
    path.mkdir()
    if os.geteuid() != 0:
        return False
    return subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)]).returncode == 0


def test_a_full_disk_stores_or_spills_every_reply_and_exits_2(openai_server, tmp_path):
    disk = tmp_path / "disk"
    if not _mount_tmpfs(disk, "40m"):
        pytest.skip("needs root to mount a small tmpfs")
    try:
        server = openai_server(filler_bytes=60_000)  # ~80 kB a reply, incompressible
        ws = disk / "w"
        args = [sys.executable, "-m", "cotmill", "generate", "-w", str(ws), "--job", "full",
                "--tasks", "arithmetic", "--count", "600", "--teacher", "openai:fake",
                "--base-url", server.base_url, "--concurrency", "8"]  # fmt: skip
        env = {**os.environ, "OPENAI_API_KEY": "sk-test"}
        first = subprocess.run(args, env=env, cwd=REPO, capture_output=True, text=True, timeout=300)
        assert first.returncode == 2, first.stderr
        assert "disk full" in first.stderr and "Traceback" not in first.stderr
        assert "cannot rollback" not in first.stderr
        served = set(server.state.served)
        assert 0 < len(served) < 600
        assert stored_ids(ws) | unstored_ids(ws) == served
        assert query(ws, "select status from jobs") == [("failed",)]

        # room again: the re-run ingests the spilled replies and pays only for new ones
        subprocess.run(["mount", "-o", "remount,size=128m", str(disk)], check=True)
        server.state.served.clear()
        second = subprocess.run(args, env=env, cwd=REPO, capture_output=True, text=True, timeout=300)
        assert second.returncode == 0, second.stderr
        assert not served & set(server.state.served)
        assert len(stored_ids(ws)) == 600 and not (ws / "unstored.jsonl").exists()
    finally:
        subprocess.run(["umount", "-l", str(disk)])


def test_a_spill_after_a_torn_line_starts_a_line_of_its_own(tmp_path):
    """A crash mid-append leaves a torn last line; the next spill must not glue its
    row onto it, or that paid reply could not be read back (and would be paid again)."""
    with Store.open(tmp_path) as store:
        (tmp_path / "unstored.jsonl").write_text('{"completion_id": "torn", "te')
        row = {"completion_id": "c1", "problem_id": "p", "job": "j", "teacher": "t", "strategy": "cot",
               "sample_index": 0, "text": "answer", "reasoning": None, "finish_reason": "stop",
               "prompt_tokens": 1, "completion_tokens": 1, "cost_usd": 0.0, "latency_ms": 1.0,
               "error": None, "meta": "{}"}  # fmt: skip
        unstored.spill(tmp_path, [row], "refused")
        result = unstored.ingest(store)
        assert result.stored == 1 and result.held == set()
        assert query_store(store, "select text from completions") == [("answer",)]
    assert (tmp_path / "unstored.jsonl").read_text() == '{"completion_id": "torn", "te\n'


def test_a_failed_append_is_cut_back(tmp_path, monkeypatch):
    path = tmp_path / "unstored.jsonl"
    path.write_text('{"completion_id": "a"}\n')
    real_fsync = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: (_ for _ in ()).throw(DISK_FULL))
    with pytest.raises(OSError):
        unstored.spill(tmp_path, [{"completion_id": "b", "error": None}], "disk full")
    monkeypatch.setattr(os, "fsync", real_fsync)
    assert path.read_text() == '{"completion_id": "a"}\n'


def query_store(store, sql):
    return store.con.execute(sql).fetchall()


def test_disk_full_before_any_request_is_one_line_and_exit_2(openai_server, tmp_path, monkeypatch):
    """The disk fills between the reserve and the first request (storing the problems):
    the job stops as a full disk, not with DuckDB's traceback."""
    server = openai_server()
    real = Store.write_batch

    def write_batch(self, batches):
        batches = list(batches)
        if any(table == "problems" for table, _, _ in batches):
            raise DISK_FULL
        return real(self, batches)

    monkeypatch.setattr(Store, "write_batch", write_batch)
    stats = run_generate(config(server, tmp_path))
    assert stats.disk_full and stats.fatal.startswith("disk full") and server.state.requests == 0
    assert query(tmp_path, "select status from jobs") == [("failed",)]
    assert not (tmp_path / unstored.RESERVE_FILE).exists()


def test_concurrent_replies_and_commits_lose_nothing(tmp_path):
    """The writer thread commits while the loop buffers replies: with thread switches
    forced as often as possible, every reply counted as stored is in the store."""
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        stats = run_generate(
            GenerateConfig(
                workspace=str(tmp_path), tasks="math", count=3000, concurrency=32, flush_interval=0
            )
        )
    finally:
        sys.setswitchinterval(interval)
    assert stats.stored == 3000 and stats.failed == 0
    assert query(tmp_path, "select count(*) from completions where error is null") == [(3000,)]
