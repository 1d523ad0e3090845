"""RunLogger: TensorBoard, metrics.jsonl and the workspace tables, without holding the
workspace between flushes."""

from __future__ import annotations

import json
import math
import os

import pytest
import torch

from datagen.store import Store
from tests.conftest import query
from train.metrics import RunLogger


def _tb_scalars(out) -> dict[str, list[tuple[int, float]]]:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(out / "tb"))
    acc.Reload()
    return {tag: [(e.step, e.value) for e in acc.Scalars(tag)] for tag in acc.Tags()["scalars"]}


def test_files_and_tensorboard_without_a_workspace(tmp_path):
    import torch

    out = tmp_path / "run"
    logger = RunLogger(kind="sft", out_dir=out)
    assert logger.run.startswith("sft-run-") and logger.run.endswith("Z")
    logger.log(1, {"loss": 2.5, "lr": torch.tensor(1e-3)})
    logger.log(2, {"loss": float("nan")})
    logger.text(2, "sample", "Step 1: 2+2=4 \\boxed{4} ✓")
    logger.finish()
    lines = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [(r["step"], r["loss"]) for r in lines] == [(1, 2.5), (2, None)]  # NaN is not JSON: null
    assert lines[0]["lr"] == pytest.approx(1e-3)
    sample = json.loads((out / "samples.jsonl").read_text())
    assert sample == {"step": 2, "tag": "sample", "text": "Step 1: 2+2=4 \\boxed{4} ✓"}
    scalars = _tb_scalars(out)
    assert scalars["loss"][0] == (1, 2.5) and math.isnan(scalars["loss"][1][1])
    assert scalars["lr"][0][1] == pytest.approx(1e-3)


def test_rows_reach_the_store_at_each_flush_and_the_lock_is_free_between(tmp_path):
    w = tmp_path / "ws"
    logger = RunLogger(kind="grpo", out_dir=tmp_path / "out", workspace=w, run="r1", model="m", data="d",
                       config={"lr": 1e-4}, flush_every=3)  # fmt: skip
    assert query(w, "SELECT run, kind, model, data, status, config FROM runs") == [
        ("r1", "grpo", "m", "d", "running", '{"lr": 0.0001}')
    ]
    for step in (1, 2):
        logger.log(step, {"reward": step / 10, "kl": 0.0})
    # buffered, and the workspace is free: a reader and even a writer get in
    assert query(w, "SELECT count(*) FROM metrics") == [(0,)]
    Store.open(w).close()
    logger.log(3, {"reward": 0.3, "kl": 0.0})  # the third call flushes
    assert query(w, "SELECT count(*) FROM metrics") == [(6,)]
    logger.log(4, {"reward": 0.4})
    logger.finish(summary={"reward": 0.4})
    rows = query(w, "SELECT step, value FROM metrics WHERE name = 'reward' ORDER BY step")
    assert rows == [(1, 0.1), (2, 0.2), (3, 0.3), (4, 0.4)]
    status, summary, started, finished = query(
        w, "SELECT status, summary, started_at, finished_at FROM runs"
    )[0]
    assert status == "finished" and json.loads(summary) == {"reward": 0.4} and finished >= started

    # what it ran on, so two machines' figures can be told apart
    (env,) = query(w, "SELECT env FROM runs")[0]
    env = json.loads(env)
    assert env["threads"] == torch.get_num_threads() >= 1 and env["cores"] == os.cpu_count()
    assert env["cpu"] and env["versions"]["torch"] and env["versions"]["cotmill"]
    assert env["versions"]["transformers"] and env["python"].count(".") == 2
    assert env["commit"] is None or len(env["commit"].removesuffix("+dirty")) == 40


def test_busy_workspace_keeps_the_buffer_and_warns_once(tmp_path, capsys):
    w = tmp_path / "ws"
    Store.open(w).close()
    holder = Store.open(w)  # another writer holds the workspace
    logger = RunLogger(kind="sft", out_dir=tmp_path / "out", workspace=w, run="busy", flush_every=1)
    logger.log(1, {"loss": 1.0})
    logger.log(2, {"loss": 0.9})
    err = capsys.readouterr().err
    assert err.count("warning:") == 1 and "is in use by" in err and "retried" in err
    holder.close()
    logger.log(3, {"loss": 0.8})
    logger.finish()
    assert query(w, "SELECT step FROM metrics ORDER BY step") == [(1,), (2,), (3,)]
    assert query(w, "SELECT status FROM runs") == [("finished",)]


def test_resumed_run_keeps_its_row_and_appends(tmp_path):
    w, out = tmp_path / "ws", tmp_path / "out"
    first = RunLogger(kind="sft", out_dir=out, workspace=w, run="r")
    first.log(1, {"loss": 1.0})
    first.finish("interrupted")
    (started,) = query(w, "SELECT started_at FROM runs")[0]
    with RunLogger(kind="sft", out_dir=out, workspace=w, run="r") as again:
        assert query(w, "SELECT status, finished_at FROM runs") == [("running", None)]
        again.log(1, {"loss": 0.95})  # a step logged again: both rows kept, the latest wins
        again.log(2, {"loss": 0.9})
    assert query(w, "SELECT count(*), min(started_at) FROM runs") == [(1, started)]
    assert query(w, "SELECT status FROM runs") == [("finished",)]
    latest = query(w, """SELECT step, arg_max(value, created_at) FROM metrics WHERE name = 'loss'
                         GROUP BY step ORDER BY step""")  # fmt: skip
    assert latest == [(1, 0.95), (2, 0.9)]
    assert len((out / "metrics.jsonl").read_text().splitlines()) == 3


def test_an_exception_marks_the_run_failed(tmp_path):
    w = tmp_path / "ws"
    with pytest.raises(RuntimeError), RunLogger(kind="sft", out_dir=tmp_path / "o", workspace=w, run="x"):
        raise RuntimeError("boom")
    assert query(w, "SELECT status FROM runs") == [("failed",)]
