"""`cotmill verify` as a Python API: judge stored completions and write `verdicts`.

Only completions without a verdict for the *current* version of their verifier are
judged, so a re-run costs nothing and a changed verifier re-judges what it judged
before. Math completions also get step labels from the step checker (process
supervision); their stored version names both ("1+steps2").

Work is spread over all cores: pure-Python verifiers (math, logic) run in a pool
of processes; code runs from threads of this process, because the code verifier
keeps its own pool of pre-started sandboxes and only waits on them.

The worker processes are spawned, so they know only what they import: the built-in
verifiers and the `cotmill.verifiers` entry points load there as here. Verifiers
registered at run time in this process (a script's, a notebook's) are handed to each
worker when it starts, pickled by reference; one that a fresh process cannot import
(defined in a notebook or `python -c`, a lambda) is judged in this process instead,
with a warning that names it.
"""

from __future__ import annotations

import json
import os
import pickle
import time
import warnings
from collections.abc import Callable, Iterator
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from multiprocessing import get_context

from datagen.records import Problem
from datagen.store import Store, in_job
from verifiers.errors import CotmillError

CHUNK = 64  # completions per task sent to a worker


@dataclass
class VerifyStats:
    pending: int = 0
    judged: int = 0
    passed: int = 0
    by_verifier: dict[str, int] = field(default_factory=dict)
    pseudo_labels: int = 0
    unknown: dict[str, int] = field(default_factory=dict)  # unregistered verifier names -> completions
    resumed: int = 0  # executor ray: verdicts ingested from shards an interrupted run left
    nodes: set[str] = field(default_factory=set)  # executor ray: the Ray nodes that judged
    started: float = field(default_factory=time.monotonic)

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self.started


def stored_version(verifier: str) -> str:
    import verifiers

    base = verifiers.version(verifier)
    if verifier == "math":
        from verifiers import steps

        return f"{base}+steps{steps.VERSION}"
    return base


def _problem(row: dict) -> Problem:
    meta = json.loads(row["meta"]) if row["meta"] else {}
    return Problem(row["problem_id"], row["domain"], row["task"], row["source"], row["prompt"],
                   row["answer"], row["verifier"], row["difficulty"], meta)  # fmt: skip


def judge(verifier: str, version: str, row: dict) -> dict:
    """One verdict row; never raises (a verifier bug becomes a failed verdict)."""
    import verifiers

    start = time.perf_counter()
    try:
        verdict = verifiers.get(verifier)(_problem(row), row["text"] or "")
        if verifier == "math":
            from verifiers import steps

            report = steps.check_steps(row["text"] or "")
            verdict.steps, verdict.first_error_step = report.steps, report.first_error_step
    except Exception as e:  # noqa: BLE001 - recorded, so one bad row cannot stop a million
        verdict = verifiers.Verdict.fail(f"verifier error: {type(e).__name__}: {e}")
    return {
        "completion_id": row["completion_id"],
        "verifier": verifier,
        "verifier_version": version,
        "passed": bool(verdict.passed),
        "score": float(verdict.score),
        "extracted": verdict.extracted,
        "reason": verdict.reason,
        "steps": json.dumps(verdict.steps) if verdict.steps is not None else None,
        "first_error_step": verdict.first_error_step,
        "elapsed_ms": (time.perf_counter() - start) * 1000,
    }


def judge_chunk(verifier: str, version: str, rows: list[dict]) -> list[dict]:
    return [judge(verifier, version, row) for row in rows]


_PENDING_SQL = """
    SELECT c.completion_id, c.text, p.problem_id, p.domain, p.task, p.source, p.prompt, p.answer,
           p.verifier, p.difficulty, p.meta
    FROM completions c JOIN problems p USING (problem_id)
    WHERE c.error IS NULL AND ({verifier_filter}) AND ({job_filter})
      AND NOT EXISTS (SELECT 1 FROM verdicts v WHERE v.completion_id = c.completion_id
                      AND v.verifier = ? AND v.verifier_version = ?)
    ORDER BY c.completion_id
"""


def pending_rows(store: Store, verifier: str, version: str, job: str | None) -> list[dict]:
    job_filter = in_job() if job else "TRUE"
    params = [verifier, *([job] if job else [])]
    sql = _PENDING_SQL.format(verifier_filter="p.verifier = ?", job_filter=job_filter)
    cursor = store.con.execute(sql, [*params, verifier, version])
    columns = [d[0] for d in cursor.description]
    return [dict(zip(columns, r)) for r in cursor.fetchall()]


def _verifiers_in_use(store: Store, job: str | None) -> list[str]:
    sql = "SELECT DISTINCT p.verifier FROM completions c JOIN problems p USING (problem_id) WHERE c.error IS NULL"
    rows = store.con.execute(sql + (" AND " + in_job() if job else ""), [job] if job else []).fetchall()
    return sorted(r[0] for r in rows)


def _chunks(rows: list[dict]) -> Iterator[list[dict]]:
    for start in range(0, len(rows), CHUNK):
        yield rows[start : start + CHUNK]


