"""Build a mixture: choose completions from the `curated` view by the plan, assign
train/val splits, and store the plan and every chosen item.

Determinism: every ordering is by a hash of the seed and an id, never by the
order rows come out of DuckDB, so the same seed over the same pool chooses the
same items and a different seed a different sample.

Choosing within a bucket: problems in seeded order, and each problem's passing
completions in seeded order; round r takes the r-th completion of every problem
(r < max_per_problem), so extra completions per problem come only once every
problem has one. When upsampling is allowed (max_upsample > 1) the same sequence
is repeated (`repeat` 1, 2, ...) up to the cap. In token mode a bucket takes items
in that order while they fit its token target (stopping at the first that does
not, rather than hunting for short ones, which would bias towards short CoTs).

Splits are per problem, so no problem is in both: val's round(val x examples) are
shared over the domains by their sizes, and within a domain problems in seeded
order go to val until its share is met (exact when max_per_problem is 1).
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass

from datagen.store import Store
from mixtures.planner import Bucket, Plan, largest_remainder, make_buckets, plan_targets, source_quotas
from mixtures.spec import MixSpec, SpecError


@dataclass
class Item:
    completion_id: str
    problem_id: str
    domain: str
    task: str
    source: str  # what temperature sampling spreads over: the problem's source and task
    difficulty: int | None
    tokens: int
    bucket: str = ""
    split: str = "train"
    position: int = 0
    repeat: int = 0

    def row(self, mixture: str) -> dict:
        return {"mixture": mixture, "completion_id": self.completion_id, "problem_id": self.problem_id,
                "domain": self.domain, "bucket": self.bucket, "split": self.split,
                "position": self.position, "repeat": self.repeat, "tokens": self.tokens}  # fmt: skip


def seeded_key(seed: int, value: str) -> str:
    return hashlib.sha256(f"{seed}\x00{value}".encode()).hexdigest()


# the reasons a completion leaves `curated` that are verdicts, not curation: an unverified
# mixture (spec.verified false) ignores these and keeps every other mark
VERDICT_REASONS = ("failed_verification", "unverified")

# every stored completion curation kept, passing or not: what an unverified mixture draws from
UNVERIFIED_SQL = f"""
    SELECT c.completion_id, c.problem_id, c.job, c.text, c.prompt_tokens, c.completion_tokens,
           p.domain, p.task, p.source, p.difficulty
    FROM completions c JOIN problems p USING (problem_id)
    WHERE c.error IS NULL AND c.text IS NOT NULL
      AND NOT EXISTS (SELECT 1 FROM curation_marks m WHERE m.kind = 'problem' AND m.item_id = c.problem_id)
      AND NOT EXISTS (SELECT 1 FROM curation_marks m WHERE m.kind = 'completion' AND m.item_id = c.completion_id
                      AND m.reason NOT IN {VERDICT_REASONS})
"""


def eligible_sql(verified: bool) -> str:
    """The relation a mixture's items come from: `curated`, or every kept completion."""
    return "curated" if verified else f"({UNVERIFIED_SQL})"


# tokens: what an SFT step trains on; a teacher that reported no usage is estimated
# at 4 characters a token so a token budget still means something
def _pool_sql(verified: bool) -> str:
    return f"""
    SELECT completion_id, problem_id, domain, task, source || ':' || task AS source, difficulty,
           coalesce(prompt_tokens, 0) + coalesce(completion_tokens, ceil(length(coalesce(text, '')) / 4))
    FROM {eligible_sql(verified)} WHERE list_contains(?, domain)
      AND (len(?) = 0 OR completion_id IN (SELECT completion_id FROM job_completions WHERE list_contains(?, job)))
      AND problem_id NOT IN (SELECT problem_id FROM mixture_items WHERE list_contains(?, mixture))
      AND problem_id NOT IN (SELECT c.problem_id FROM completions c JOIN job_completions j USING (completion_id)
                             WHERE list_contains(?, j.job))
"""


