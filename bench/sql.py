"""Typical analytic queries over 1M generated completions; prints their timings.

A real job makes the seed rows (the builtin teacher, 2% of the target, verified
by the real verifiers); SQL then copies them with fresh ids up to the target
count, so the data has the shape and text of real completions without waiting
for a million builtin requests. The queries are the ones a user runs: pass
rates by slice, token percentiles, failing steps, cost, text search.

    python bench/sql.py [--completions 1000000] [--seed-fraction 0.02]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from datagen.config import GenerateConfig  # noqa: E402
from datagen.jobs import run_generate  # noqa: E402
from datagen.store import Store  # noqa: E402
from datagen.verify_runner import run_verify  # noqa: E402

QUERIES = {
    "pass rate by domain, task, teacher": """
        select p.domain, p.task, c.teacher, count(*) n, avg(v.passed::int) pass_rate
        from verdicts v join completions c using (completion_id) join problems p using (problem_id)
        group by all order by all""",
    "pass rate by difficulty": """
        select p.difficulty, avg(v.passed::int) from verdicts v
        join completions c using (completion_id) join problems p using (problem_id) group by 1 order by 1""",
    "token percentiles by domain": """
        select p.domain, quantile_cont(c.completion_tokens, [0.5, 0.9, 0.99])
        from completions c join problems p using (problem_id) group by 1""",
    "first wrong step histogram": """
        select first_error_step, count(*) from verdicts where verifier = 'math' group by 1 order by 1""",
    "planted slips caught": """
        select c.meta->>'planted_error' slip, avg(v.passed::int), count(*)
        from completions c join verdicts v using (completion_id) group by 1""",
    "cost and tokens by job": """
        select job, sum(cost_usd), sum(prompt_tokens), sum(completion_tokens) from completions group by 1""",
    "problems with mixed pass rates (GRPO pool)": """
        select count(*) from (select c.problem_id, avg(v.passed::int) r
        from completions c join verdicts v using (completion_id) group by 1) where r > 0 and r < 1""",
    "text search: completions mentioning 'remainder'": """
        select count(*) from completions where text ilike '%remainder%'""",
}


def build(workspace: Path, target: int, seed_fraction: float) -> None:
    seed_count = max(100, int(target * seed_fraction) // 2)
    cfg = GenerateConfig(workspace=str(workspace), job="seed", tasks="math,code,logic",
                         count=seed_count, samples=2, error_rate=0.2)  # fmt: skip
    run_generate(cfg)
    run_verify(workspace)
    with Store.open(workspace) as store:
        seed_rows = store.con.execute("select count(*) from completions").fetchall()[0][0]
        copies = -(-target // seed_rows) - 1
        # copy completions and their verdicts with new ids; problems stay shared
        store.con.execute(f"""
            insert into completions by name
            select c.* replace (c.completion_id || '-' || k::varchar as completion_id, 'copy' as job)
            from completions c, range(1, {copies + 1}) t(k)""")
        store.con.execute(f"""
            insert into verdicts by name
            select v.* replace (v.completion_id || '-' || k::varchar as completion_id)
            from verdicts v, range(1, {copies + 1}) t(k)""")
        store.con.execute("checkpoint")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--completions", type=int, default=1_000_000)
    parser.add_argument("--seed-fraction", type=float, default=0.02)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        ws = Path(tmp)
        start = time.perf_counter()
        build(ws, args.completions, args.seed_fraction)
        with Store.open(ws, read_only=True) as store:
            n = store.con.execute("select count(*) from completions").fetchall()[0][0]
            size = (ws / "cotmill.duckdb").stat().st_size / 2**20
            print(f"{n:,} completions, {size:.0f} MiB on disk, built in {time.perf_counter() - start:.0f} s")
            for name, sql in QUERIES.items():
                times = []
                for _ in range(args.repeats):
                    t = time.perf_counter()
                    store.con.execute(sql).fetchall()
                    times.append(time.perf_counter() - t)
                print(f"{min(times) * 1000:8.1f} ms  {name}  (best of {args.repeats})")


if __name__ == "__main__":
    main()
