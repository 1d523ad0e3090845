"""`cotmill generate --executor ray`: the job's pending problems sent by Ray actors, one
shard of problems at a time, on a Ray cluster (`--ray-address auto` or HOST:PORT; none
given: RAY_ADDRESS, else a cluster of this machine for the run).

The driver plans as a local job does (Engine.prepare: the problems stored, replies kept
in unstored.jsonl re-ingested, what is stored already skipped) and splits the problems
that still need completions into shards. Each actor builds the job's teacher once — an
`hf:` teacher is one actor per GPU, its model loaded once for all its shards; without
GPUs, one actor per node with that node's cores — and runs the same Engine as a local
job on each shard it is handed, with a ShardSink in place of the store: every commit
becomes a Parquet part under W/shards/generate/<job>/<shard>/ (workers never open the
DuckDB file). The driver ingests the parts as they appear (that is the progress you
see), and each shard's leftovers once its actor is done.

Nothing paid for is asked twice. A worker killed mid-shard is restarted by Ray and runs
the shard again: the parts the killed try wrote count as stored, so only the requests it
had in flight are sent again. A driver killed mid-run leaves parts behind; the next run
of the job ingests them before it plans. Ingest keeps the store's primary keys, so a
part seen twice adds nothing.

Rate limits hold for the whole job: --rpm and --tpm are divided evenly among the actors;
--concurrency is the requests in flight per actor.
"""

from __future__ import annotations

import asyncio
import dataclasses
import pickle
import shutil
import signal
import threading
import uuid
from collections import deque
from pathlib import Path

import pyarrow.parquet as pq

from datagen import shards, unstored
from datagen.config import GenerateConfig
from datagen.engine import Engine, EngineSettings, JobStats
from datagen.ray_exec import TRIES, RayError, connect, require_ray
from datagen.records import Problem, completion_id

SHARD_PROBLEMS = 256  # problems per shard: a few minutes of an API teacher's work at most
PART_SECONDS = 1.0  # least seconds between a worker's parts: what a killed worker can lose
PROGRESS_S = 1.0  # how often the driver looks for new parts while it waits


class ShardSink:
    """What an Engine needs of a Store, writing completion rows as Parquet parts of one
    shard's folder instead of into DuckDB. `skip`: completion ids the driver found
    stored (or held in unstored.jsonl); the successful rows of parts an earlier try of
    this shard wrote count as stored too. The folder is also the engine's root: its spill
    reserve and unstored.jsonl live there, and the driver takes them over."""

    def __init__(self, folder: str | Path, skip: set[str], header: dict):
        self.root = Path(folder)
        self.root.mkdir(parents=True, exist_ok=True)
        self.header = header
        self.done = set(skip)
        for part in sorted(self.root.glob("part-*.parquet")):
            table = pq.read_table(part, columns=["completion_id", "error"]).to_pydict()
            self.done.update(c for c, e in zip(table["completion_id"], table["error"]) if e is None)
        self._tag = uuid.uuid4().hex[:8]  # this try's parts never overwrite an earlier try's
        self._seq = 0

    def write_batch(self, batches) -> None:
        for table, rows, _mode in batches:
            if table == "completions":
                self.write_completions(rows)
            elif table != "problems":  # the driver stored the problems
                raise ValueError(f"a generate shard holds completions, not {table}")

    def write_completions(self, rows: list[dict]) -> None:
        path = self.root / f"part-{self._tag}-{self._seq:05d}.parquet"
        shards.write_shard(path, "completions", rows, stage="generate", **self.header)
        self._seq += 1
        self.done.update(r["completion_id"] for r in rows if r.get("error") is None)

    def existing_ids(self, table: str, column: str, ids: list[str], where: str = "TRUE") -> set[str]:
        return {i for i in ids if i in self.done}

    def link_completions(self, job: str, completion_ids) -> None:
        pass  # the driver links them as it ingests

    def defer_checkpoints(self) -> None:
        pass

    def wal_bytes(self) -> int:
        return 0

    def checkpoint_if_room(self, margin: int = 0) -> bool:
        return True


