"""`cotmill curate --executor ray`: the CPU-heavy parts of curation, the normalised texts
and MinHash signatures of duplicate detection and the benchmark n-gram matching of
decontamination, as Ray tasks over shards of problems and completions.

Each task runs the local path's own functions (mixtures.dedup.normalise and signatures,
mixtures.decontam.matches) on its shard and writes the results as a Parquet file under
the workspace, W/shards/curate/<job or "all">/part-*.parquet (atomically, as
datagen.shards does); the driver, which holds the store, reads each file as its task
finishes and deletes it. The rest runs in the driver exactly as with the local executor
(grouping equal texts, LSH banding and clustering, filters, marks): each result depends
on its own text alone, so the marks are the same.
Workers never open the DuckDB file.

Nothing here is worth keeping across runs: a run recomputes everything from the data, so
the files a killed driver left are deleted when the next run starts. Every node must see
the workspace at the same path and have cotmill installed, as for `verify --executor
ray`, whose connection helpers (datagen.ray_exec) this module shares. Ray is imported
only when a run asks for it.
"""

from __future__ import annotations

import shutil
import uuid
from collections import deque
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from datagen import shards
from datagen.ray_exec import TRIES, RayError, connect, require_ray
from mixtures.decontam import build_index, matches
from mixtures.dedup import NUM_PERM, normalise, signatures

SHARD_ROWS = 4096  # items per task: ~0.4 s of signing, far above Ray's per-task cost (~ms)


def sign_shard(ids: list[str], texts: list[str], shingle: int, index, path: str) -> tuple[str, str]:
    """One Ray task: the texts' normalised forms, MinHash signatures and, given a benchmark
    index, the item each one is contaminated by (or null), written as the Parquet file
    `path`. Returns (path, node id)."""
    import ray

    sig = signatures(texts, shingle, NUM_PERM)
    columns = {
        "item_id": pa.array(ids, pa.string()),
        "normalised": pa.array([normalise(t) for t in texts], pa.string()),
        "signature": pa.FixedSizeListArray.from_arrays(pa.array(sig.ravel(), pa.uint64()), NUM_PERM),
    }
    if index is not None:
        hits = dict(matches(index, zip(ids, texts)))
        columns["contaminated"] = pa.array([hits.get(i) for i in ids], pa.string())
    shards.write_parquet(path, pa.table(columns))
    return path, ray.get_runtime_context().get_node_id()


