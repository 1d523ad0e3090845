"""Ordering puzzles: put people in a queue from clues about their relative places.

Clues say that one person stands somewhere in front of another, directly in front
of another, next to another, or at a given position. The clue set is minimal for a
grid-filling solver, so the order is unique. Difficulty sets the number of people
(3..7); more people need more, and more indirect, clues.
"""

from __future__ import annotations

import random

from datagen.tasks.base import Generated, Solution, Step, Task
from datagen.tasks.logic._positional import Board, build_clues, count_solutions, deduce

NAMES = ["Ann", "Ben", "Cal", "Dee", "Eve", "Fay", "Gus"]
# position clues give a place away directly, so they are drawn rarely
_KIND_WEIGHTS = {"before": 4, "left": 3, "next_to": 3, "pos": 1}


def clue_sentence(clue: dict) -> str:
    a, b = clue["a"], clue.get("b")
    return {
        "pos": f"{a} is at position {clue.get('pos')}.",
        "next_to": f"{a} stands next to {b}.",
        "left": f"{a} stands directly in front of {b}.",
        "before": f"{a} stands somewhere in front of {b}.",
    }[clue["kind"]]


def _board(meta: dict) -> Board:
    return Board(
        n=len(meta["people"]),
        groups=[meta["people"]],
        nouns=["person"],
        place="position",
        clue_text=clue_sentence,
    )


def _clue_maker(where: dict[str, int]):
    kinds, weights = list(_KIND_WEIGHTS), list(_KIND_WEIGHTS.values())
    people = list(where)

    def make(rng: random.Random) -> dict:
        while True:
            kind = rng.choices(kinds, weights)[0]
            a = rng.choice(people)
            if kind == "pos":
                return {"kind": "pos", "a": a, "pos": where[a]}
            pa = where[a]
            options = {
                "next_to": [p for p in people if abs(where[p] - pa) == 1],
                "left": [p for p in people if where[p] == pa + 1],
                "before": [p for p in people if where[p] > pa],
            }[kind]
            if options:
                return {"kind": kind, "a": a, "b": rng.choice(options)}

    return make


def generate(rng: random.Random, difficulty: int) -> Generated:
    n = difficulty + 2
    people = sorted(rng.sample(NAMES, n))
    order = rng.sample(people, n)
    where = {p: i + 1 for i, p in enumerate(order)}
    meta = {"people": people}
    board = _board(meta)
    clues = build_clues(rng, board, _clue_maker(where))
    rng.shuffle(clues)
    assert count_solutions(board, clues) == 1  # guards the deduction engine
    meta.update(clues=clues, solution=order)
    lines = [
        f"{n} people ({', '.join(people)}) stand in a queue. Position 1 is the front of the queue "
        f"and position {n} the back; 'in front of' means a lower position.",
        "Clues:",
        *(f"{i + 1}. {clue_sentence(c)}" for i, c in enumerate(clues)),
        "What is the order of the queue? Give your answer as the names from front to back, "
        'separated by ", " (e.g. "Name1, Name2, ...").',
    ]
    return Generated(prompt="\n".join(lines), answer=", ".join(order), meta=meta)


def solve(meta: dict) -> Solution:
    board = _board(meta)
    steps, doms = deduce(board, meta["clues"])
    order = sorted(meta["people"], key=lambda p: min(doms[p]))
    answer = ", ".join(order)
    steps.append(Step(goal="What is the full order?", work=f"From front to back: {answer}."))
    return Solution(
        principle="Track the positions each person could still take; apply one clue at a time to rule "
        "positions out, and use that every position holds exactly one person, until each person "
        "has a single position.",
        steps=steps,
        answer=answer,
    )


def corrupt(meta: dict, solution: Solution, rng: random.Random) -> tuple[Solution, str]:
    """Swap two neighbours: the typical slip when a 'directly in front' clue is misread."""
    order = list(meta["solution"])
    i = rng.randrange(len(order) - 1)
    order[i], order[i + 1] = order[i + 1], order[i]
    answer = ", ".join(order)
    steps = list(solution.steps[:-1])
    steps.append(Step(goal="What is the full order?", work=f"From front to back: {answer}."))
    return Solution(solution.principle, steps, answer), "off_by_one"


TASK = Task(
    name="ordering",
    domain="logic",
    verifier="logic.ordering",
    description="Order people in a queue from relative-position clues",
    generate=generate,
    solve=solve,
    corrupt=corrupt,
)
