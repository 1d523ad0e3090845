"""Curate with Ray against the local executor on this machine: wall time of each, their
ratio, and how much of the local run the part Ray takes over (normalising, signing and
benchmark matching) is, which bounds what more nodes can gain.

    python bench/scale_curate.py [--completions 20000] [--tasks math,code,logic] [--shard-rows 4096] [--repeat 3]

1. The builtin teacher writes --completions completions (2 samples per problem, planted
   slips: 20%), so there are exact and near duplicates to find.
2. Two copies of that workspace are curated with --decontaminate (the GSM8K and HumanEval
   test files of ../shared/data/benchmarks, where present): one by the local executor, one
   by `--executor ray` on a Ray cluster of this machine with as many CPUs (started before
   the clock, as `ray start --head` would be; its start-up is printed apart), --repeat
   times each, in turn; the fastest run of each counts (a shared machine's noise only
   slows a run down). The marks must be equal.
3. The share: what the tasks do (mixtures.dedup.normalise and signatures over every
   problem and completion, mixtures.decontam.matches over the problems) timed alone in
   one process, fastest of --repeat, over the local run's time. The rest (reading the
   store, grouping, banding, filters, writing the marks) stays in the driver however many
   nodes work (Amdahl).
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

from datagen.config import GenerateConfig  # noqa: E402
from datagen.jobs import run_generate  # noqa: E402
from datagen.store import Store  # noqa: E402
from mixtures.curate import run_curate  # noqa: E402
from mixtures.decontam import build_index, matches  # noqa: E402
from mixtures.dedup import normalise, signatures  # noqa: E402
from mixtures.defaults import SHINGLE  # noqa: E402

BENCHMARKS = REPO.parent / "shared" / "data" / "benchmarks"
MARKS = "SELECT kind, item_id, reason, detail FROM curation_marks ORDER BY ALL"


def marks(ws: Path) -> list[tuple]:
    with Store.open(ws, read_only=True) as store:
        return store.con.execute(MARKS).fetchall()


def offloaded_seconds(ws: Path, benchmarks: list[str]) -> float:
    """The local time of what Ray tasks take over: normalising and signing every item,
    matching the problems."""
    with Store.open(ws, read_only=True) as store:
        problems = store.con.execute("SELECT problem_id, prompt FROM problems").fetchall()
        texts = [
            r[0] for r in store.con.execute("SELECT text FROM completions WHERE error IS NULL").fetchall()
        ]
    index = build_index(benchmarks) if benchmarks else None  # built in the driver either way
    start = time.perf_counter()
    for batch in ([p[1] for p in problems], texts):
        [normalise(t) for t in batch]
        signatures(batch, SHINGLE)
    if index is not None:
        matches(index, problems)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--completions", type=int, default=20_000)
    parser.add_argument("--tasks", default="math,code,logic")
    parser.add_argument("--shard-rows", type=int, help="[default: mixtures.ray_curate.SHARD_ROWS]")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    import ray

    cores = os.cpu_count() or 1
    found = [BENCHMARKS / "gsm8k_test.jsonl", BENCHMARKS / "humaneval.jsonl"]
    benchmarks = [str(p) for p in found if p.exists()]
    with tempfile.TemporaryDirectory(prefix="cotmill-scale-curate-") as tmp:
        base = Path(tmp) / "base"
        start = time.perf_counter()
        run_generate(GenerateConfig(workspace=str(base), job="s", tasks=args.tasks, count=args.completions // 2,
                                    samples=2, error_rate=0.2))  # fmt: skip
        print(f"generated {args.completions:,} builtin completions in {time.perf_counter() - start:.1f} s; "
              f"benchmarks: {', '.join(Path(b).name for b in benchmarks) or 'none'}")  # fmt: skip
        local, distributed = Path(tmp) / "local", Path(tmp) / "ray"
        shutil.copytree(base, local)
        shutil.copytree(base, distributed)

        start = time.perf_counter()
        ray.init(num_cpus=cores, include_dashboard=False, log_to_driver=False)
        up_s = time.perf_counter() - start
        local_s = ray_s = part = float("inf")
        for _ in range(args.repeat):
            start = time.perf_counter()
            stats = run_curate(local, decontaminate=benchmarks)
            local_s = min(local_s, time.perf_counter() - start)
            start = time.perf_counter()
            run_curate(distributed, decontaminate=benchmarks, executor="ray", shard_rows=args.shard_rows)
            ray_s = min(ray_s, time.perf_counter() - start)
            part = min(part, offloaded_seconds(base, benchmarks))
        ray.shutdown()
        print(f"{stats.problems:,} problems and {stats.completions:,} completions, fastest of {args.repeat}: "
              f"local {local_s:.2f} s, ray ({cores} CPUs) {ray_s:.2f} s; ray / local = {ray_s / local_s:.2f} "
              f"(cluster start-up {up_s:.1f} s, not counted)")  # fmt: skip
        same = marks(local) == marks(distributed)
        print(f"marks equal to the local executor's: {same}")
        bound = local_s / max(local_s - part, 1e-9)
        print(f"what the tasks do, timed alone: {part:.2f} s = {part / local_s:.0%} of the local run; the rest "
              f"stays in the driver, so no cluster curates faster than {bound:.1f}x the local executor")  # fmt: skip
        if not same:
            sys.exit(1)


if __name__ == "__main__":
    main()
