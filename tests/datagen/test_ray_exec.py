"""`verify --executor ray` on a real Ray cluster of this machine (`ray.init(num_cpus=2)`,
one per module): the same verdicts as the local pool, a worker killed mid-shard retried
with nothing lost or stored twice, a killed driver's shards ingested by the next run."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest

import verifiers
from datagen import shards
from datagen.config import GenerateConfig
from datagen.jobs import run_generate
from datagen.store import Store
from datagen.verify_runner import judge, pending_rows, run_verify, stored_version
from tests.conftest import query
from tests.ray_fixtures import local_ray

ray = pytest.importorskip("ray")

COLUMNS = (
    "completion_id, verifier, verifier_version, passed, score, extracted, reason, steps, first_error_step"
)


@pytest.fixture(scope="module", autouse=True)
def cluster():
    with local_ray(num_cpus=2):
        yield


@pytest.fixture(scope="module")
def builtin(tmp_path_factory):
    """Builtin completions of every domain, with planted slips; none judged yet."""
    ws = tmp_path_factory.mktemp("ray") / "w"
    run_generate(GenerateConfig(workspace=str(ws), job="r", tasks="math,code,logic", count=120, samples=2,
                                error_rate=0.2))  # fmt: skip
    return ws


def copy(ws, to):
    shutil.copytree(ws, to)
    return to


def verdicts(ws) -> list[tuple]:
    return query(ws, f"select {COLUMNS} from verdicts order by completion_id, verifier, verifier_version")


def test_ray_stores_the_verdicts_the_local_pool_stores(builtin, tmp_path):
    local, distributed = copy(builtin, tmp_path / "local"), copy(builtin, tmp_path / "ray")
    expected = run_verify(local, workers=2)
    stats = run_verify(distributed, executor="ray", shard_rows=40)
    assert (stats.judged, stats.passed, stats.by_verifier) == (expected.judged, expected.passed,
                                                              expected.by_verifier)  # fmt: skip
    assert stats.judged == 240
    assert verdicts(distributed) == verdicts(local)
    # every shard was ingested, then deleted; a second run finds nothing to judge
    assert list((distributed / "shards").rglob("*.parquet")) == []
    assert run_verify(distributed, executor="ray").judged == 0


def kill_once(problem, text):
    """A verifier whose first call anywhere kills its own worker process (a node lost, an
    out-of-memory kill); the marker file makes it happen exactly once."""
    try:
        os.close(os.open(problem.meta["marker"], os.O_CREAT | os.O_EXCL | os.O_WRONLY))
    except FileExistsError:
        return verifiers.Verdict(
            passed=text == problem.answer, score=float(text == problem.answer), extracted=text
        )
    os._exit(1)


@pytest.fixture
def killer():
    verifiers.REGISTRY.register("test.kill_once", verifiers.Registered("test.kill_once", "1", kill_once))
    yield
    verifiers.REGISTRY.unregister("test.kill_once")


def _store_problems(ws, n: int, marker) -> None:
    import json

    problems = [{"problem_id": f"p{i}", "domain": "test", "task": "echo", "source": "test", "prompt": f"say {i}",
                 "answer": str(i), "verifier": "test.kill_once", "meta": json.dumps({"marker": str(marker)})}
                for i in range(n)]  # fmt: skip
    completions = [{"completion_id": f"c{i}", "problem_id": f"p{i}", "job": "k", "teacher": "t", "strategy": "s",
                    "sample_index": 0, "text": str(i) if i % 3 else "wrong"}
                   for i in range(n)]  # fmt: skip
    with Store.open(ws) as store:
        store.write_batch([("problems", problems, "IGNORE")])
        store.write_completions(completions)


def test_a_worker_killed_mid_shard_is_retried_and_nothing_is_lost_or_doubled(killer, tmp_path):
    ws, marker = tmp_path / "w", tmp_path / "killed"
    _store_problems(ws, 90, marker)
    stats = run_verify(ws, executor="ray", shard_rows=10)
    assert marker.exists()  # a worker did die
    assert stats.judged == 90
    rows = query(ws, "select completion_id, passed from verdicts order by completion_id")
    assert len(rows) == len({cid for cid, _ in rows}) == 90
    assert sum(passed for _, passed in rows) == 60  # every third text is wrong


def test_shards_a_killed_driver_left_are_ingested_by_the_next_run(builtin, tmp_path):
    """The driver died after workers wrote shards it never ingested: the next run stores
    them first and judges only the rest."""
    ws = copy(builtin, tmp_path / "w")
    version = stored_version("math")
    with Store.open(ws, read_only=True) as store:
        rows = pending_rows(store, "math", version, None)[:50]
    left = shards.shard_dir(ws, "verify", None) / "part-dead-math-00000.parquet"
    shards.write_shard(left, "verdicts", [judge("math", version, row) for row in rows], stage="verify")
    stats = run_verify(ws, executor="ray")
    assert (stats.resumed, stats.judged) == (50, 190)
    assert not left.exists()
    assert query(ws, "select count(*), count(distinct completion_id) from verdicts") == [(240, 240)]


def test_the_cli_runs_on_a_cluster_it_is_pointed_at(builtin, tmp_path):
    """`cotmill verify --executor ray --ray-address HOST:PORT` joins a running cluster (the
    one this module started, whose workers work in another directory than this relative
    -w) rather than starting its own."""
    ws = copy(builtin, tmp_path / "w")
    address = ray.get_runtime_context().gcs_address
    result = subprocess.run(
        [sys.executable, "-m", "cotmill", "verify", "-w", "w", "--executor", "ray", "--ray-address", address,
         "--verifier", "math", "--shard-rows", "30"],
        capture_output=True, text=True, timeout=240, cwd=tmp_path, env=os.environ,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    (math,) = query(
        ws, "select count(*) from completions join problems using (problem_id) where verifier = 'math'"
    )[0]
    assert f"judged {math} completions" in result.stdout
    assert query(ws, "select count(*) from verdicts") == [(math,)]


def test_the_api_and_a_pipeline_take_the_executor(builtin, tmp_path):
    """Workspace.verify(executor="ray") judges on Ray; a pipeline moved onto Ray re-runs
    nothing that finished (where work runs is not part of a stage's fingerprint)."""
    import yaml

    from cotmill import Workspace
    from cotmill.pipeline import run_pipeline

    ws = copy(builtin, tmp_path / "w")
    assert Workspace(ws).verify(executor="ray", verifier="logic.zebra").by_verifier.keys() == {"logic.zebra"}
    path = tmp_path / "p.yaml"
    stages = {"workspace": str(ws), "generate": {"job": "r", "tasks": "math,code,logic", "count": 120,
                                                  "samples": 2, "error_rate": 0.2}}  # fmt: skip
    said = []
    path.write_text(yaml.safe_dump({**stages, "verify": {}}))
    run_pipeline(path, say=said.append)
    path.write_text(yaml.safe_dump({**stages, "verify": {"executor": "ray", "shard_rows": 7}}))
    run_pipeline(path, say=said.append)
    assert [line.endswith("skipped") for line in said] == [False, False, True, True]
    assert query(ws, "select count(*) from verdicts") == [(240,)]


def test_a_verifier_the_workers_cannot_import_is_judged_here_with_a_warning(tmp_path):
    ws = tmp_path / "w"
    with Store.open(ws) as store:
        store.write_batch([("problems", [{"problem_id": "p", "domain": "d", "task": "t", "source": "s", "prompt": "?",
                                          "answer": "1", "verifier": "test.lambda"}], "IGNORE")])  # fmt: skip
        store.write_completions([{"completion_id": "c", "problem_id": "p", "job": "j", "teacher": "t",
                                  "strategy": "s", "sample_index": 0, "text": "1"}])  # fmt: skip
    verifiers.REGISTRY.register(
        "test.lambda", verifiers.Registered("test.lambda", "1", lambda p, t: verifiers.Verdict(True, 1.0))
    )
    try:
        with pytest.warns(UserWarning, match="'test.lambda' is defined where Ray workers cannot import it"):
            stats = run_verify(ws, executor="ray")
    finally:
        verifiers.REGISTRY.unregister("test.lambda")
    assert (stats.judged, stats.passed) == (1, 1)
