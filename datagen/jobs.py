"""`generate` as a Python API: the CLI is a thin shell over `run_generate`.

A job is named; re-running the same job with the same settings finds every
completion already stored (deterministic ids) and sends only what is missing or
failed before.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from itertools import zip_longest

import duckdb

from datagen import unstored
from datagen.config import GenerateConfig
from datagen.engine import Engine, EngineSettings, JobStats
from datagen.prompts import load_template
from datagen.records import GenParams, Problem, content_hash
from datagen.sources import load_problems
from datagen.store import Store
from datagen.tasks import make_problem, select_task_groups
from datagen.teachers import Teacher, make_teacher
from verifiers.errors import CotmillError


class JobError(CotmillError, RuntimeError):
    pass


def split_evenly(total: int, parts: int) -> list[int]:
    return [total // parts + (1 if i < total % parts else 0) for i in range(parts)]


def task_problems(tasks: str, count: int, difficulty: tuple[int, int], seed: int) -> list[Problem]:
    """`count` distinct problems: split evenly over the named groups (`math,code,logic`
    gives a third each), then over each group's tasks. Task t's j-th candidate is
    `make_problem(t, seed, j, lo + j % levels)`, so difficulties cycle and every
    problem can be rebuilt alone; repeats (small tasks at difficulty 1 can collide)
    are skipped, deterministically. The result interleaves the tasks."""
    lo, hi = difficulty
    quotas: dict[str, int] = {}
    groups = select_task_groups(tasks)
    for group, group_quota in zip(groups, split_evenly(count, len(groups))):
        for task, quota in zip(group, split_evenly(group_quota, len(group))):
            quotas[task.name] = quotas.get(task.name, 0) + quota
    seen: set[str] = set()
    per_task: list[list[Problem]] = []
    for name, quota in quotas.items():
        made: list[Problem] = []
        index = 0
        while len(made) < quota:
            if index >= 20 * quota + 100:
                raise JobError(
                    f"task {name} yields only {len(made)} distinct problems of the {quota} asked for"
                )
            problem = make_problem(name, seed, index, lo + index % (hi - lo + 1))
            if problem.problem_id not in seen:
                seen.add(problem.problem_id)
                made.append(problem)
            index += 1
        per_task.append(made)
    return [p for row in zip_longest(*per_task) for p in row if p is not None]


def strategy_key(cfg: GenerateConfig, template: str) -> str:
    """The strategy name, plus a hash when a custom template or system prompt
    changes what is asked: a changed prompt must not reuse old completions."""
    if cfg.template is None and cfg.system is None:
        return cfg.strategy
    return f"{cfg.strategy}+{content_hash(template, cfg.system or '', size=4)}"


def collect_problems(cfg: GenerateConfig, store: Store) -> list[Problem]:
    problems: list[Problem] = []
    if cfg.tasks:
        problems.extend(task_problems(cfg.tasks, cfg.count, cfg.difficulty_range(), cfg.seed))
    if cfg.source:
        loaded, rejects = load_problems(
            cfg.source, cfg.preset, cfg.fields, cfg.domain, cfg.limit, cfg.skip_invalid, cfg.split
        )
        # a re-run reports the file's rejects afresh instead of piling up copies
        store.con.execute("DELETE FROM rejects WHERE job = ? AND source = ?", [cfg.job, cfg.source])
        if rejects:
            store.write_batch([("rejects", [r.row(cfg.job) for r in rejects], "APPEND")])
        if not loaded:
            raise JobError(
                f"{cfg.source}: no valid problems; {len(rejects)} rows rejected (see the rejects table)"
            )
        seen = {p.problem_id for p in problems}
        problems.extend(p for p in loaded if p.problem_id not in seen and not seen.add(p.problem_id))
    return problems


def _now() -> dt.datetime:
    return dt.datetime.now()


async def _run_engine(engine: Engine, problems: list[Problem]) -> JobStats:
    loop = asyncio.get_running_loop()
    task = asyncio.current_task()
    terminated = False

    def on_sigterm() -> None:
        nonlocal terminated
        terminated = True
        task.cancel()

    # SIGTERM cancels like Ctrl-C, so the writer flushes what has arrived. Only the main
    # thread may set signal handlers: a job in a worker thread (the Python API under
    # Jupyter, or called from a thread) leaves SIGTERM to whoever owns the process
    in_main = threading.current_thread() is threading.main_thread()
    if in_main:
        loop.add_signal_handler(signal.SIGTERM, on_sigterm)
    try:
        return await engine.run(problems)
    except asyncio.CancelledError:
        if terminated:
            raise KeyboardInterrupt("SIGTERM") from None
        raise
    finally:
        if in_main:
            loop.remove_signal_handler(signal.SIGTERM)
        await engine.teacher.aclose()


def run_generate(
    cfg: GenerateConfig, on_update=None, on_plan=None, teacher: Teacher | None = None, on_notice=None
) -> JobStats:
    """`teacher`: a ready-made one; by default make_teacher builds it from cfg.teacher (the
    teacher registry: builtin, openai:MODEL, hf:PATH and plugins).
    `on_notice(message)`: what the job has to tell while it runs (a long Retry-After pause,
    replies re-ingested from unstored.jsonl)."""
    # the setup runs before the loop starts, so Ctrl-C during a long source load stops it at once
    if cfg.executor == "ray":
        from datagen.ray_exec import require_ray

        require_ray()  # before any work: a missing Ray is the one thing to say
    with _job(cfg, on_update, on_plan, teacher, on_notice) as (engine, problems):
        if cfg.executor == "ray":
            from datagen.ray_generate import run_on_ray

            return run_on_ray(engine, problems, cfg)
        return asyncio.run(_run_engine(engine, problems))


async def arun_generate(
    cfg: GenerateConfig, on_update=None, on_plan=None, teacher: Teacher | None = None, on_notice=None
) -> JobStats:
    """`run_generate` inside a running event loop (the caller's). The setup (opening the
    store, building the problems) blocks the loop while it runs, as it would block a script."""
    if cfg.executor == "ray":  # the driver waits on Ray: in a thread, so the caller's loop runs on
        return await asyncio.to_thread(run_generate, cfg, on_update, on_plan, teacher, on_notice)
    with _job(cfg, on_update, on_plan, teacher, on_notice) as (engine, problems):
        return await _run_engine(engine, problems)


def make_job_teacher(cfg: GenerateConfig) -> Teacher:
    """The teacher a job of `cfg` runs (the teacher registry: builtin, openai:MODEL, hf:PATH
    and plugins), with the job's connection and precision settings."""
    return make_teacher(
        cfg.teacher,
        base_url=cfg.base_url,
        api_key_env=cfg.api_key_env,
        error_rate=cfg.error_rate,
        timeout_s=cfg.timeout,
        precision=cfg.precision,
    )


