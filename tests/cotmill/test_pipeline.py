"""`cotmill run pipeline.yaml`: every stage, skipping what finished, clear errors."""

from __future__ import annotations

import duckdb
import pyarrow.parquet as pq
import pytest
import yaml

from cotmill.pipeline import run_pipeline
from tests.conftest import REPO, run_cli


def write(path, data) -> str:
    path.write_text(yaml.safe_dump(data))
    return str(path)


def pipeline(tmp_path, total: int = 30) -> dict:
    return {
        "workspace": str(tmp_path / "w"),
        "generate": {"job": "p", "tasks": "math,code,logic", "count": 60, "samples": 2, "error_rate": 0.1},
        "verify": {"workers": 1},
        "curate": {},
        "mix": {"name": "m", "total": total, "ratios": {"math": 0.5, "code": 0.3, "logic": 0.2}, "seed": 1},
        "export": {"format": "sft", "as": "parquet", "out": str(tmp_path / "out")},
    }


def test_the_whole_pipeline_then_a_rerun_that_skips_finished_stages(tmp_path):
    said: list[str] = []
    path = write(tmp_path / "p.yaml", pipeline(tmp_path))
    run_pipeline(path, say=said.append)
    assert [line.split(":")[0] for line in said] == ["generate", "verify", "curate", "mix", "export"]
    rows = pq.read_table(tmp_path / "out" / "train.parquet").num_rows
    assert rows == 30  # no val split asked for
    said.clear()
    run_pipeline(path, say=said.append)
    assert all(line.endswith("skipped") for line in said) and len(said) == 5
    # a changed mix runs the mix and what follows, nothing before it
    said.clear()
    run_pipeline(write(tmp_path / "p.yaml", pipeline(tmp_path, total=20)), say=said.append)
    assert [line.endswith("skipped") for line in said] == [True, True, True, False, False]
    assert pq.read_table(tmp_path / "out" / "train.parquet").num_rows == 20
    # back to the first settings: what they made was overwritten, so mix and export run again
    said.clear()
    run_pipeline(path if write(tmp_path / "p.yaml", pipeline(tmp_path)) else path, say=said.append)
    assert [line.endswith("skipped") for line in said] == [True, True, True, False, False]
    assert pq.read_table(tmp_path / "out" / "train.parquet").num_rows == 30
    # a deleted export is written again
    import shutil

    shutil.rmtree(tmp_path / "out")
    said.clear()
    run_pipeline(path, say=said.append)
    assert said[-1].startswith("export: train 30 rows")
    # an export of another mixture made by hand in its place is replaced by the pipeline's own
    other = run_cli("export", "-w", str(tmp_path / "w"), "--mixture", "m", "--format", "rl", "--as", "jsonl",
                    "--min-pass-rate", "0", "--max-pass-rate", "1", "--out", str(tmp_path / "out"), "--overwrite")  # fmt: skip
    assert other.returncode == 0, other.stderr
    said.clear()
    run_pipeline(path, say=said.append)
    assert said[-1].startswith("export: train 30 rows") and not (tmp_path / "out" / "train.jsonl").exists()
    # but the pipeline replaces only an export: a directory that holds more is refused
    (tmp_path / "out" / "notes.txt").write_text("mine")
    with pytest.raises(ValueError, match=r"out holds notes.txt, which is not part of an export"):
        run_pipeline(write(tmp_path / "p.yaml", pipeline(tmp_path, total=20)), say=said.append)
    assert pq.read_table(tmp_path / "out" / "train.parquet").num_rows == 30


def test_bad_pipelines_name_the_file_and_key(tmp_path):
    bad = pipeline(tmp_path)
    bad["generate"]["concurrensy"] = 3
    result = run_cli("run", write(tmp_path / "a.yaml", bad))
    assert result.returncode != 0 and "a.yaml generate: key 'concurrensy': unknown key" in result.stderr
    bad = pipeline(tmp_path)
    bad["mix"]["ratios"] = {"math": 0.7}
    result = run_cli("run", write(tmp_path / "b.yaml", bad))
    assert result.returncode != 0 and "b.yaml mix: key 'ratios'" in result.stderr
    bad = pipeline(tmp_path)
    del bad["mix"]
    result = run_cli("run", write(tmp_path / "c.yaml", bad))
    assert result.returncode != 0 and "needs a 'mix' stage" in result.stderr
    result = run_cli("run", write(tmp_path / "d.yaml", {"stages": []}))
    assert result.returncode != 0 and "key 'stages': unknown key" in result.stderr
    # a misspelt reward of the last stage is refused before the first stage runs
    bad = pipeline(tmp_path)
    bad["grpo"] = {"model": "m", "data": "d", "out": "o", "reward_weights": "verifier=1,formatt=0.1"}
    result = run_cli("run", write(tmp_path / "e.yaml", bad))
    assert result.returncode != 0 and "e.yaml grpo: key 'reward_weights'" in result.stderr
    assert "unknown reward 'formatt'" in result.stderr, result.stderr
    assert not (tmp_path / "w").exists(), "a stage ran before the bad setting was found"


