"""`generate --executor ray` on a real Ray cluster of this machine (`ray.init(num_cpus=2)`):
the same completions as a local job, a re-run that sends nothing, a worker killed
mid-shard whose shard is finished by Ray's retry without paying twice for what it had
written, the parts a killed driver left ingested by the next run, an hf: teacher as one
actor with the model loaded once."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import pytest

from datagen import ray_generate, shards
from datagen.config import GenerateConfig
from datagen.jobs import run_generate
from datagen.teachers import TEACHERS, register
from datagen.teachers.builtin import BuiltinTeacher
from tests.conftest import REPO, query
from tests.ray_fixtures import local_ray

ray = pytest.importorskip("ray")

COLUMNS = "completion_id, problem_id, job, teacher, strategy, sample_index, text, finish_reason, prompt_tokens, " \
          "completion_tokens, error"  # fmt: skip


@pytest.fixture(scope="module", autouse=True)
def cluster():
    with local_ray(num_cpus=2):  # workers import the teacher below from this module
        yield


def completions(ws) -> list[tuple]:
    return query(ws, f"select {COLUMNS} from completions order by completion_id")


def config(ws, **settings) -> GenerateConfig:
    base = dict(workspace=str(ws), job="g", tasks="math,code,logic", count=150, samples=2, error_rate=0.2)
    return GenerateConfig(**{**base, **settings})


def test_ray_stores_what_a_local_job_stores_and_a_rerun_sends_nothing(tmp_path):
    local, distributed = tmp_path / "local", tmp_path / "ray"
    run_generate(config(local))
    stats = run_generate(config(distributed, executor="ray", shard_rows=20))  # 8 shards on 2 actors
    assert (stats.status, stats.requested, stats.stored, stats.failed) == ("done", 300, 300, 0)
    assert stats.prompt_tokens == query(distributed, "select sum(prompt_tokens) from completions")[0][0] > 0
    assert completions(distributed) == completions(local)
    assert query(distributed, "select count(*) from job_completions where job = 'g'") == [(300,)]
    assert not any(shards.shard_dir(distributed, "generate", "g").glob("**/*.parquet"))  # all ingested
    again = run_generate(config(distributed, executor="ray", shard_rows=20))
    assert (again.already_stored, again.stored) == (300, 0)
    # a second job over the same requests covers them without a request (job_completions)
    other = run_generate(config(distributed, job="h", executor="ray"))
    assert (other.already_stored, other.stored) == (300, 0)
    assert query(distributed, "select count(*) from job_completions where job = 'h'") == [(300,)]


# --- a teacher that dies once, mid-shard, in a Ray worker --------------------------------------


class SlowDying:
    """The builtin teacher, 50 ms a request, logging every request it sends; the first
    process to send 40 requests kills itself (a node lost, an out-of-memory kill) once its
    shard has a part on disk, and writes in its marker how many it had sent."""

    supports_n = False
    name = "slowdying"

    def __init__(self, folder: str):
        self.folder, self.inner, self.sent = Path(folder), BuiltinTeacher(), 0

    async def complete(self, request):
        await asyncio.sleep(0.05)
        with open(self.folder / "requests.log", "a") as log:
            log.write(f"{request.completion_ids[0]}\n")
        self.sent += 1
        if self.sent == 40 and not (self.folder / "killed").exists():
            for _ in range(600):  # a loaded machine may write the first part late: wait for one
                if any((self.folder / "w" / "shards").glob("generate/*/*/part-*.parquet")):
                    break
                await asyncio.sleep(0.05)
            try:
                marker = os.open(self.folder / "killed", os.O_CREAT | os.O_EXCL | os.O_WRONLY)
                os.write(marker, str(self.sent).encode())
                os.close(marker)
                os._exit(1)
            except FileExistsError:
                pass
        return await self.inner.complete(request)

    async def aclose(self):
        pass


def make_slow_dying(arg: str, **options):
    return SlowDying(arg)


@pytest.fixture
def slow_dying():
    register("slowdying", make_slow_dying)
    yield
    TEACHERS.unregister("slowdying")


def test_a_worker_killed_mid_shard_is_retried_without_paying_twice(slow_dying, tmp_path):
    ws = tmp_path / "w"
    cfg = config(ws, teacher=f"slowdying:{tmp_path}", tasks="arithmetic", count=60, samples=1, error_rate=0,
                 concurrency=2, executor="ray", shard_rows=60)  # fmt: skip
    stats = run_generate(cfg)
    assert (tmp_path / "killed").exists()  # a worker did die
    assert (stats.status, stats.stored) == ("done", 60)
    assert query(
        ws, "select count(*), count(distinct completion_id) from completions where error is null"
    ) == [(60, 60)]
    sent = (tmp_path / "requests.log").read_text().split()
    assert set(sent) == {row[0] for row in query(ws, "select completion_id from completions")}
    # the replies in the parts the killed try wrote (the first at once, then one a second)
    # are not asked for again: only those since its last part, and the one it died on
    again, killed_after = len(sent) - len(set(sent)), int((tmp_path / "killed").read_text())
    assert 0 < again < killed_after, (again, killed_after)


def test_parts_a_killed_driver_left_are_ingested_by_the_next_run(tmp_path):
    """Parts an actor wrote for a driver that died: the next run stores them first and
    sends only the rest."""
    ws = tmp_path / "w"
    cfg = config(ws, tasks="arithmetic", count=30, samples=1, error_rate=0)
    run_generate(config(tmp_path / "probe", tasks="arithmetic", count=30, samples=1, error_rate=0))
    dead = shards.shard_dir(ws, "generate", "g") / "dead-00000"
    rows = query(tmp_path / "probe", "select * from completions order by completion_id limit 12")
    names = [d[0] for d in query(tmp_path / "probe", "describe completions")]
    shards.write_shard(dead / "part-x-00000.parquet", "completions", [dict(zip(names, r)) for r in rows],
                       stage="generate", job="g")  # fmt: skip
    notices = []
    stats = run_generate(cfg.model_copy(update={"executor": "ray"}), on_notice=notices.append)
    assert any("from the shards of an interrupted run" in n for n in notices), notices
    assert (stats.already_stored, stats.stored) == (12, 18)
    assert not dead.exists()
    assert query(ws, "select count(*) from completions") == [(30,)]
    assert query(ws, "select count(*) from job_completions where job = 'g'") == [(30,)]


def test_an_hf_teacher_is_one_actor_that_loads_its_model_once(tiny_model_dir, tmp_path):
    assert ray_generate._actors(ray, config(tmp_path, teacher=f"hf:{tiny_model_dir}"), 5) == (
        1,
        {"num_cpus": 2},
    )
    assert ray_generate._actors(ray, config(tmp_path), 5) == (2, {"num_cpus": 1})
    ws = tmp_path / "w"
    stats = run_generate(config(ws, teacher=f"hf:{tiny_model_dir}", tasks="arithmetic", count=12, samples=2,
                                max_tokens=16, executor="ray", shard_rows=4))  # fmt: skip
    assert (stats.status, stats.stored) == ("done", 24)
    rows = query(ws, "select teacher, count(*), count(distinct text) from completions group by teacher")
    assert rows[0][0].startswith("hf:") and rows[0][1] == 24 and rows[0][2] > 1


def test_the_cli_generates_on_a_cluster_it_is_pointed_at(tmp_path):
    ws = tmp_path / "w"
    address = ray.get_runtime_context().gcs_address
    done = subprocess.run(
        [sys.executable, "-m", "cotmill", "generate", "-w", str(ws), "--job", "c", "--tasks", "logic", "--count",
         "20", "--executor", "ray", "--ray-address", address, "--shard-rows", "5"],
        capture_output=True, text=True, cwd=REPO, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert query(ws, "select count(*) from completions where job = 'c' and error is null") == [(20,)]


def test_a_teacher_workers_cannot_import_is_refused_before_any_request(tmp_path):
    register("local_only", lambda arg, **options: BuiltinTeacher())  # a lambda: not importable elsewhere
    try:
        with pytest.raises(ray_generate.RayError, match="local_only.*cannot import"):
            run_generate(config(tmp_path / "w", teacher="local_only", executor="ray"))
    finally:
        TEACHERS.unregister("local_only")


@pytest.mark.gpu
def test_an_hf_teacher_is_one_actor_per_gpu(tiny_model_dir, tmp_path):
    """On a CUDA machine (`make test-gpu`): each actor takes one GPU, whose model it loads."""
    import torch

    gpus = torch.cuda.device_count()
    cfg = config(tmp_path / "w", teacher=f"hf:{tiny_model_dir}", tasks="arithmetic", count=16, samples=2,
                 max_tokens=16, executor="ray", shard_rows=2)  # fmt: skip
    assert ray_generate._actors(ray, cfg, 100) == (gpus, {"num_gpus": 1})
    stats = run_generate(cfg)
    assert (stats.status, stats.stored) == ("done", 32)
