"""`cotmill verify --executor ray`: the pending completions judged by Ray tasks, one
shard of completions per task, on a Ray cluster (`--ray-address auto` or HOST:PORT: one
already running, as `ray start --head` leaves it; none given: RAY_ADDRESS, else a
cluster of this machine started for the run and stopped after it).

Workers never open the DuckDB file. Each task judges its rows with the same code the
local pool runs (verify_runner.judge) and writes its verdicts as a Parquet shard under
the workspace, W/shards/verify/<job or "all">/part-*.parquet; the driver, which holds
the store, ingests each shard as its task finishes, one transaction per shard, and
deletes it. The verdicts' primary key makes that idempotent: a task Ray retried after
its worker died, a shard seen twice, add nothing twice. A driver killed mid-run leaves
the shards it had not ingested; the next run ingests them first, then judges what still
has no current verdict.

Every node must see the workspace at the same path (a shared filesystem, as on a Slurm
cluster) and have cotmill installed: tasks import it there. Ray is optional
(`pip install 'cotmill[ray]'`); this module imports it only when a run asks for it.
"""

from __future__ import annotations

import logging
import os
import re
import socket
import uuid
import warnings
from collections import deque
from collections.abc import Callable
from pathlib import Path

from datagen import shards
from datagen.verify_runner import _init_worker, _judge_all, _runtime_verifiers, judge
from verifiers.errors import CotmillError

# HOST:PORT, [IPv6]:PORT, ray://HOST:PORT (Ray Client)
_HOST_PORT = re.compile(r"^(?:ray://)?(?P<host>\[[^\]]+\]|[^:/\[\]]+):(?P<port>\d{1,5})$")
SHARD_ROWS = 512  # completions per task: large enough that Ray's per-task cost (~ms) is small
TRIES = 4  # a task whose worker died (killed, out of memory) runs again, up to this many times


class RayError(CotmillError, RuntimeError):
    """Ray is missing, cannot be reached, or a task failed after its retries."""


def require_ray():
    """The ray module, or a one-line error saying how to install it."""
    try:
        import ray
    except ImportError:
        raise RayError(
            "--executor ray needs Ray, which is not installed: pip install 'cotmill[ray]' "
            "(or pip install ray)"
        ) from None
    return ray


def check_reachable(address: str | None, timeout: float = 3.0) -> None:
    """A RayError at once when nothing listens at an explicit HOST:PORT (or ray://HOST:PORT),
    where ray.init would retry for minutes before giving up; `auto`, None (RAY_ADDRESS or a
    local Ray) and other forms are left to Ray."""
    match = _HOST_PORT.match(address or "")
    if not match:
        return
    host, port = match.group("host").strip("[]"), int(match.group("port"))
    try:
        socket.create_connection((host, port), timeout=timeout).close()
    except OSError as e:
        reason = e.strerror or type(e).__name__  # a timeout has no strerror
        raise RayError(
            f"cannot reach a Ray cluster at {address}: nothing answers on {host}:{port} ({reason}); "
            "start one there (ray start --head) or pass --ray-address auto"
        ) from None


def connect(ray, address: str | None) -> bool:
    """Join the cluster at `address`; True when this call started Ray (and must stop it)."""
    if ray.is_initialized():  # the caller's own ray.init (a script, a test) is used as it is
        return False
    check_reachable(address)
    # Ray's own INFO lines ("Started a local Ray instance") would land between cotmill's
    # progress lines; its warnings still show
    quiet = {"log_to_driver": False, "logging_level": logging.WARNING}
    try:
        if address:
            ray.init(address=address, **quiet)
        else:  # RAY_ADDRESS if set, else a local cluster for this run
            ray.init(include_dashboard=False, **quiet)
    except (ConnectionError, RuntimeError, ValueError) as e:
        raise RayError(f"cannot reach a Ray cluster at {address or 'RAY_ADDRESS/local'}: {e}") from None
    return True


