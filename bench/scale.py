"""Verify throughput with Ray against the local process pool on this machine, the rate at
which the single DuckDB writer ingests verdict shards, and what those two numbers say
about scaling verify to N nodes; and builtin generation on Ray against a local job.

    python bench/scale.py [--completions 10000] [--tasks math,code,logic] [--ingest-rows 200000]

1. The builtin teacher writes --completions completions (planted slips: 20%).
2. Two copies of that workspace are verified: one by the local pool (all cores), one by
   `--executor ray` on a Ray cluster of this machine with as many CPUs (started before the
   clock, as `ray start --head` would be; its start-up is printed apart). The verdicts
   must be equal; the overhead is Ray's time over the local pool's.
3. Ingest: --ingest-rows verdict rows (the real ones, copied under fresh ids) written as
   shards of --shard-rows and ingested into a fresh copy, one transaction per shard, as
   the driver does: rows per second.
4. The model: a node of C cores judges C / t completions per second (t: the mean judging
   time per completion, from the verdicts' own elapsed_ms); the one writer ingests R rows
   per second, so ingest caps verify at N = R * t / C nodes.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))

from datagen import shards  # noqa: E402
from datagen.config import GenerateConfig  # noqa: E402
from datagen.jobs import run_generate  # noqa: E402
from datagen.store import Store  # noqa: E402
from datagen.verify_runner import run_verify  # noqa: E402

COLUMNS = (
    "completion_id, verifier, verifier_version, passed, score, extracted, reason, steps, first_error_step"
)


def verdicts(ws: Path) -> list[tuple]:
    with Store.open(ws, read_only=True) as store:
        return store.con.execute(f"SELECT {COLUMNS} FROM verdicts ORDER BY ALL").fetchall()


def completions(ws: Path) -> list[tuple]:
    with Store.open(ws, read_only=True) as store:
        return store.con.execute(
            "SELECT completion_id, text, prompt_tokens, completion_tokens, error FROM completions ORDER BY 1"
        ).fetchall()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--completions", type=int, default=10_000)
    parser.add_argument("--tasks", default="math,code,logic")
    parser.add_argument("--shard-rows", type=int, default=512)
    parser.add_argument("--ingest-rows", type=int, default=200_000)
    args = parser.parse_args()
    import ray

    cores = os.cpu_count() or 1
    with tempfile.TemporaryDirectory(prefix="cotmill-scale-") as tmp:
        base = Path(tmp) / "base"
        start = time.perf_counter()
        run_generate(GenerateConfig(workspace=str(base), job="s", tasks=args.tasks, count=args.completions // 2,
                                    samples=2, error_rate=0.2))  # fmt: skip
        gen_s = time.perf_counter() - start
        print(f"generate, local (one process): {args.completions:,} builtin completions in {gen_s:.1f} s")
        local, distributed = Path(tmp) / "local", Path(tmp) / "ray"
        shutil.copytree(base, local)
        shutil.copytree(base, distributed)

        start = time.perf_counter()
        stats = run_verify(local, workers=cores)
        local_s = time.perf_counter() - start
        print(f"local pool ({cores} processes): {stats.judged:,} in {local_s:.2f} s = "
              f"{stats.judged / local_s:,.0f} completions/s")  # fmt: skip

        start = time.perf_counter()
        ray.init(address="local", num_cpus=cores, include_dashboard=False, log_to_driver=False)
        up_s = time.perf_counter() - start
        start = time.perf_counter()
        stats = run_verify(distributed, executor="ray", shard_rows=args.shard_rows)
        ray_s = time.perf_counter() - start
        generated = Path(tmp) / "generated-on-ray"
        start = time.perf_counter()
        run_generate(GenerateConfig(workspace=str(generated), job="s", tasks=args.tasks, count=args.completions // 2,
                                    samples=2, error_rate=0.2, executor="ray"))  # fmt: skip
        gen_ray_s = time.perf_counter() - start
        ray.shutdown()
        print(f"ray ({cores} CPUs, {args.shard_rows} per shard): {stats.judged:,} in {ray_s:.2f} s = "
              f"{stats.judged / ray_s:,.0f} completions/s; overhead {ray_s / local_s - 1:+.0%} "
              f"(cluster start-up {up_s:.1f} s, not counted)")  # fmt: skip
        same = verdicts(local) == verdicts(distributed)
        print(f"verdicts equal to the local pool's: {same}")
        print(f"generate, ray ({cores} actors): {args.completions:,} in {gen_ray_s:.1f} s = {gen_s / gen_ray_s:.2f}x "
              f"the local job; completions equal: {completions(generated) == completions(base)}")  # fmt: skip

        with Store.open(local, read_only=True) as store:
            ((per_ms,),) = store.con.execute("SELECT avg(elapsed_ms) FROM verdicts").fetchall()
            table = store.con.sql("SELECT * EXCLUDE (created_at) FROM verdicts").to_arrow_table()
        rate = ingest_rate(Path(tmp), base, table, args.ingest_rows, args.shard_rows)
        print(f"ingest: {rate:,.0f} verdict rows/s (shards of {args.shard_rows}, one transaction each)")
        per_node = cores / (per_ms / 1000)
        print(
            f"judging: {per_ms:.2f} ms per completion (mean) -> {per_node:,.0f} completions/s per {cores}-core node"
        )
        print(f"model: the single writer caps verify at about {rate / per_node:,.0f} nodes of {cores} cores "
              f"({rate * per_ms / 1000:,.0f} cores)")  # fmt: skip
        if not same:
            sys.exit(1)


def ingest_rate(tmp: Path, base: Path, table, rows: int, shard_rows: int) -> float:
    """Rows per second ingested from shards of real verdicts copied under fresh ids."""
    import pyarrow as pa
    import pyarrow.compute as pc

    copies, made = [], 0
    while made < rows:
        part = table.slice(0, min(table.num_rows, rows - made))
        ids = pc.binary_join_element_wise(part["completion_id"], pa.scalar(f"-{len(copies)}"), "")
        copies.append(part.set_column(0, "completion_id", ids))
        made += part.num_rows
    whole = pa.concat_tables(copies)
    folder = tmp / "ingest-shards"
    for index, start in enumerate(range(0, whole.num_rows, shard_rows)):
        shards.write_shard(folder / f"part-{index:05d}.parquet", "verdicts", whole.slice(start, shard_rows))
    target = tmp / "ingest"
    shutil.copytree(base, target)
    with Store.open(target) as store:
        start = time.perf_counter()
        _, added = shards.ingest(store, [folder])
        elapsed = time.perf_counter() - start
    assert added == whole.num_rows, (added, whole.num_rows)
    return added / elapsed


if __name__ == "__main__":
    main()
