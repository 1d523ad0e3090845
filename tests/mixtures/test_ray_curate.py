"""`curate --executor ray` on a real Ray cluster of this machine (`ray.init(num_cpus=2)`, one
per module): the MinHash signatures and benchmark matches computed by tasks over many
shards give exactly the local executor's marks, through the Python API and the CLI."""

from __future__ import annotations

import datetime as dt
import shutil

import pytest

from datagen.records import Problem
from datagen.store import Store
from mixtures.curate import run_curate
from tests.conftest import query, run_cli
from tests.mixtures.test_curate import GSM8K, HUMANEVAL, make_workspace
from tests.ray_fixtures import local_ray

ray = pytest.importorskip("ray")

MARKS = "SELECT kind, item_id, reason, detail FROM curation_marks ORDER BY ALL"


@pytest.fixture(scope="module", autouse=True)
def cluster():
    with local_ray(num_cpus=2):
        yield


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    """Verified builtin completions (near and exact duplicates among them), GSM8K test
    questions among the problems, a reworded copy of one problem and a re-cased, re-spaced
    one of another: some of every mark."""
    if not GSM8K.exists():
        pytest.skip(f"{GSM8K} is absent (../shared is not beside the checkout)")
    ws = make_workspace(tmp_path_factory.mktemp("ray-curate") / "w")
    later = dt.datetime.now() + dt.timedelta(days=1)
    with Store.open(ws) as store:
        (near, answer), (exact, _) = store.con.execute(
            "SELECT prompt, answer FROM problems WHERE length(prompt) > 300 ORDER BY problem_id LIMIT 2"
        ).fetchall()
        for prompt in (near + " Show your work.", "  " + exact.upper() + "\n"):
            copy = Problem.create(domain="math", task="copy", source="t", prompt=prompt, answer=answer,
                                  verifier="math", difficulty=None, meta={})  # fmt: skip
            store.insert_rows("problems", [{**copy.__dict__, "meta": "{}", "created_at": later}])
    return ws


def test_ray_marks_are_the_local_executors(workspace, tmp_path):
    local, distributed = tmp_path / "local", tmp_path / "ray"
    shutil.copytree(workspace, local)
    shutil.copytree(workspace, distributed)
    benchmarks = [str(GSM8K), str(HUMANEVAL)]
    expected = run_curate(local, decontaminate=benchmarks)
    # a killed run's files: recomputed, so deleted
    leftover = distributed / "shards" / "curate" / "all" / "part-dead-completion-00000.parquet"
    leftover.parent.mkdir(parents=True)
    leftover.write_bytes(b"half a file")
    from cotmill import Workspace

    stats = Workspace(distributed).curate(decontaminate=benchmarks, executor="ray", shard_rows=40)
    # many shards of each kind
    assert stats.problems > 4 * 40 and stats.completions > 10 * 40
    for reason in ("exact_dup", "near_dup"):
        assert expected.marks[("completion", reason)] > 0
    for reason in ("exact_dup", "near_dup"):
        assert expected.marks[("problem", reason)] > 0
    assert expected.marks[("problem", "contaminated")] == 30
    assert stats.marks == expected.marks
    assert query(distributed, MARKS) == query(local, MARKS)
    assert (stats.curated, stats.rated) == (expected.curated, expected.rated)
    assert stats.nodes == {ray.get_runtime_context().get_node_id()}
    assert list((distributed / "shards").rglob("*.parquet")) == []


def test_the_cli_runs_on_a_cluster_it_is_pointed_at(workspace, tmp_path):
    """`cotmill curate --executor ray --ray-address HOST:PORT` joins a running cluster (the
    one this module started, whose workers work in another directory than this relative
    -w); its marks are the local executor's, for one job too."""
    local, distributed = tmp_path / "local", tmp_path / "ray"
    shutil.copytree(workspace, local)
    shutil.copytree(workspace, distributed)
    run_curate(local, job="e", decontaminate=[str(GSM8K)], near_dup_threshold=0.7)
    address = ray.get_runtime_context().gcs_address
    result = run_cli("curate", "-w", "ray", "--job", "e", "--decontaminate", str(GSM8K),
                     "--near-dup-threshold", "0.7", "--executor", "ray", "--ray-address", address,
                     "--shard-rows", "100", timeout=240, cwd=tmp_path)  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "curation marks by reason" in result.stdout and "near_dup" in result.stdout
    assert query(distributed, MARKS) == query(local, MARKS)
    bad = run_cli("curate", "-w", str(distributed), "--executor", "ray", "--shard-rows", "0")
    assert bad.returncode == 1
    assert bad.stderr.strip() == "error: --shard-rows: Input should be greater than or equal to 1"
    # a bad benchmark file is the local executor's one-line error, and changes no mark
    absent = tmp_path / "absent.jsonl"
    bad = run_cli("curate", "-w", str(distributed), "--decontaminate", str(absent), "--executor", "ray",
                  "--ray-address", address, timeout=240)  # fmt: skip
    assert bad.returncode == 1 and bad.stderr.strip() == f"error: {absent}: no such file or directory"
    assert query(distributed, MARKS) == query(local, MARKS)


def test_a_pipeline_moved_onto_ray_reruns_nothing(tmp_path):
    """A curate stage that only moves onto Ray is skipped (where work runs is no part of a
    stage's fingerprint); one whose settings change runs on Ray, with the local marks."""
    import yaml

    from cotmill.pipeline import run_pipeline

    ws, path = tmp_path / "w", tmp_path / "p.yaml"
    generate = {"job": "p", "tasks": "math,logic", "count": 40, "samples": 2}
    stages = {"workspace": str(ws), "generate": generate}
    on_ray = {"executor": "ray", "shard_rows": 7}
    said = []
    for curate in ({}, on_ray, {**on_ray, "shingle": 3}):
        path.write_text(yaml.safe_dump({**stages, "curate": curate}))
        run_pipeline(path, say=said.append)
    assert [line.endswith("skipped") for line in said] == [False, False, True, True, True, False]
    local = tmp_path / "local"
    shutil.copytree(ws, local)
    run_curate(local, shingle=3)
    assert query(ws, MARKS) == query(local, MARKS)