@contextmanager
def _job(cfg: GenerateConfig, on_update, on_plan, teacher: Teacher | None, on_notice) -> Iterator[tuple]:
    """Open the store, plan the problems and mark the job running; yields (engine, problems)
    for the caller to run, and records the job's last status when the run ends either way."""
    template = load_template(cfg.strategy, cfg.template)
    teacher = teacher or make_job_teacher(cfg)
    price_in, price_out = cfg.price()
    settings = EngineSettings(
        job=cfg.job,
        strategy=strategy_key(cfg, template),
        template=template,
        params=GenParams(
            cfg.temperature,
            cfg.top_p,
            cfg.max_tokens,
            json.dumps(cfg.extra_body, sort_keys=True) if cfg.extra_body else "",
        ),  # fmt: skip
        samples=cfg.samples,
        n_per_request=cfg.n_per_request,
        system=cfg.system,
        concurrency=cfg.concurrency,
        rpm=cfg.rpm,
        tpm=cfg.tpm,
        max_retries=cfg.max_retries,
        retry_base_delay=cfg.retry_base_delay,
        retry_max_delay=cfg.retry_max_delay,
        max_retry_after=cfg.max_retry_after,
        price_in=price_in,
        price_out=price_out,
        flush_interval=cfg.flush_interval,
    )
    with Store.open(cfg.workspace) as store:
        problems = collect_problems(cfg, store)
        if on_plan:
            on_plan(len(problems) * cfg.samples)
        store.upsert_job(
            cfg.job,
            teacher=teacher.name,
            config=cfg.model_dump(),
            status="running",
            started_at=_now(),
            finished_at=None,
        )
        engine = Engine(store, teacher, settings, on_update, on_notice)
        status = "interrupted"
        try:
            yield engine, problems
            status = engine.stats.status  # what the run returned: Engine.run returns its stats
        finally:
            _finish_job(store, cfg.job, status, engine.stats)


def _finish_job(store: Store, job: str, status: str, s: JobStats) -> None:
    """The job row's last word. When even that write fails (a full disk), the job
    says so instead of raising over what the run already reported."""
    fields = dict(
        status=status, requested=s.requested, stored=s.already_stored + s.stored, failed=s.failed,
        finished_at=_now(),
    )  # fmt: skip
    try:
        try:
            store.upsert_job(job, **fields)
        except duckdb.FatalException:  # a failed checkpoint invalidated the connection
            store.reconnect()
            store.upsert_job(job, **fields)
        finally:
            if s.disk_full:
                store.skip_checkpoint_on_close()
    except Exception as e:
        s.disk_full = s.disk_full or unstored.is_disk_full(e)
        reason = "disk full" if s.disk_full else "writing to the store failed"
        note = f"the job row could not be updated to {status!r} ({e})"
        s.fatal = f"{s.fatal}; {note}" if s.fatal else f"{reason}: {note}"
