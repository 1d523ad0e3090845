"""`cotmill train grpo` end to end in a subprocess: train, store metrics, resume errors, config errors."""

from __future__ import annotations

import json
import shutil

from tests.conftest import query, run_cli


def test_grpo_trains_stores_metrics_and_resumes(tiny_model_dir, workspace_exports, tmp_path):
    ws = tmp_path / "ws"
    shutil.copytree(workspace_exports.workspace, ws, ignore=shutil.ignore_patterns("cotmill.lock"))
    out = tmp_path / "run"
    config = tmp_path / "grpo.yaml"
    config.write_text("prompts-per-step: 2\ngroup_size: 4\nmax-new-tokens: 8\nbeta: 0.05\n")
    args = ["train", "grpo", "--config", str(config), "--model", str(tiny_model_dir), "--data",
            str(workspace_exports.rl), "--out", str(out), "--max-steps", "2", "--loss", "grpo",
            "--dynamic-sampling", "--max-sampling-rounds", "1", "--workspace", str(ws), "--run", "cli-grpo"]  # fmt: skip
    done = run_cli(*args, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "run cli-grpo: 2 steps" in done.stdout and f"final: {out / 'final'}" in done.stdout
    assert "step 2/2" in done.stderr and "  trained " in done.stderr
    # a run in which no completion trained says so, loudly, and only then
    trained = int(done.stdout.split(" completions trained")[0].rsplit(" ", 1)[1].replace(",", ""))
    assert ("warning: step 1: no completion was trained" in done.stderr) == (trained == 0), done.stderr
    assert ("step(s) trained no completion" in done.stderr) == (trained == 0)
    assert "data: mixture train-mix, format rl, " in done.stderr
    assert (out / "final" / "adapter_config.json").exists()
    names = dict(query(ws, "SELECT name, count(*) FROM metrics WHERE run = 'cli-grpo' GROUP BY name"))
    assert names["groups/zero_std_share"] == 2
    status, stored = query(ws, "SELECT status, config FROM runs WHERE run = 'cli-grpo'")[0]
    stored = json.loads(stored)
    assert status == "finished" and (stored["group_size"], stored["loss"], stored["dynamic_sampling"]) == (
        4,
        "grpo",
        True,
    )

    # --resume takes the saved settings (the rest of that path is tested in tests/train/test_grpo.py)
    again = run_cli("train", "grpo", "--out", str(out), "--resume", timeout=300)
    assert again.returncode != 0 and "Traceback" not in again.stderr
    assert "error: nothing to train: checkpoint at step 2, --max-steps 2" in again.stderr


def test_grpo_errors_are_one_line(tiny_model_dir, workspace_exports, tmp_path):
    from mixtures.export_dir import write_export

    bad = tmp_path / "grpo.yaml"
    bad.write_text("model: m\ndata: d\nout: o\ngroup-sise: 4\n")
    done = run_cli("train", "grpo", "--config", str(bad))
    assert done.returncode != 0 and f"error: {bad}: key 'group_sise': unknown key" in done.stderr
    absent = run_cli("train", "grpo", "--model", str(tmp_path / "nope"), "--data", str(tmp_path), "--out",
                     str(tmp_path / "o"))  # fmt: skip
    assert (
        absent.returncode != 0 and "no such directory" in absent.stderr and "Traceback" not in absent.stderr
    )
    sft = run_cli("train", "grpo", "--model", str(tiny_model_dir), "--data", str(workspace_exports.sft), "--out",
                  str(tmp_path / "o"))  # fmt: skip
    assert sft.returncode == 1 and "Traceback" not in sft.stderr
    assert "an sft export of mixture train-mix; train grpo needs an rl export" in sft.stderr
    empty = tmp_path / "empty"
    # cotmill refuses to export no rows (mixtures.export.why_empty); an empty export written
    # another way (an older version, by hand) is still refused by the trainer
    write_export(
        [], empty, "jsonl", {"mixture": "train-mix", "format": "rl", "workspace": "w", "options": {}}
    )
    done = run_cli(
        "train", "grpo", "--model", str(tiny_model_dir), "--data", str(empty), "--out", str(tmp_path / "o")
    )
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert f"error: {empty}: an empty export: cotmill-export.json records 0 rows" in done.stderr