def load_pool(store: Store, domains: list[str], exclude: list[str] = (), jobs: list[str] = (),
              verified: bool = True, exclude_jobs: list[str] = ()) -> list[Item]:  # fmt: skip
    exclude, jobs, exclude_jobs = list(exclude), list(jobs), list(exclude_jobs)
    known = {r[0] for r in store.con.execute("SELECT name FROM mixtures").fetchall()}
    missing = [name for name in exclude if name not in known]
    if missing:
        have = ", ".join(sorted(known)) or "none"
        raise SpecError(f"exclude names mixture(s) not built: {', '.join(missing)} (built: {have})")
    if jobs or exclude_jobs:
        known_jobs = {r[0] for r in store.con.execute("SELECT DISTINCT job FROM job_completions").fetchall()}
        for key, names in (("jobs", jobs), ("exclude_jobs", exclude_jobs)):
            missing = [name for name in names if name not in known_jobs]
            if missing:
                have = ", ".join(sorted(known_jobs)) or "none"
                raise SpecError(
                    f"{key} names job(s) with no completions: {', '.join(missing)} (jobs: {have})"
                )
    rows = store.con.execute(_pool_sql(verified), [domains, jobs, jobs, exclude, exclude_jobs]).fetchall()
    return [Item(*r[:6], int(r[6])) for r in rows]


def _in_bucket(item: Item, bucket: Bucket) -> bool:
    if item.domain != bucket.domain:
        return False
    if bucket.key == "all":
        return True
    by, _, value = bucket.key.partition("=")
    return str(item.difficulty if by == "difficulty" else item.task) == value


def ordered_unique(items: list[Item], seed: int, max_per_problem: int) -> list[Item]:
    """The bucket's usable items in choosing order (see the module docstring)."""
    by_problem: dict[str, list[Item]] = {}
    for item in items:
        by_problem.setdefault(item.problem_id, []).append(item)
    problems = sorted(by_problem, key=lambda p: seeded_key(seed, p))
    for pid in problems:
        by_problem[pid].sort(key=lambda i: seeded_key(seed, i.completion_id))
    rounds = min(max_per_problem, max((len(v) for v in by_problem.values()), default=0))
    return [by_problem[p][r] for r in range(rounds) for p in problems if r < len(by_problem[p])]


def _take(sequence: list[Item], quota: int, upsample: float, by_tokens: bool) -> list[Item]:
    """The first `quota` units of the sequence, repeated while upsampling allows."""
    size = sum(i.tokens for i in sequence) if by_tokens else len(sequence)
    cap = min(quota, math.floor(size * upsample))
    chosen: list[Item] = []
    used = 0
    for repeat in range(math.ceil(upsample)):
        for item in sequence:
            cost = item.tokens if by_tokens else 1
            if used + cost > cap:
                if by_tokens and used < cap:
                    continue  # too long for what is left; a shorter one may still fit
                return chosen
            chosen.append(Item(**{**item.__dict__, "repeat": repeat}))
            used += cost
    return chosen


def _fill_bucket(bucket: Bucket, unique: list[Item], spec: MixSpec) -> list[Item]:
    by_tokens = spec.unit == "tokens"
    per_source: dict[str, list[Item]] = {}
    for item in unique:
        per_source.setdefault(item.source, []).append(item)
    sizes = {s: (sum(i.tokens for i in v) if by_tokens else len(v)) for s, v in per_source.items()}
    quotas = source_quotas(bucket.target, sizes, spec.temperature, spec.max_upsample)
    chosen: list[Item] = []
    carry = 0  # in token mode a source stops short of its quota; the next one may use the rest
    for source in sorted(per_source):
        quota = quotas[source] + carry
        taken = _take(per_source[source], quota, spec.max_upsample, by_tokens)
        carry = quota - (sum(i.tokens for i in taken) if by_tokens else len(taken))
        bucket.sources[source] = len(taken)
        chosen.extend(taken)
    if by_tokens and carry > 0:
        # what the last source could not use goes round the sources once more
        picked = {i.completion_id for i in chosen}
        for source in sorted(per_source):
            rest = [i for i in per_source[source] if i.completion_id not in picked]
            taken = _take(rest, carry, 1.0, by_tokens)
            carry -= sum(i.tokens for i in taken)
            bucket.sources[source] += len(taken)
            chosen.extend(taken)
    for item in chosen:
        item.bucket = bucket.name
    bucket.chosen = len(chosen)
    bucket.chosen_tokens = sum(i.tokens for i in chosen)
    return chosen