def judge_shard(verifier: str, version: str, rows: list[dict], payload: bytes, path: str, header: dict):
    """One Ray task: judge `rows`, write their verdicts as the shard `path`.
    Returns (path, verdicts, passed, node id)."""
    import ray

    _init_worker(payload)  # the driver's run-time verifiers, as a local pool's worker gets them
    if verifier == "code":  # the code verifier waits on its sandboxes: threads keep them busy
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(min(8, os.cpu_count() or 1)) as pool:
            verdicts = list(pool.map(lambda row: judge(verifier, version, row), rows))
    else:
        verdicts = [judge(verifier, version, row) for row in rows]
    shards.write_shard(path, "verdicts", verdicts, stage="verify", **header)
    node = ray.get_runtime_context().get_node_id()
    return path, len(verdicts), sum(v["passed"] for v in verdicts), node


def ingest_leftovers(store, job: str | None) -> int:
    """Ingest (then delete) the verify shards an earlier run left un-ingested (its driver
    was killed); the verdicts added."""
    folder = shards.shard_dir(store.root, "verify", job)
    if not folder.is_dir():
        return 0
    return shards.ingest(store, [folder], remove=True)[1]


def judge_plans(
    store,
    plans: list[tuple[str, str, list[dict]]],
    count: Callable[[str, int, int], None],
    job: str | None,
    address: str | None,
    shard_rows: int | None,
) -> set[str]:
    """Judge each (verifier, version, rows) plan on Ray, ingesting each shard as it comes;
    count(verifier, verdicts, passed) after each. Returns the ids of the nodes that worked."""
    ray = require_ray()
    shard_rows = shard_rows or SHARD_ROWS
    payload, stuck = _runtime_verifiers()
    folder = shards.shard_dir(store.root, "verify", job)
    run = uuid.uuid4().hex[:8]  # a retried task rewrites its own file; another run never does
    nodes: set[str] = set()
    started = connect(ray, address)
    try:
        task = ray.remote(num_cpus=1, max_retries=TRIES - 1, scheduling_strategy="SPREAD")(judge_shard)
        window = max(4, 2 * int(ray.cluster_resources().get("CPU", 1)))  # inputs in the object store
        work: deque = deque()
        for name, version, rows in plans:
            if name in stuck:
                _judge_here(store, name, version, rows, count)
                continue
            for index, start in enumerate(range(0, len(rows), shard_rows)):
                path = folder / f"part-{run}-{name}-{index:05d}.parquet"
                work.append((name, version, rows[start : start + shard_rows], str(path)))
        pending: dict = {}
        while work or pending:
            while work and len(pending) < window:
                name, version, rows, path = work.popleft()
                ref = task.remote(name, version, rows, payload, path, {"job": job, "verifier": name})
                pending[ref] = name
            done, _ = ray.wait(list(pending), num_returns=1)
            name = pending.pop(done[0])
            try:
                path, judged, passed, node = ray.get(done[0])
            except ray.exceptions.RayError as e:
                raise RayError(
                    f"a Ray task judging {name!r} failed after {TRIES} tries: {type(e).__name__}: {e}; "
                    "the verdicts ingested so far are stored: re-run to go on"
                ) from None
            _ingest(store, Path(path))
            nodes.add(node)
            count(name, judged, passed)
    finally:
        if started:
            ray.shutdown()
    return nodes


def _ingest(store, path: Path) -> None:
    if not path.exists():
        raise RayError(
            f"shard {path}, written by a Ray worker, is not visible here: every node must see the "
            "workspace at the same path (a shared filesystem)"
        )
    shards.ingest_shard(store, path)
    path.unlink(missing_ok=True)


def _judge_here(store, name: str, version: str, rows: list[dict], count) -> None:
    warnings.warn(
        f"verifier {name!r} is defined where Ray workers cannot import it (a notebook, `python -c`, "
        "a lambda); judging it in this process. Define it in a module to use the cluster.",
        stacklevel=4,
    )
    for verdicts in _judge_all(name, version, rows, 1):
        store.write_batch([("verdicts", verdicts, "REPLACE")])
        count(name, len(verdicts), sum(v["passed"] for v in verdicts))