class ShardGenerator:
    """A Ray actor: the job's teacher, built once, and an event loop of its own that every
    shard runs on (clients bound to a loop, an hf: model, stay usable across shards)."""

    def __init__(self, config: dict, registration: bytes = b""):
        from datagen.jobs import make_job_teacher
        from datagen.teachers import TEACHERS

        for scheme, kind in (pickle.loads(registration) if registration else {}).items():
            TEACHERS.register(scheme, kind)  # the driver's run-time registration of the job's teacher
        self.teacher = make_job_teacher(GenerateConfig.model_validate(config))
        self.loop = asyncio.new_event_loop()

    def run(self, settings: EngineSettings, problems: list[Problem], skip: set[str], folder: str,
            header: dict) -> dict:  # fmt: skip
        import ray

        engine = Engine(ShardSink(folder, skip, header), self.teacher, settings)
        stats = self.loop.run_until_complete(engine.run(problems))
        fields = ("retries", "errors", "waits", "fatal", "disk_full", "unstored", "lost", "lost_reason",
                  "sampled_problems", "identical_problems")  # fmt: skip
        return {name: getattr(stats, name) for name in fields} | {
            "node": ray.get_runtime_context().get_node_id()
        }


def _registration(spec: str) -> bytes:
    """The job's teacher kind, pickled, when it was registered at run time (not a built-in
    or an entry point, which workers load themselves); RayError when workers cannot
    import it."""
    from datagen.teachers import TEACHERS

    scheme = spec.split(":", 1)[0]
    sendable, stuck = TEACHERS.sendable()
    if scheme in stuck:
        raise RayError(
            f"teacher {scheme!r} is defined where Ray workers cannot import it (a notebook, `python -c`, "
            "a lambda); define it in a module, or run the job with --executor local"
        )
    return pickle.dumps({scheme: sendable[scheme]}) if scheme in sendable else b""


def _wanted(problem: Problem, teacher_name: str, s: EngineSettings) -> list[str]:
    return [
        completion_id(problem.problem_id, teacher_name, s.params, s.strategy, i) for i in range(s.samples)
    ]