def assign_splits(items: list[Item], spec: MixSpec) -> None:
    """Val gets round(val x examples) in all, shared over domains by largest remainder;
    within a domain whole problems go to val in seeded order until its share is met."""
    domains = list(spec.ratios)
    sizes = [sum(1 for i in items if i.domain == d) for d in domains]
    wanted = largest_remainder(math.floor(spec.split.val * len(items) + 0.5), sizes)
    for domain, want in zip(domains, wanted):
        per_problem: dict[str, list[Item]] = {}
        for item in items:
            if item.domain == domain:
                per_problem.setdefault(item.problem_id, []).append(item)
        in_val = 0
        for pid in sorted(per_problem, key=lambda p: seeded_key(spec.seed, "split:" + p)):
            if in_val >= want:
                break
            for item in per_problem[pid]:
                item.split = "val"
            in_val += len(per_problem[pid])


def plan_mixture(store: Store, spec: MixSpec) -> tuple[Plan, list[Item]]:
    """The plan and the chosen items, without writing anything."""
    pool = load_pool(store, list(spec.ratios), spec.exclude, spec.jobs, spec.verified, spec.exclude_jobs)
    buckets = make_buckets(spec)
    uniques = []
    for bucket in buckets:
        unique = ordered_unique([i for i in pool if _in_bucket(i, bucket)], spec.seed, spec.max_per_problem)
        uniques.append(unique)
        by_tokens = spec.unit == "tokens"
        sizes: dict[str, int] = {}
        for item in unique:
            sizes[item.source] = sizes.get(item.source, 0) + (item.tokens if by_tokens else 1)
        bucket.available = len(unique)
        bucket.available_tokens = sum(i.tokens for i in unique)
        bucket.capacity = sum(math.floor(s * spec.max_upsample) for s in sizes.values())
    plan = plan_targets(spec, buckets)
    items = [item for b, u in zip(buckets, uniques) for item in _fill_bucket(b, u, spec)]
    assign_splits(items, spec)
    items.sort(key=lambda i: seeded_key(spec.seed, f"position:{i.completion_id}:{i.repeat}"))
    for position, item in enumerate(items):
        item.position = position
    for bucket in buckets:
        bucket.val = sum(1 for i in items if i.bucket == bucket.name and i.split == "val")
    return plan, items


def build_mixture(store: Store, spec: MixSpec) -> tuple[Plan, list[Item], bool]:
    """Plan, choose and store; a mixture of the same name is replaced. Returns
    (plan, items, replaced)."""
    plan, items = plan_mixture(store, spec)
    replaced = bool(
        store.con.execute("SELECT count(*) FROM mixtures WHERE name = ?", [spec.name]).fetchall()[0][0]
    )
    row = {"name": spec.name, "spec": json.dumps(spec.model_dump(), sort_keys=True),
           "plan": json.dumps(plan.to_json(), sort_keys=True), "seed": spec.seed,
           "total": len(items), "tokens": sum(i.tokens for i in items)}  # fmt: skip
    with store.transaction():
        store.con.execute("DELETE FROM mixture_items WHERE mixture = ?", [spec.name])
        store.con.execute("DELETE FROM mixtures WHERE name = ?", [spec.name])
        store.insert_rows("mixtures", [row], mode="APPEND")
        store.insert_rows("mixture_items", [i.row(spec.name) for i in items], mode="APPEND")
    return plan, items, replaced