def test_the_quickstart_pipeline_is_valid(tmp_path):
    from cotmill.pipeline import load_pipeline

    loaded = load_pipeline(REPO / "examples" / "quickstart.yaml", str(tmp_path))
    assert loaded.generate and loaded.mix and loaded.export


def test_an_export_refuses_items_that_a_later_curate_marked(tmp_path):
    run_pipeline(write(tmp_path / "p.yaml", pipeline(tmp_path)), say=lambda line: None)
    ws = tmp_path / "w"
    con = duckdb.connect(str(ws / "cotmill.duckdb"))
    con.execute("""insert into curation_marks (kind, item_id, reason, detail)
                   select 'problem', problem_id, 'contaminated', 'test' from mixture_items limit 1""")
    con.close()
    result = run_cli("export", "-w", str(ws), "--mixture", "m", "--out", str(tmp_path / "again"))
    assert result.returncode != 0 and "1 item(s) of mixture 'm' are no longer eligible" in result.stderr
    assert "cotmill mix build" in result.stderr


def test_every_stage_takes_its_commands_keys_and_refuses_unknown_ones(tmp_path):
    from cotmill.pipeline import load_pipeline
    from datagen.config import ConfigError

    data = pipeline(tmp_path)
    # keys the CLI has and the old stages lacked: verify's job, curate's filters, export's rates
    data["verify"] = {"job": "p", "workers": 1}
    data["curate"] = {"min_tokens": 1, "require_think": False, "decontaminate": []}
    data["export"] |= {"min_pass_rate": 0, "max_pass_rate": 1}
    data["sft"] = {"model": "m", "data": "d", "out": str(tmp_path / "sft"), "lora": False, "max-steps": 3}
    data["grpo"] = {"model": "m", "data": "d", "out": str(tmp_path / "grpo"), "lora": False, "group_size": 4}
    data["eval"] = {"model": ["a", "b"], "data": "d", "samples": 2}
    loaded = load_pipeline(write(tmp_path / "ok.yaml", data))
    sft, grpo, ev = (loaded.stage(name) for name in ("sft", "grpo", "eval"))
    assert (sft.max_steps, sft.lora, grpo.lora, grpo.group_size, ev.samples) == (3, False, False, 4, 2)
    assert sft.workspace == grpo.workspace == ev.workspace == str(tmp_path / "w")  # runs go to the workspace
    assert loaded.stage("export").mixture == "m"  # the mix stage's
    for stage, key, message in [("verify", "wrokers", "unknown key"), ("curate", "min_tokens", "greater than"),
                                ("export", "as", "parquet"), ("export", "format", "unknown export format 'x'"),
                                ("sft", "lorra", "unknown key"),
                                ("grpo", "group_size", "greater than or equal to 2"), ("eval", "split", "val")]:  # fmt: skip
        bad = pipeline(tmp_path) | {k: data[k] for k in ("sft", "grpo", "eval")}
        bad[stage] = {**bad[stage], key: -1 if key in ("min_tokens", "group_size") else "x"}
        with pytest.raises(ConfigError, match=rf"bad.yaml {stage}: key '{key}': .*{message}"):
            load_pipeline(write(tmp_path / "bad.yaml", bad))


def test_a_pipeline_trains_and_evaluates(tmp_path, tiny_model_dir):
    """sft and eval stages after the export: the same settings as `train sft` and `eval`, stored in
    the workspace; a re-run skips them while the run's final/ model is there."""
    data = pipeline(tmp_path)
    out = tmp_path / "sft"
    data["sft"] = {"model": str(tiny_model_dir), "data": str(tmp_path / "out"), "out": str(out), "max_steps": 1,
                   "batch_size": 2, "max_length": 128, "eval_samples": 0, "run": "p-sft"}  # fmt: skip
    data["eval"] = {"model": str(out / "final"), "data": str(tmp_path / "out"), "split": "train", "limit": 2,
                    "max_new_tokens": 4, "run": "p-eval"}  # fmt: skip
    said: list[str] = []
    path = write(tmp_path / "p.yaml", data)
    run_pipeline(path, say=said.append)
    assert said[-2].startswith("sft: run p-sft: 1 steps") and said[-1] == "eval: run p-eval: 2 problems"
    con = duckdb.connect(str(tmp_path / "w" / "cotmill.duckdb"), read_only=True)
    assert con.execute("SELECT run, status FROM runs ORDER BY run").fetchall() == [
        ("p-eval", "finished"), ("p-sft", "finished")]  # fmt: skip
    con.close()
    said.clear()
    run_pipeline(path, say=said.append)
    assert all(line.endswith("skipped") for line in said) and len(said) == 7
    import shutil

    shutil.rmtree(out)  # a training run whose model is gone runs again
    said.clear()
    run_pipeline(path, say=said.append)
    assert [line.endswith("skipped") for line in said] == [True] * 5 + [False, True]