class Remote:
    """The Ray side of one curate run: `submit` the items of a kind ("problem",
    "completion"), then ask for their results (`signed`, `contaminated`), which wait for
    that kind's tasks only (the driver filters completions while they are signed). A
    context manager: on exit it cancels what still runs, deletes the run's files and stops
    a Ray it started."""

    def __init__(self, root, job: str | None, address: str | None, shard_rows: int | None, shingle: int):
        self.ray = require_ray()
        self.folder = shards.shard_dir(root, "curate", job)
        self.address, self.shard_rows, self.shingle = address, shard_rows or SHARD_ROWS, shingle
        self.run = uuid.uuid4().hex[:8]  # a retried task rewrites its own file
        self.work: deque = deque()  # (kind, ids, texts, index ref, path) not submitted yet
        self.pending: dict = {}  # task ref -> kind
        self.parts: dict[str, list] = {}  # kind -> [_read(file)] as tasks finish
        self.done: dict[str, tuple] = {}  # kind -> _results
        self.nodes: set[str] = set()
        self.started, self.task = False, None

    def __enter__(self) -> Remote:
        shutil.rmtree(self.folder, ignore_errors=True)  # a killed run's results: recomputed anyway
        return self

    def _connect(self) -> None:
        ray = self.ray
        self.started = connect(ray, self.address)
        self.task = ray.remote(num_cpus=1, max_retries=TRIES - 1, scheduling_strategy="SPREAD")(sign_shard)
        self.window = max(4, 2 * int(ray.cluster_resources().get("CPU", 1)))  # inputs in the object store

    def __exit__(self, *exc) -> None:
        try:
            for ref in self.pending:  # an error midway: stop the rest
                self.ray.cancel(ref)
        finally:
            if self.started:
                self.ray.shutdown()
            shutil.rmtree(self.folder, ignore_errors=True)

    def submit(self, kind: str, ids: list[str], texts: list[str], benchmarks=(), ngram=8, text_field=None):
        """Sign `texts` (and match them against the `benchmarks` files) in shards of
        shard_rows. The benchmark index is built here, once: a bad file is the local
        executor's error, raised before joining the cluster."""
        index = build_index(benchmarks, ngram, text_field) if benchmarks else None
        if self.task is None:
            self._connect()
        if index is not None:
            index = self.ray.put(index)
        self.parts[kind] = []
        for number, start in enumerate(range(0, len(ids), self.shard_rows)):
            path = self.folder / f"part-{self.run}-{kind}-{number:05d}.parquet"
            end = start + self.shard_rows
            self.work.append((kind, ids[start:end], texts[start:end], index, str(path)))
        self._pump()

    def signed(self, kind: str, ids: list[str]) -> tuple[list[str], np.ndarray]:
        """(normalised texts, signatures) of the items `ids` (submitted as `kind`), in that order."""
        rows, keys, sig, _ = self._results(kind)
        at = np.fromiter((rows[i] for i in ids), np.int64, len(ids))
        return [keys[i] for i in at], sig[at]

    def contaminated(self, ids: list[str]) -> list[tuple[str, str]]:
        """(problem_id, "FILE location") for each problem of `ids` a benchmark matched, in that order."""
        hits = self._results("problem")[3]
        return [(i, hits[i]) for i in ids if i in hits]

    def _results(self, kind: str) -> tuple[dict, list[str], np.ndarray, dict]:
        """(id -> row, normalised texts, signatures, id -> contaminating item) of `kind`."""
        while any(k == kind for k in self.pending.values()) or any(w[0] == kind for w in self.work):
            self._wait_one()
        if kind not in self.done:
            parts = self.parts.pop(kind)
            ids = [i for part in parts for i in part[0]]
            keys = [key for part in parts for key in part[1]]
            sig = np.concatenate([p[2] for p in parts]) if parts else np.empty((0, NUM_PERM), np.uint64)
            hits = {i: label for part in parts for i, label in part[3].items()}
            self.done[kind] = ({i: row for row, i in enumerate(ids)}, keys, sig, hits)
        return self.done[kind]

    def _pump(self) -> None:
        while self.work and len(self.pending) < self.window:
            kind, ids, texts, index, path = self.work.popleft()
            self.pending[self.task.remote(ids, texts, self.shingle, index, path)] = kind

    def _wait_one(self) -> None:
        ray = self.ray
        done, _ = ray.wait(list(self.pending), num_returns=1)
        kind = self.pending.pop(done[0])
        try:
            path, node = ray.get(done[0])
        except ray.exceptions.RayError as e:
            raise RayError(
                f"a Ray task signing {kind}s for curate failed after {TRIES} tries: {type(e).__name__}: {e}; "
                "no marks were changed"
            ) from None
        self.parts[kind].append(_read(Path(path)))
        self.nodes.add(node)
        self._pump()


def _read(path: Path) -> tuple[list[str], list[str], np.ndarray, dict[str, str]]:
    """(ids, normalised texts, signatures, id -> contaminating item) of a task's file, which
    is then deleted."""
    if not path.exists():
        raise RayError(
            f"{path}, written by a Ray worker, is not visible here: every node must see the "
            "workspace at the same path (a shared filesystem)"
        )
    table = pq.read_table(path)
    path.unlink()
    ids = table.column("item_id").to_pylist()
    sig = table.column("signature").combine_chunks().flatten().to_numpy().reshape(len(ids), NUM_PERM)
    hits = {}
    if "contaminated" in table.column_names:
        hits = {
            i: label for i, label in zip(ids, table.column("contaminated").to_pylist()) if label is not None
        }
    return ids, table.column("normalised").to_pylist(), sig, hits
