"""Shared engine for puzzles that place items into numbered positions (zebra, ordering).

Items are strings (a colour, a pet, a person's name) split into groups; every group
is a permutation of its items over positions 1..n. Clues relate the positions of
items. The solver keeps, for every item, the set of positions still possible and
narrows those sets the way a person fills in a logic grid: one clue at a time, then
"only one item can be here" / "this item can only be there". Generation keeps adding
true clues until that solver finishes, then drops the clues it does not need, so a
puzzle is always solvable by those rules (which also makes its solution unique).
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass

from datagen.tasks.base import Step

# kind -> does the clue hold for positions (x of item a, y of item b)
RELATIONS: dict[str, Callable[[int, int], bool]] = {
    "same": lambda x, y: x == y,
    "next_to": lambda x, y: abs(x - y) == 1,
    "left": lambda x, y: x + 1 == y,
    "before": lambda x, y: x < y,
}


@dataclass(frozen=True)
class Board:
    """The words a puzzle uses around the shared engine."""

    n: int
    groups: list[list[str]]
    nouns: list[str]  # one per group, e.g. "colour" or "person"
    place: str  # "house" or "position"
    clue_text: Callable[[dict], str]


def clue_holds(clue: dict, where: dict[str, int]) -> bool:
    """Whether a clue is true for a full or partial placement (missing items: True)."""
    if clue["a"] not in where or (clue["kind"] != "pos" and clue["b"] not in where):
        return True
    if clue["kind"] == "pos":
        return where[clue["a"]] == clue["pos"]
    return RELATIONS[clue["kind"]](where[clue["a"]], where[clue["b"]])


def _cap(text: str) -> str:
    return text[:1].upper() + text[1:]


def _or_list(values) -> str:
    vals = [str(v) for v in sorted(values)]
    return vals[0] if len(vals) == 1 else ", ".join(vals[:-1]) + " or " + vals[-1]


def _describe(board: Board, changed: dict[str, set[int]]) -> str:
    parts = []
    for item, dom in changed.items():
        if len(dom) == 1:
            parts.append(f"{item} is in {board.place} {next(iter(dom))}")
        else:
            parts.append(f"{item} can only be in {board.place}s {_or_list(dom)}")
    return "; ".join(parts) + "."


def _revise(clue: dict, doms: dict[str, set[int]]) -> dict[str, set[int]]:
    """New domains for the clue's items, keeping only positions the clue allows."""
    a = clue["a"]
    if clue["kind"] == "pos":
        new = doms[a] & {clue["pos"]}
        return {a: new} if new != doms[a] else {}
    b, rel = clue["b"], RELATIONS[clue["kind"]]
    new_a = {x for x in doms[a] if any(rel(x, y) for y in doms[b])}
    new_b = {y for y in doms[b] if any(rel(x, y) for x in new_a)}
    changed = {}
    if new_a != doms[a]:
        changed[a] = new_a
    if new_b != doms[b]:
        changed[b] = new_b
    return changed


def _exclusions(board: Board, doms: dict[str, set[int]], steps: list[Step]) -> None:
    """Each position holds exactly one item of a group: apply that until stable."""
    again = True
    while again:
        again = False
        for noun, group in zip(board.nouns, board.groups):
            for item in group:
                if len(doms[item]) != 1:
                    continue
                p = next(iter(doms[item]))
                hit = [o for o in group if o != item and p in doms[o]]
                if hit:
                    for other in hit:
                        doms[other] = doms[other] - {p}
                    steps.append(
                        Step(
                            goal=f"What follows from {item} being in {board.place} {p}?",
                            work=f"{_cap(item)} is in {board.place} {p}, so no other {noun} can be there. "
                            + _cap(_describe(board, {o: doms[o] for o in hit})),
                        )
                    )
                    again = True
            for p in range(1, board.n + 1):
                holders = [o for o in group if p in doms[o]]
                if len(holders) == 1 and len(doms[holders[0]]) > 1:
                    doms[holders[0]] = {p}
                    steps.append(
                        Step(
                            goal=f"Which {noun} is in {board.place} {p}?",
                            work=f"Some {noun} must be in {board.place} {p} and only {holders[0]} still can be, "
                            f"so {holders[0]} is in {board.place} {p}.",
                        )
                    )
                    again = True


def deduce(board: Board, clues: list[dict]) -> tuple[list[Step], dict[str, set[int]]]:
    """Narrow every item's possible positions with the clues; returns the steps taken
    and the final domains (all singletons when the clues suffice)."""
    doms = {item: set(range(1, board.n + 1)) for group in board.groups for item in group}
    steps: list[Step] = []
    progress = True
    while progress and any(len(d) > 1 for d in doms.values()):
        progress = False
        for i, clue in enumerate(clues):
            changed = _revise(clue, doms)
            if not changed:
                continue
            doms.update(changed)
            progress = True
            steps.append(
                Step(
                    goal=f"What does clue {i + 1} tell us?",
                    work=f"Clue {i + 1} says: {board.clue_text(clue)} So {_describe(board, changed)}",
                )
            )
            # finish the consequences of this clue before reading the next one
            _exclusions(board, doms, steps)
    return steps, doms


def solved(board: Board, clues: list[dict]) -> bool:
    return all(len(d) == 1 for d in deduce(board, clues)[1].values())


def build_clues(rng: random.Random, board: Board, make_clue: Callable[[random.Random], dict]) -> list[dict]:
    """Add random true clues until `deduce` finishes, then drop unneeded ones."""
    clues: list[dict] = []
    while not solved(board, clues):
        clue = make_clue(rng)
        if clue not in clues:
            clues.append(clue)
    kept = list(clues)
    for clue in rng.sample(clues, len(clues)):
        trial = [c for c in kept if c is not clue]
        if solved(board, trial):
            kept = trial
    return kept


def _search_order(board: Board, clues: list[dict]) -> list[str]:
    """Items ordered so each one is as tied as possible to those placed before it
    (maximum cardinality), which lets the brute-force search prune early."""
    items = [item for group in board.groups for item in group]
    links = {item: [] for item in items}
    for clue in clues:
        names = [clue[k] for k in ("a", "b") if k in clue]
        for item in names:
            links[item].append(names)
    order: list[str] = []
    placed: set[str] = set()
    while len(order) < len(items):
        best = max(
            (i for i in items if i not in placed),
            key=lambda i: sum(all(x in placed or x == i for x in names) for names in links[i]),
        )
        order.append(best)
        placed.add(best)
    return order


def count_solutions(board: Board, clues: list[dict], limit: int = 2) -> int:
    """Brute-force backtracking over item positions, as an independent uniqueness check."""
    order = _search_order(board, clues)
    rank = {item: k for k, item in enumerate(order)}
    group_of = {item: g for g, group in enumerate(board.groups) for item in group}
    # check each clue once, as soon as the last item it mentions is placed
    due: dict[str, list[dict]] = {item: [] for item in order}
    for clue in clues:
        due[max((clue[k] for k in ("a", "b") if k in clue), key=rank.__getitem__)].append(clue)
    where: dict[str, int] = {}
    taken: list[set[int]] = [set() for _ in board.groups]

    def rec(k: int) -> int:
        if k == len(order):
            return 1
        item, total = order[k], 0
        used = taken[group_of[item]]
        for p in range(1, board.n + 1):
            if p in used:
                continue
            where[item] = p
            used.add(p)
            if all(clue_holds(c, where) for c in due[item]):
                total += rec(k + 1)
            used.discard(p)
            if total >= limit:
                break
        del where[item]
        return total

    return rec(0)
