"""Measured difficulty: each problem's pass rate over its samples (k of n), bucketed,
and the pool of problems worth RL training on.

A sample counts by the latest verdict of its problem's own verifier (the same rule
as the `curated` view), so re-verifying with a new verifier version moves the rate.
Completions that errored or were never judged are not samples.
"""

from __future__ import annotations

from datagen.store import Store

# upper bounds of the buckets between all-fail and all-pass
BUCKETS = (("hard", 0.34), ("medium", 0.67), ("easy", 1.0))

LATEST_VERDICTS = """
    WITH latest AS (
        SELECT v.completion_id, v.verifier, v.passed, row_number() OVER (
            PARTITION BY v.completion_id, v.verifier ORDER BY v.created_at DESC, v.verifier_version DESC
        ) AS rn
        FROM verdicts v
    )
    SELECT c.completion_id, c.problem_id, c.job, l.passed
    FROM completions c
    JOIN problems p USING (problem_id)
    JOIN latest l ON l.completion_id = c.completion_id AND l.verifier = p.verifier AND l.rn = 1
    WHERE c.error IS NULL
"""


def bucket(passed: int, samples: int) -> str:
    if passed == 0:
        return "all_fail"
    if passed == samples:
        return "all_pass"
    rate = passed / samples
    return next(name for name, upper in BUCKETS if rate < upper)


def update_difficulty(store: Store) -> int:
    """Recompute the `difficulty` table from the verdicts; returns the problems rated."""
    rows = store.con.execute(
        f"""SELECT problem_id, count(*) AS samples, sum(passed::INT) AS passed
            FROM ({LATEST_VERDICTS}) GROUP BY problem_id ORDER BY problem_id"""
    ).fetchall()
    rated = [
        {"problem_id": pid, "samples": n, "passed": k, "pass_rate": k / n, "bucket": bucket(k, n)}
        for pid, n, k in rows
    ]
    with store.transaction():
        # problems whose samples all vanished must not keep a stale rate
        store.con.execute("DELETE FROM difficulty")
        store.insert_rows("difficulty", rated)
    return len(rated)


def rl_pool(
    store: Store, min_pass_rate: float | None = None, max_pass_rate: float | None = None
) -> list[str]:
    """Problem ids for RL: by default 0 < pass rate < 1, since a group whose samples all
    pass or all fail has zero advantage everywhere and gives GRPO no signal. A bound that
    is given is inclusive. Problems with a curation mark (duplicate, contaminated) are left out."""
    low = "d.pass_rate > 0" if min_pass_rate is None else "d.pass_rate >= ?"
    high = "d.pass_rate < 1" if max_pass_rate is None else "d.pass_rate <= ?"
    params = [x for x in (min_pass_rate, max_pass_rate) if x is not None]
    rows = store.con.execute(
        f"""SELECT d.problem_id FROM difficulty d
            WHERE {low} AND {high}
              AND NOT EXISTS (SELECT 1 FROM curation_marks m WHERE m.kind = 'problem' AND m.item_id = d.problem_id)
            ORDER BY d.problem_id""",
        params,
    ).fetchall()
    return [r[0] for r in rows]
