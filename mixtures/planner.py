"""The mixture planner: how many examples (or tokens) each bucket gets.

A bucket is a domain, or a part of one (`within: {math: {by: difficulty, ...}}`).
Shares become integers by largest-remainder rounding, so the counts add up to the
budget exactly and the largest fractional parts win the leftover units (ties go
to the bucket listed first, so the plan never depends on dict order or a RNG).

Shortfalls: with `on_shortfall: error` a bucket that needs more than it can give
stops the plan with every such bucket named, its availability and its need. With
`redistribute` the missing units go to the buckets with room, in proportion to
their shares (water-filling), first among the other buckets of the same domain so
domain ratios hold whenever they can; only a budget beyond everything available
is still an error. Pure functions: the build feeds in what the pool holds.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

from mixtures.spec import MixSpec
from verifiers.errors import CotmillError


class ShortfallError(CotmillError, ValueError):
    """Some bucket cannot be filled; the message names each one, and `plan` holds the
    targets and availability so a caller can still show the table."""

    def __init__(self, message: str, plan: Plan | None = None):
        super().__init__(message)
        self.plan = plan


@dataclass
class Bucket:
    domain: str
    key: str  # "all", or e.g. "difficulty=5", "task=sudoku4"
    weight: float  # share within the domain
    available: int = 0  # distinct items usable (max_per_problem honoured)
    available_tokens: int = 0
    capacity: int = 0  # most units it can give (upsampling included)
    target: int = 0  # units planned
    chosen: int = 0  # examples chosen by the build
    chosen_tokens: int = 0
    val: int = 0
    sources: dict[str, int] = field(default_factory=dict)  # examples per source

    @property
    def name(self) -> str:
        return self.domain if self.key == "all" else f"{self.domain}/{self.key}"


@dataclass
class Plan:
    unit: str  # "examples" or "tokens"
    budget: int
    buckets: list[Bucket]

    def domains(self) -> dict[str, dict[str, int]]:
        """Per-domain counts and tokens, available and chosen: enough to re-plan other
        ratios (a ratio sweep) from the stored plan without reading the pool again."""
        out: dict[str, dict[str, int]] = {}
        for b in self.buckets:
            row = out.setdefault(b.domain, dict.fromkeys(
                ("available", "available_tokens", "target", "chosen", "chosen_tokens", "val"), 0))  # fmt: skip
            for k in row:
                row[k] += getattr(b, k)
        return out

    def to_json(self) -> dict:
        return {
            "unit": self.unit,
            "budget": self.budget,
            "buckets": [{**asdict(b), "name": b.name} for b in self.buckets],
            "domains": self.domains(),
        }


def largest_remainder(total: int, weights: list[float]) -> list[int]:
    """Integers proportional to `weights` that sum to `total` exactly."""
    weight_sum = sum(weights)
    if total <= 0 or weight_sum <= 0:
        return [0] * len(weights)
    quotas = [total * w / weight_sum for w in weights]
    counts = [math.floor(q) for q in quotas]
    order = sorted(range(len(weights)), key=lambda i: (-(quotas[i] - counts[i]), i))
    for i in order[: total - sum(counts)]:
        counts[i] += 1
    return counts


def water_fill(total: int, weights: list[float], capacities: list[int]) -> list[int]:
    """Like `largest_remainder`, but no part gets more than its capacity: what a full
    part cannot take is shared among the others by their weights."""
    counts = [0] * len(weights)
    open_parts = [i for i, w in enumerate(weights) if w > 0 and capacities[i] > 0]
    left = total
    while left > 0 and open_parts:
        share = largest_remainder(left, [weights[i] for i in open_parts])
        full = [i for i, s in zip(open_parts, share) if counts[i] + s >= capacities[i]]
        if not full:
            for i, s in zip(open_parts, share):
                counts[i] += s
            return counts
        for i in full:  # fill the full ones, then share the rest again
            left -= capacities[i] - counts[i]
            counts[i] = capacities[i]
        open_parts = [i for i in open_parts if i not in full]
    return counts


def make_buckets(spec: MixSpec) -> list[Bucket]:
    buckets = []
    for domain in spec.ratios:
        within = spec.within.get(domain)
        if within is None:
            buckets.append(Bucket(domain, "all", 1.0))
            continue
        buckets.extend(Bucket(domain, f"{within.by}={k}", w) for k, w in within.weights.items())
    return buckets


def plan_targets(spec: MixSpec, buckets: list[Bucket]) -> Plan:
    """Set every bucket's target; the buckets' availability and capacity are filled in."""
    domains = list(spec.ratios)
    redistribute = spec.on_shortfall == "redistribute"
    split = water_fill if redistribute else (lambda total, w, caps: largest_remainder(total, w))
    caps = [sum(b.capacity for b in buckets if b.domain == d) for d in domains]
    domain_targets = split(spec.budget, [spec.ratios[d] for d in domains], caps)
    for domain, target in zip(domains, domain_targets):
        mine = [b for b in buckets if b.domain == domain]
        for b, t in zip(mine, split(target, [b.weight for b in mine], [b.capacity for b in mine])):
            b.target = t
    plan = Plan(spec.unit, spec.budget, buckets)
    check_shortfall(spec, plan)
    return plan


def check_shortfall(spec: MixSpec, plan: Plan) -> None:
    if spec.on_shortfall == "redistribute":
        have = sum(b.capacity for b in plan.buckets)
        if have < spec.budget:
            raise ShortfallError(
                f"mixture {spec.name}: all buckets together hold {have:,} {spec.unit}, "
                f"{spec.budget:,} needed (even with redistribute)",
                plan,
            )
        return
    short = [b for b in plan.buckets if b.target > b.capacity]
    if short:
        lines = [f"  bucket {b.name}: {b.capacity:,} available, {b.target:,} needed" for b in short]
        hint = "raise max_upsample or max_per_problem, generate more, or set on_shortfall: redistribute"
        raise ShortfallError(
            f"mixture {spec.name}: not enough {spec.unit}\n" + "\n".join(lines) + f"\n{hint}", plan
        )


def source_quotas(quota: int, sizes: dict[str, int], temperature: float, upsample: float) -> dict[str, int]:
    """Split a bucket's quota over its sources with temperature sampling: weights
    proportional to size^(1/T), so T=1 keeps the pool's proportions and a larger T
    flattens them towards equal shares; a source never gets more than it can give."""
    names = sorted(sizes)
    weights = [sizes[n] ** (1.0 / temperature) for n in names]
    counts = water_fill(quota, weights, [math.floor(sizes[n] * upsample) for n in names])
    return dict(zip(names, counts))
