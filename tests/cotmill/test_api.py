"""The Python API (`cotmill.Workspace`): the whole loop in-process with the builtin teacher,
generate from a running event loop and from a thread, config errors, and the README's example."""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
import sys
import threading
from pathlib import Path

import polars as pl
import pytest

from cotmill import Workspace
from datagen.config import ConfigError, GenerateConfig
from datagen.store import WorkspaceError
from mixtures.spec import SpecError

REPO = Path(__file__).resolve().parents[2]
JOB = dict(job="a", tasks=["arithmetic", "knights_knaves"], count=20, samples=2, teacher="builtin")


def _completions(ws: Workspace, job: str) -> int:
    return ws.sql(f"SELECT count(*) AS n FROM completions WHERE job = '{job}' AND error IS NULL")["n"][0]


def test_whole_loop_in_process(tmp_path):
    ws = Workspace(tmp_path / "w")
    stats = ws.generate(**JOB, error_rate=0.3)
    assert (stats.requested, stats.stored, stats.failed) == (40, 40, 0)

    verified = ws.verify(workers=1)
    assert verified.judged == 40 and 0 < verified.passed < 40  # planted slips fail
    curated = ws.curate()
    assert curated.completions == 40 and 0 < curated.curated < verified.passed

    spec = {"name": "m", "total": 10, "ratios": {"math": 0.5, "logic": 0.5}, "split": {"val": 0.2}}
    plan, items, replaced = ws.mix(spec)
    assert len(items) == 10 and not replaced
    counts, paths = ws.export("m", as_="jsonl", out=tmp_path / "out")
    assert counts == {"train": 8, "val": 2}
    rows = [json.loads(line) for line in paths["train"].read_text().splitlines()]
    assert len(rows) == 8 and rows[0]["messages"][-1]["role"] == "assistant"  # sft, the default format

    frame = ws.sql("SELECT count(*) AS n FROM completions")
    assert isinstance(frame, pl.DataFrame) and frame["n"][0] == 40
    verdicts = ws.table("verdicts")
    assert isinstance(verdicts, pl.DataFrame)
    assert verdicts.height == 40 and verdicts["passed"].sum() == verified.passed
    assert ws.table("mixture_items").height == 10


def test_generate_in_a_running_loop_and_a_thread(tmp_path):
    ws = Workspace(tmp_path / "w")

    # a completion's id is a hash of its request: other tasks, so that each job has work to do
    def small(job: str, task: str) -> dict:
        return {**JOB, "job": job, "tasks": task, "count": 4}

    async def in_loop():  # as in Jupyter: asyncio.run would refuse here
        return ws.generate(**small("loop", "arithmetic"))

    assert asyncio.run(in_loop()).stored == 8
    assert asyncio.run(ws.agenerate(**small("async", "knights_knaves"))).stored == 8

    # a worker thread may not set signal handlers: the job leaves SIGTERM alone there
    outcome = {}
    thread = threading.Thread(target=lambda: outcome.update(stats=ws.generate(**small("thread", "zebra"))))
    thread.start()
    thread.join(60)
    assert outcome["stats"].stored == 8
    assert [_completions(ws, job) for job in ("loop", "async", "thread")] == [8, 8, 8]


def test_keywords_and_a_config_are_the_same_job(tmp_path):
    ws = Workspace(tmp_path / "w")
    cfg = GenerateConfig(job="a", tasks="arithmetic,knights_knaves", count=20, samples=2, teacher="builtin")
    assert ws.generate_config(cfg) == ws.generate_config(**JOB)
    assert ws.generate(cfg).stored == 40
    again = ws.generate(**JOB)  # the same job: everything is stored already
    assert (again.already_stored, again.stored) == (40, 0)
    assert ws.generate_config(cfg, count=4).count == 4  # keywords win over the config


def test_each_method_takes_its_config_model_or_its_keys(tmp_path):
    from cotmill import CurateConfig, ExportConfig, VerifyConfig

    ws = Workspace(tmp_path / "w")
    ws.generate(**{**JOB, "count": 6, "error_rate": 0.3})
    assert ws.verify(VerifyConfig(job="a", workers=1)).judged == 12
    assert ws.verify(job="a", workers=1).judged == 0  # the same call: nothing left to judge
    by_model = ws.curate(CurateConfig(min_tokens=1, decontaminate="", ngram=6))
    by_keys = ws.curate(min_tokens=1, decontaminate=[], ngram=6)
    assert (by_model.curated, by_model.marks) == (by_keys.curated, by_keys.marks)
    ws.mix({"name": "m", "total": 4, "ratios": {"math": 0.5, "logic": 0.5}})
    config = ExportConfig(mixture="m", out=str(tmp_path / "a"), **{"as": "jsonl"})
    counts, _ = ws.export(config)
    assert counts == ws.export(config, out=str(tmp_path / "b"))[0] == {"train": 4}  # keywords win
    assert (tmp_path / "b" / "train.jsonl").exists()


