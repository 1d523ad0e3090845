"""Zebra (Einstein) puzzles: houses in a row, each attribute value in exactly one house.

Clues say that two values share a house, are in neighbouring houses, that one is
directly or somewhere left of another, or that a value is in a given house. The
clue set is minimal for a grid-filling solver, so the solution is unique.
Difficulty sets (houses, attributes): (3, 2), (3, 3), (4, 3), (5, 3), (5, 4).
"""

from __future__ import annotations

import random

from datagen.tasks.base import Generated, Solution, Step, Task
from datagen.tasks.logic._positional import Board, build_clues, count_solutions, deduce

# attribute name -> (values, phrase naming the resident who has the value)
ATTRIBUTES = {
    "colour": (["red", "green", "blue", "yellow", "white"], "the person in the {} house"),
    "pet": (["cat", "dog", "bird", "fish", "horse"], "the {} owner"),
    "drink": (["tea", "coffee", "milk", "juice", "water"], "the {} drinker"),
    "game": (["chess", "tennis", "golf", "poker", "darts"], "the {} player"),
}
_SIZES = {1: (3, 2), 2: (3, 3), 3: (4, 3), 4: (5, 3), 5: (5, 4)}
# position clues give a value away directly, so they are drawn rarely
_KIND_WEIGHTS = {"same": 4, "next_to": 3, "left": 3, "before": 2, "pos": 1}


def _phrases(attrs: list[str], groups: list[list[str]]) -> dict[str, str]:
    return {v: ATTRIBUTES[a][1].format(v) for a, g in zip(attrs, groups) for v in g}


def clue_sentence(clue: dict, phrase: dict[str, str]) -> str:
    a = phrase[clue["a"]]
    b = phrase.get(clue.get("b", ""), "")
    text = {
        "pos": f"{a} lives in house {clue.get('pos')}.",
        "same": f"{a} is {b}.",
        "next_to": f"{a} lives next to {b}.",
        "left": f"{a} lives directly left of {b}.",
        "before": f"{a} lives somewhere left of {b}.",
    }[clue["kind"]]
    return text[0].upper() + text[1:]


def _board(meta: dict) -> Board:
    groups = meta["values"]
    phrase = _phrases(meta["attributes"], groups)
    return Board(
        n=meta["houses"],
        groups=groups,
        nouns=meta["attributes"],
        place="house",
        clue_text=lambda clue: clue_sentence(clue, phrase),
    )


def _clue_maker(groups: list[list[str]], where: dict[str, int]):
    kinds, weights = list(_KIND_WEIGHTS), list(_KIND_WEIGHTS.values())
    items = [v for g in groups for v in g]
    group_of = {v: i for i, g in enumerate(groups) for v in g}

    def make(rng: random.Random) -> dict:
        while True:
            kind = rng.choices(kinds, weights)[0]
            a = rng.choice(items)
            if kind == "pos":
                return {"kind": "pos", "a": a, "pos": where[a]}
            pa = where[a]
            options = {
                "same": [v for v in items if where[v] == pa and group_of[v] != group_of[a]],
                "next_to": [v for v in items if abs(where[v] - pa) == 1],
                "left": [v for v in items if where[v] == pa + 1],
                "before": [v for v in items if where[v] > pa],
            }[kind]
            if options:
                return {"kind": kind, "a": a, "b": rng.choice(options)}

    return make


def format_answer(houses: list[list[str]]) -> str:
    return "; ".join(f"{i + 1}: {', '.join(vals)}" for i, vals in enumerate(houses))


def generate(rng: random.Random, difficulty: int) -> Generated:
    n, k = _SIZES[difficulty]
    attrs = sorted(rng.sample(list(ATTRIBUTES), k), key=list(ATTRIBUTES).index)
    groups = [rng.sample(ATTRIBUTES[a][0], n) for a in attrs]
    # groups[g][i] lives in house i + 1; the prompt lists values sorted, not by house
    where = {v: i + 1 for g in groups for i, v in enumerate(g)}
    meta = {"houses": n, "attributes": attrs, "values": [sorted(g) for g in groups]}
    board = _board(meta)
    clues = build_clues(rng, board, _clue_maker(groups, where))
    rng.shuffle(clues)
    # the grid solver's rules are sound, so finishing implies uniqueness; the
    # brute-force count guards the engine itself
    assert count_solutions(board, clues) == 1
    houses = [[g[i] for g in groups] for i in range(n)]
    meta.update(clues=clues, solution=houses)
    phrase = _phrases(attrs, meta["values"])
    lines = [
        f"There are {n} houses in a row, numbered 1 to {n} from left to right. Each house has one "
        "resident, and each attribute below takes a different value in every house:",
        *(f"- {a}: {', '.join(vals)}" for a, vals in zip(attrs, meta["values"])),
        "'Left' means a lower house number; 'next to' means neighbouring houses.",
        "Clues:",
        *(f"{i + 1}. {clue_sentence(c, phrase)}" for i, c in enumerate(clues)),
        "Find the full assignment. Give your answer on one line, houses in order, as "
        + '"'
        + format_answer([[f"<{a}>" for a in attrs]] * 2)
        + '; ..." (values in the attribute order above).',
    ]
    return Generated(prompt="\n".join(lines), answer=format_answer(houses), meta=meta)


def solve(meta: dict) -> Solution:
    board = _board(meta)
    steps, doms = deduce(board, meta["clues"])
    houses = [[""] * len(board.groups) for _ in range(board.n)]
    for gi, group in enumerate(board.groups):
        for item in group:
            (pos,) = doms[item]
            houses[pos - 1][gi] = item
    answer = format_answer(houses)
    steps.append(Step(goal="What is in each house?", work=f"Reading off the grid: {answer}."))
    return Solution(
        principle="Keep a grid of the houses each value could still be in; apply one clue at a time "
        "to cross out impossible houses, and use that every house holds exactly one value of each "
        "attribute, until each value has one house left.",
        steps=steps,
        answer=answer,
    )


def corrupt(meta: dict, solution: Solution, rng: random.Random) -> tuple[Solution, str]:
    """Swap one attribute between two houses: a classic misread of a grid row."""
    houses = [list(h) for h in meta["solution"]]
    i, j = rng.sample(range(len(houses)), 2)
    g = rng.randrange(len(houses[0]))
    houses[i][g], houses[j][g] = houses[j][g], houses[i][g]
    answer = format_answer(houses)
    steps = list(solution.steps[:-1])
    steps.append(Step(goal="What is in each house?", work=f"Reading off the grid: {answer}."))
    return Solution(solution.principle, steps, answer), "wrong_final"


TASK = Task(
    name="zebra",
    domain="logic",
    verifier="logic.zebra",
    description="Zebra/Einstein puzzle: assign attribute values to houses from clues",
    generate=generate,
    solve=solve,
    corrupt=corrupt,
)
