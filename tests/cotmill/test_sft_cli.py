"""`cotmill train sft` end to end in a subprocess: train, store metrics, merge, resume errors."""

from __future__ import annotations

import json
import shutil

from tests.conftest import query, run_cli
from tests.train.conftest import tiny_model_dir, workspace_exports  # noqa: F401 - session fixtures


def test_sft_trains_stores_metrics_and_merges(tiny_model_dir, workspace_exports, tmp_path):
    ws = tmp_path / "ws"
    shutil.copytree(workspace_exports.workspace, ws, ignore=shutil.ignore_patterns("cotmill.lock"))
    out = tmp_path / "run"
    args = ["train", "sft", "--model", str(tiny_model_dir), "--data", str(workspace_exports.sft), "--out", str(out),
            "--max-steps", "2", "--batch-size", "2", "--max-length", "128", "--log-every", "1",
            "--eval-samples", "1", "--eval-max-new-tokens", "4", "--workspace", str(ws), "--run", "cli-sft"]  # fmt: skip
    done = run_cli(*args, "--merge", timeout=300)
    assert done.returncode == 0, done.stderr
    assert "run cli-sft: 2 steps, train loss" in done.stdout
    assert f"merged: {out / 'merged'}" in done.stdout
    assert (out / "final" / "adapter_config.json").exists() and (out / "merged" / "config.json").exists()
    names = dict(query(ws, "SELECT name, count(*) FROM metrics WHERE run = 'cli-sft' GROUP BY name"))
    assert names["loss"] == 2 and names["eval_loss"] == 1 and "eval_accuracy" in names
    status, config = query(ws, "SELECT status, config FROM runs WHERE run = 'cli-sft'")[0]
    assert status == "finished" and json.loads(config)["max_length"] == 128

    # --resume takes the run's saved settings; a finished run has nothing left to train
    again = run_cli("train", "sft", "--out", str(out), "--resume", timeout=300)
    assert again.returncode != 0
    assert "error: nothing to train: checkpoint at step 2, --max-steps 2" in again.stderr
    assert "Traceback" not in again.stderr


def test_sft_config_errors_name_file_and_key(tmp_path):
    bad = tmp_path / "sft.yaml"
    bad.write_text("model: m\ndata: d\nout: o\nlora-rank: 4\n")
    done = run_cli("train", "sft", "--config", str(bad))
    assert done.returncode != 0
    assert f"error: {bad}: key 'lora_rank': unknown key" in done.stderr
    missing = run_cli("train", "sft", "--model", "m", "--out", "o", "--batch-size", "0")
    assert "key 'data': Field required" in missing.stderr and "key 'batch_size'" in missing.stderr
    absent = run_cli("train", "sft", "--model", str(tmp_path / "nope"), "--data", str(tmp_path), "--out",
                     str(tmp_path / "o"))  # fmt: skip
    assert (
        absent.returncode != 0 and "no such directory" in absent.stderr and "Traceback" not in absent.stderr
    )