def test_errors_are_the_librarys_own(tmp_path):
    ws = Workspace(tmp_path / "w")
    with pytest.raises(ConfigError, match="key 'cuont': unknown key"):
        ws.generate(job="a", tasks="arithmetic", cuont=3)
    with pytest.raises(ConfigError, match="not this workspace"):
        ws.generate(GenerateConfig(workspace=str(tmp_path / "other"), tasks="arithmetic"))
    other = str(tmp_path / "other")
    for call in (lambda: ws.train_sft(model="m", data="d", out="o", workspace=other),
                 lambda: ws.train_grpo(model="m", data="d", out="o", workspace=other),
                 lambda: ws.eval(model="m", data="d", workspace=other)):  # fmt: skip
        with pytest.raises(ConfigError, match="key 'workspace': .* is not this workspace"):
            call()  # one rule for every method that takes a workspace: never silently another one
    with pytest.raises(WorkspaceError):
        ws.verify()  # no workspace yet: an error, not a new one
    ws.generate(**{**JOB, "count": 2})
    with pytest.raises(SpecError, match="ratios"):
        ws.mix({"name": "m", "total": 4})
    with pytest.raises(ConfigError, match="Workspace.curate: key 'shingel': unknown key"):
        ws.curate(shingel=3)
    with pytest.raises(ConfigError, match="Workspace.export: key 'format'"):
        ws.export("m", format="csv", out=str(tmp_path / "x"))
    from cotmill.sqlcmd import SqlError

    with pytest.raises(SqlError, match="read-only"):
        ws.sql("DELETE FROM problems")


def test_a_method_given_other_settings_says_which_it_takes(tmp_path):
    """Each method takes its own settings model: another command's (or a dict) is a
    ConfigError naming both, not an AttributeError from deep inside."""
    from cotmill import VerifyConfig

    ws = Workspace(tmp_path / "w")
    calls = [(ws.generate, "GenerateConfig"), (ws.verify, "VerifyConfig"), (ws.train_sft, "SFTConfig"),
             (ws.train_grpo, "GRPOConfig")]  # fmt: skip
    for method, takes in calls:
        wrong = {"model": "m"} if takes == "VerifyConfig" else VerifyConfig()
        with pytest.raises(
            ConfigError, match=rf"Workspace\.\w+: expected a {takes}, got {type(wrong).__name__}"
        ):
            method(wrong)


def test_default_workspace_is_the_clis(tmp_path, monkeypatch):
    monkeypatch.setenv("COTMILL_WORKSPACE", str(tmp_path / "env"))
    assert Workspace().path == tmp_path / "env"
    monkeypatch.delenv("COTMILL_WORKSPACE")
    assert Workspace().path == Path("cotmill-workspace")


def test_import_cotmill_stays_cheap():
    probe = "import sys, cotmill; print(sorted(m for m in ('cotmill.api', 'duckdb', 'numpy', 'polars') if m in sys.modules))"
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=REPO, timeout=60)
    assert done.stdout.strip() == "[]", done.stderr


def test_readme_python_example_runs(tmp_path, monkeypatch):
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    section = readme.split("\n## Python\n", 1)[1].split("\n## ", 1)[0]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("COTMILL_WORKSPACE", raising=False)
    exec(compile(code, "README.md (Python)", "exec"), {"__name__": "__readme__"})
    assert (tmp_path / "W" / "cotmill.duckdb").exists()
    assert (tmp_path / "exports" / "m1" / "train.jsonl").exists()


def test_train_and_eval_store_their_runs_in_the_workspace(tiny_model_dir, workspace_exports, tmp_path):  # noqa: F811
    import shutil

    ws = Workspace(tmp_path / "ws")
    shutil.copytree(workspace_exports.workspace, ws.path, ignore=shutil.ignore_patterns("cotmill.lock"))
    sft = ws.train_sft(model=str(tiny_model_dir), data=str(workspace_exports.sft), out=str(tmp_path / "sft"),
                       max_steps=1, batch_size=2, max_length=128, eval_samples=0, run="api-sft")  # fmt: skip
    assert sft.steps == 1 and (tmp_path / "sft" / "final" / "adapter_config.json").exists()
    grpo = ws.train_grpo(model=str(tiny_model_dir), data=str(workspace_exports.rl), out=str(tmp_path / "grpo"),
                         max_steps=1, prompts_per_step=2, group_size=2, max_new_tokens=4, run="api-grpo")  # fmt: skip
    assert grpo.steps == 1 and grpo.final == tmp_path / "grpo" / "final"
    result = ws.eval(sft.final, workspace_exports.rl, limit=2, max_new_tokens=4, run="api-eval")
    assert len(result.problems) == 2
    runs = ws.sql("SELECT run, status FROM runs WHERE run LIKE 'api-%' ORDER BY run").rows()
    assert runs == [("api-eval", "finished"), ("api-grpo", "finished"), ("api-sft", "finished")]