def _runtime_verifiers() -> tuple[bytes, set[str]]:
    """(the pickled run-time registrations a worker can import, the names of those it cannot)."""
    import verifiers

    sendable, stuck = verifiers.REGISTRY.sendable()
    return pickle.dumps(sendable), stuck


def _init_worker(payload: bytes) -> None:
    import verifiers

    for name, item in pickle.loads(payload).items():
        verifiers.REGISTRY.register(name, item)


def _executor(verifier: str, workers: int, n_rows: int) -> Executor | None:
    if workers <= 1 or n_rows <= CHUNK:
        return None  # start-up would cost more than it saves
    if verifier == "code":
        return ThreadPoolExecutor(workers)
    payload, stuck = _runtime_verifiers()
    if verifier in stuck:
        warnings.warn(
            f"verifier {verifier!r} is defined where worker processes cannot import it (a notebook, "
            "`python -c`, a lambda); judging it in this process. Define it in a module to use all cores.",
            stacklevel=4,
        )
        return None
    return ProcessPoolExecutor(
        workers, mp_context=get_context("spawn"), initializer=_init_worker, initargs=(payload,)
    )


def _judge_all(verifier: str, version: str, rows: list[dict], workers: int) -> Iterator[list[dict]]:
    executor = _executor(verifier, workers, len(rows))
    if executor is None:
        for chunk in _chunks(rows):
            yield judge_chunk(verifier, version, chunk)
        return
    with executor:
        futures = [executor.submit(judge_chunk, verifier, version, chunk) for chunk in _chunks(rows)]
        for future in as_completed(futures):
            yield future.result()


class VerifyError(CotmillError, ValueError):
    """What to verify does not exist (a --verifier no stored problem names)."""


def run_verify(
    workspace=None,
    job: str | None = None,
    verifier: str | None = None,
    workers: int | None = None,
    vote: bool = False,
    on_progress: Callable[[VerifyStats], None] | None = None,
    executor: str = "local",
    ray_address: str | None = None,
    shard_rows: int | None = None,
) -> VerifyStats:
    """`executor` "ray": judged by Ray tasks (datagen.ray_exec), on the cluster at
    `ray_address`, `shard_rows` completions per task; `workers` is then unused."""
    workers = workers or os.cpu_count() or 1
    stats = VerifyStats()
    report = on_progress or (lambda s: None)
    if executor == "ray":
        from datagen import ray_exec

        ray_exec.require_ray()  # before any work: a missing Ray is the one thing to say
    elif executor != "local":
        raise VerifyError(f"unknown executor {executor!r}; use local or ray")
    with Store.open(workspace) as store:
        if executor == "ray":
            stats.resumed = ray_exec.ingest_leftovers(store, job)
        names = _verifiers_in_use(store, job)
        if verifier:
            names = [n for n in names if n == verifier]
            if not names:
                raise VerifyError(f"no completions of problems judged by {verifier!r}")
        plans = []
        for name in names:
            try:
                version = stored_version(name)
            except KeyError:
                # a problem naming a verifier this cotmill lacks must not stop the others
                stats.unknown[name] = len(pending_rows(store, name, "", job))
                continue
            rows = [r for r in pending_rows(store, name, version, job) if r["answer"] is not None]
            plans.append((name, version, rows))
            stats.pending += len(rows)
        report(stats)

        def count(name: str, judged: int, passed: int) -> None:
            stats.judged += judged
            stats.passed += passed
            stats.by_verifier[name] = stats.by_verifier.get(name, 0) + judged
            report(stats)

        if executor == "ray":
            stats.nodes = ray_exec.judge_plans(store, plans, count, job, ray_address, shard_rows)
        else:
            for name, version, rows in plans:
                for verdicts in _judge_all(name, version, rows, workers):
                    store.write_batch([("verdicts", verdicts, "REPLACE")])
                    count(name, len(verdicts), sum(v["passed"] for v in verdicts))
        if vote:
            from datagen.voting import vote_unlabelled

            stats.pseudo_labels = vote_unlabelled(store, job)
    return stats


def pass_rates(store: Store, job: str | None = None) -> list[tuple]:
    """(domain, task, teacher, judged, passed, pass rate) over the verdicts of the
    current verifier versions (`vote` verdicts included)."""
    import pyarrow as pa

    import verifiers

    names = [n for n in _verifiers_in_use(store, job) if n in verifiers.names()]
    current = {"verifier": names, "version": [stored_version(n) for n in names]}
    from verifiers import vote

    current["verifier"].append("vote")
    current["version"].append(vote.VERSION)
    store.con.register("_current", pa.table(current))
    try:
        return store.con.execute(
            """
            SELECT p.domain, p.task, c.teacher, count(*) AS judged, sum(v.passed::INT) AS passed,
                   round(avg(v.passed::INT), 3) AS pass_rate
            FROM verdicts v
            JOIN _current cur ON v.verifier = cur.verifier AND v.verifier_version = cur.version
            JOIN completions c USING (completion_id) JOIN problems p USING (problem_id)
            WHERE (v.verifier = p.verifier OR v.verifier = 'vote') AND {job}
            GROUP BY ALL ORDER BY ALL
            """.format(job=in_job() if job else "TRUE"),
            [job] if job else [],
        ).fetchall()
    finally:
        store.con.unregister("_current")