def _actors(ray, cfg: GenerateConfig, shard_count: int) -> tuple[int, dict]:
    """How many actors, with what resources: an hf: teacher one per GPU (without GPUs, one
    per node with its cores, so torch's threads use them); any other, one per core."""
    resources = ray.cluster_resources()
    cpus = max(1, int(resources.get("CPU", 1)))
    if cfg.teacher.split(":", 1)[0] == "hf":
        gpus = int(resources.get("GPU", 0))
        if gpus:
            return min(gpus, shard_count), {"num_gpus": 1}
        nodes = max(1, sum(1 for n in ray.nodes() if n.get("Alive")))
        return min(nodes, shard_count), {"num_cpus": max(1, cpus // nodes)}
    return min(cpus, shard_count), {"num_cpus": 1}


def ingest_leftovers(store, job: str) -> int:
    """Ingest what the shards of an earlier, interrupted run of `job` left (parts, and
    replies a worker could not write as parts), then remove them; the completions added."""
    root = shards.shard_dir(store.root, "generate", job)
    if not root.is_dir():
        return 0
    added = 0
    for folder in sorted(p for p in root.iterdir() if p.is_dir()):
        added += _take_shard(store, folder, set())[0]
        shutil.rmtree(folder, ignore_errors=True)
    return added


def _take_shard(store, folder: Path, seen: set[str]) -> tuple[int, list]:
    """Ingest the parts of `folder` not in `seen` (their names are added to it) and move a
    worker's unstored.jsonl into the workspace's; (rows added, the parts' Arrow tables)."""
    added, tables = 0, []
    for part in sorted(folder.glob("part-*.parquet")):
        if part.name in seen:
            continue
        kind, table = shards.read_shard(part)
        added += shards.insert_shard(store, part, kind, table)
        tables.append(table)
        seen.add(part.name)
    spilled = folder / unstored.FILE
    if spilled.exists():
        with open(store.root / unstored.FILE, "a", encoding="utf-8", errors="surrogateescape") as out:
            out.write(spilled.read_text(encoding="utf-8", errors="surrogateescape"))
        spilled.unlink()
    return added, tables


def _count(stats: JobStats, tables: list) -> None:
    for table in tables:
        rows = table.to_pydict()
        for error, p_tok, c_tok, cost in zip(
            rows["error"], rows["prompt_tokens"], rows["completion_tokens"], rows["cost_usd"]
        ):
            if error is None:
                stats.stored += 1
            else:
                stats.failed += 1
            stats.prompt_tokens += p_tok or 0
            stats.completion_tokens += c_tok or 0
            stats.cost_usd += cost or 0.0


def _merge(stats: JobStats, result: dict) -> None:
    stats.retries += result["retries"]
    stats.waits += result["waits"]
    for kind, n in result["errors"].items():
        stats.errors[kind] = stats.errors.get(kind, 0) + n
    stats.fatal = stats.fatal or result["fatal"]
    stats.disk_full = stats.disk_full or result["disk_full"]
    stats.unstored += result["unstored"]
    stats.lost += result["lost"]
    stats.failed += result["unstored"] + result["lost"]  # not in any part: never counted as stored
    stats.lost_reason = stats.lost_reason or result["lost_reason"]
    stats.sampled_problems += result["sampled_problems"]
    stats.identical_problems += result["identical_problems"]


def run_on_ray(engine: Engine, problems: list[Problem], cfg: GenerateConfig) -> JobStats:
    """Run the job `engine` was built for on Ray; its stats, as a local run fills them."""
    ray = require_ray()
    store, s, stats = engine.store, engine.s, engine.stats
    resumed = ingest_leftovers(store, s.job)
    if resumed:
        engine.on_notice(f"stored {resumed} completions from the shards of an interrupted run")
    requests = engine.prepare(problems)
    pending = {cid for r in requests for cid in r.completion_ids}
    todo = [p for p in problems if any(cid in pending for cid in _wanted(p, engine.teacher.name, s))]
    size = cfg.shard_rows or SHARD_PROBLEMS
    plan = [todo[i : i + size] for i in range(0, len(todo), size)]
    if not plan:
        return stats
    root = shards.shard_dir(store.root, "generate", s.job)
    run = uuid.uuid4().hex[:8]
    registration = _registration(cfg.teacher)
    started = connect(ray, cfg.ray_address)
    previous = _sigterm_as_interrupt()
    actors: list = []
    running: dict = {}  # ref -> (actor, folder, parts ingested)
    try:
        count, resources = _actors(ray, cfg, len(plan))
        # the job's limits hold for the whole cluster: each actor gets its share
        shared = dataclasses.replace(
            s,
            rpm=s.rpm / count if s.rpm else None,
            tpm=s.tpm / count if s.tpm else None,
            flush_interval=max(s.flush_interval, PART_SECONDS),
        )
        remote = ray.remote(ShardGenerator).options(
            max_restarts=TRIES - 1, max_task_retries=TRIES - 1, scheduling_strategy="SPREAD", **resources
        )
        config = cfg.model_dump(mode="json")
        actors = [remote.remote(config, registration) for _ in range(count)]
        idle, work = deque(actors), deque(enumerate(plan))
        while (work and not stats.fatal) or running:
            while work and idle and not stats.fatal:
                index, shard = work.popleft()
                folder = root / f"{run}-{index:05d}"
                skip = {cid for p in shard for cid in _wanted(p, engine.teacher.name, s)} - pending
                actor = idle.popleft()
                header = {"job": s.job, "shard": index}
                running[actor.run.remote(shared, shard, skip, str(folder), header)] = (actor, folder, set())
            done, _ = ray.wait(list(running), num_returns=1, timeout=PROGRESS_S)
            for _, folder, seen in running.values():  # progress: the parts written so far
                if folder.is_dir():
                    _count(stats, _take_shard(store, folder, seen)[1])
            for ref in done:
                actor, folder, seen = running.pop(ref)
                try:
                    result = ray.get(ref)
                except ray.exceptions.RayError as e:
                    raise RayError(
                        f"a Ray actor generating shard {folder.name} failed after {TRIES} tries: "
                        f"{type(e).__name__}: {e}; what arrived is stored: re-run the job to go on"
                    ) from None
                _count(stats, _take_shard(store, folder, seen)[1])
                shutil.rmtree(folder, ignore_errors=True)
                _merge(stats, result)
                idle.append(actor)
            engine.on_update(stats)
    finally:
        for actor in actors:
            ray.kill(actor)
        if started:
            ray.shutdown()
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
        # an interrupted run keeps what its actors wrote: ingested now, or by the next run
        for _, folder, seen in running.values():
            if folder.is_dir():
                _count(stats, _take_shard(store, folder, seen)[1])
                shutil.rmtree(folder, ignore_errors=True)
        engine.on_update(stats)
    return stats


def _sigterm_as_interrupt():
    """SIGTERM stops the driver like Ctrl-C (what arrived is ingested); the old handler,
    or None outside the main thread, where handlers cannot be set."""
    if threading.current_thread() is not threading.main_thread():
        return None

    def interrupt(signum, frame):
        raise KeyboardInterrupt("SIGTERM")

    return signal.signal(signal.SIGTERM, interrupt)
