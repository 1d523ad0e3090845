"""Logic tasks: reproducible, solvable, and checked by small checkers written here
independently of the task modules (so a bug in a task's own logic shows up)."""

from __future__ import annotations

import ast
import json
import random
import re
from collections import Counter
from fractions import Fraction
from itertools import permutations, product

import pytest

from datagen.tasks import make_problem, solve_problem
from datagen.tasks.logic import TASKS

NAMES = sorted(TASKS)
DIFFICULTIES = range(1, 6)
KINDS = {"wrong_intermediate", "off_by_one", "dropped_term", "wrong_final"}
CLAIM = re.compile(r"(-?\d+) ([-+*/]) (-?\d+) = (-?\d+)")


# ---------------------------------------------------------------- knights and knaves


def _kk_parse(answer: str, names: list[str]) -> dict[str, bool] | None:
    found = dict(part.split(": ", 1) for part in answer.split(", ") if ": " in part)
    if list(found) != names or any(v not in ("knight", "knave") for v in found.values()):
        return None
    return {k: v == "knight" for k, v in found.items()}


def _kk_consistent(meta: dict, knight: dict[str, bool]) -> bool:
    names = meta["names"]
    is_knight = [knight[n] for n in names]
    for s in meta["statements"]:
        if s["kind"] == "is":
            value = is_knight[s["target"]] == s["knight"]
        elif s["kind"] == "same":
            value = is_knight[s["a"]] == is_knight[s["b"]]
        elif s["kind"] == "different":
            value = is_knight[s["a"]] != is_knight[s["b"]]
        elif s["kind"] == "some_knave":
            value = not all(is_knight)
        else:
            assert s["kind"] == "count"
            value = sum(is_knight) == s["count"]
        if is_knight[s["speaker"]] != value:
            return False
    return True


def check_knights(meta: dict, answer: str) -> bool:
    knight = _kk_parse(answer, meta["names"])
    return knight is not None and _kk_consistent(meta, knight)


def count_knights(meta: dict) -> int:
    names = meta["names"]
    return sum(
        _kk_consistent(meta, dict(zip(names, combo))) for combo in product((True, False), repeat=len(names))
    )


# ---------------------------------------------------------------- zebra and ordering


def _holds(clue: dict, where: dict[str, int]) -> bool:
    x = where[clue["a"]]
    if clue["kind"] == "pos":
        return x == clue["pos"]
    y = where[clue["b"]]
    return {
        "same": x == y,
        "next_to": abs(x - y) == 1,
        "left": y - x == 1,
        "before": x < y,
    }[clue["kind"]]


def check_zebra(meta: dict, answer: str) -> bool:
    n, groups = meta["houses"], meta["values"]
    expected = [f"{h}: " for h in range(1, n + 1)]
    parts = answer.split("; ")
    if len(parts) != n or any(not p.startswith(e) for p, e in zip(parts, expected)):
        return False
    houses = [p.split(": ", 1)[1].split(", ") for p in parts]
    if any(len(h) != len(groups) for h in houses):
        return False
    for g, values in enumerate(groups):
        if sorted(h[g] for h in houses) != sorted(values):
            return False
    where = {v: i + 1 for i, h in enumerate(houses) for v in h}
    return all(_holds(c, where) for c in meta["clues"])


def count_zebra(meta: dict) -> int:
    n, groups = meta["houses"], meta["values"]
    total = 0
    for perms in product(*(permutations(range(1, n + 1)) for _ in groups)):
        where = {v: p for g, perm in zip(groups, perms) for v, p in zip(g, perm)}
        total += all(_holds(c, where) for c in meta["clues"])
    return total


def check_ordering(meta: dict, answer: str) -> bool:
    order = answer.split(", ")
    if sorted(order) != sorted(meta["people"]):
        return False
    where = {p: i + 1 for i, p in enumerate(order)}
    return all(_holds(c, where) for c in meta["clues"])


def count_ordering(meta: dict) -> int:
    return sum(check_ordering(meta, ", ".join(p)) for p in permutations(meta["people"]))


# ---------------------------------------------------------------- sudoku4

BOXES = [[(r, c) for r in rows for c in cols] for rows in ((0, 1), (2, 3)) for cols in ((0, 1), (2, 3))]


def _sudoku_valid(rows: list[str]) -> bool:
    units = [list(r) for r in rows]
    units += [[rows[r][c] for r in range(4)] for c in range(4)]
    units += [[rows[r][c] for r, c in box] for box in BOXES]
    return all(sorted(u) == list("1234") for u in units)


def check_sudoku(meta: dict, answer: str) -> bool:
    rows, givens = answer.split("/"), meta["grid"].split("/")
    if len(rows) != 4 or any(len(r) != 4 for r in rows):
        return False
    keeps = all(g in (".", a) for gr, ar in zip(givens, rows) for g, a in zip(gr, ar))
    return keeps and _sudoku_valid(rows)


ALL_SUDOKUS = [
    rows
    for rows in product(("".join(p) for p in permutations("1234")), repeat=4)
    if _sudoku_valid(list(rows))
]


def count_sudoku(meta: dict) -> int:
    return sum(check_sudoku(meta, "/".join(rows)) for rows in ALL_SUDOKUS)


# ---------------------------------------------------------------- countdown

OPS = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/"}


def _count_eval(node, used: list[int]) -> Fraction:
    """Safe evaluation: only integer literals and + - * /, intermediates positive integers."""
    if isinstance(node, ast.Constant) and type(node.value) is int:
        used.append(node.value)
        return Fraction(node.value)
    if not (isinstance(node, ast.BinOp) and type(node.op) in OPS):
        raise ValueError("not allowed")
    a, b = _count_eval(node.left, used), _count_eval(node.right, used)
    op = OPS[type(node.op)]
    value = a + b if op == "+" else a - b if op == "-" else a * b if op == "*" else a / b
    if value <= 0 or value.denominator != 1:
        raise ValueError("intermediate result is not a positive integer")
    return value


def check_countdown(meta: dict, answer: str) -> bool:
    used: list[int] = []
    try:
        value = _count_eval(ast.parse(answer, mode="eval").body, used)
    except (SyntaxError, ValueError, ZeroDivisionError):
        return False
    return value == meta["target"] and not Counter(used) - Counter(meta["numbers"])


# ---------------------------------------------------------------- SAT


def _sat_parse(answer: str, n: int) -> dict[int, bool] | None:
    parts = answer.split(", ")
    if [p.split("=")[0] for p in parts] != [f"x{v}" for v in range(1, n + 1)]:
        return None
    if any(p.split("=")[1] not in ("T", "F") for p in parts):
        return None
    return {v: p.endswith("=T") for v, p in enumerate(parts, start=1)}


def _sat_ok(clauses: list[list[int]], value: dict[int, bool]) -> bool:
    return all(any(value[abs(lit)] == (lit > 0) for lit in clause) for clause in clauses)


def check_sat(meta: dict, answer: str) -> bool:
    value = _sat_parse(answer, meta["n"])
    return value is not None and _sat_ok(meta["clauses"], value)


def count_sat(meta: dict) -> int:
    n = meta["n"]
    return sum(
        _sat_ok(meta["clauses"], dict(enumerate(bits, start=1))) for bits in product((True, False), repeat=n)
    )


# ---------------------------------------------------------------- tables

CHECKERS = {
    "knights_knaves": check_knights,
    "zebra": check_zebra,
    "sudoku4": check_sudoku,
    "countdown": check_countdown,
    "sat_assignment": check_sat,
    "ordering": check_ordering,
}
# brute-force solution counts, and the largest difficulty cheap enough to count here
COUNTERS = {
    "knights_knaves": (count_knights, 5),
    "zebra": (count_zebra, 3),
    "sudoku4": (count_sudoku, 5),
    "sat_assignment": (count_sat, 5),
    "ordering": (count_ordering, 5),
}
SIZES = {
    "knights_knaves": lambda m: len(m["names"]),
    "zebra": lambda m: m["houses"] * len(m["attributes"]),
    "sudoku4": lambda m: m["grid"].count("."),
    "countdown": lambda m: len(m["numbers"]),
    "sat_assignment": lambda m: m["n"],
    "ordering": lambda m: len(m["people"]),
}


def test_registry():
    assert set(NAMES) >= {"knights_knaves", "zebra", "sudoku4", "countdown", "sat_assignment"}
    assert set(CHECKERS) == set(NAMES)
    for name, task in TASKS.items():
        assert task.name == name and task.domain == "logic"
        assert task.verifier == f"logic.{name}"
        assert task.description and task.corrupt is not None


@pytest.mark.parametrize("name", NAMES)
def test_reproducible(name):
    a, b = make_problem(name, 7, 3, 3), make_problem(name, 7, 3, 3)
    assert (a.prompt, a.answer, a.meta) == (b.prompt, b.answer, b.meta)
    assert make_problem(name, 8, 3, 3).prompt != a.prompt


@pytest.mark.parametrize("name", NAMES)
def test_distinct_across_indices(name):
    prompts = {make_problem(name, 0, i, 3).prompt for i in range(10)}
    assert len(prompts) == 10


@pytest.mark.parametrize("name", NAMES)
def test_bad_difficulty(name):
    for difficulty in (0, 6):
        with pytest.raises(ValueError):
            make_problem(name, 0, 0, difficulty)


@pytest.mark.parametrize("name", NAMES)
def test_difficulty_scales(name):
    size = [max(SIZES[name](make_problem(name, 0, i, d).meta) for i in range(3)) for d in DIFFICULTIES]
    assert size == sorted(size) and size[-1] > size[0]


@pytest.mark.parametrize("difficulty", DIFFICULTIES)
@pytest.mark.parametrize("name", NAMES)
def test_solve_and_check(name, difficulty):
    counter = COUNTERS.get(name)
    for index in range(4):
        problem = make_problem(name, 1, index, difficulty)
        json.dumps(problem.meta)
        assert problem.domain == "logic" and problem.verifier == f"logic.{name}"
        solution = solve_problem(problem)
        assert solution.answer == problem.answer
        assert CHECKERS[name](problem.meta, problem.answer), problem.prompt
        assert solution.principle and solution.steps
        for step in solution.steps:
            assert step.goal.endswith("?") and step.work
        if counter and difficulty <= counter[1]:
            assert counter[0](problem.meta) == 1, problem.prompt


@pytest.mark.parametrize("name", NAMES)
def test_arithmetic_claims_are_true(name):
    """Every `a op b = c` written in any step must be exact (the step checker reads them)."""
    for difficulty in DIFFICULTIES:
        for index in range(3):
            problem = make_problem(name, 2, index, difficulty)
            for step in solve_problem(problem).steps:
                for a, op, b, c in CLAIM.findall(step.work):
                    a, b, c = Fraction(int(a)), Fraction(int(b)), Fraction(int(c))
                    value = a + b if op == "+" else a - b if op == "-" else a * b if op == "*" else a / b
                    assert value == c, step.work


def test_countdown_steps_rebuild_the_answer():
    for difficulty in DIFFICULTIES:
        problem = make_problem("countdown", 3, 0, difficulty)
        steps = solve_problem(problem).steps
        claims = [CLAIM.search(s.work) for s in steps[:-1]]
        assert all(claims)
        assert int(claims[-1].group(4)) == problem.meta["target"]
        assert problem.meta["expression"] in steps[-1].work


@pytest.mark.parametrize("name", NAMES)
def test_corrupt_is_wrong(name):
    task = TASKS[name]
    for difficulty in DIFFICULTIES:
        for index in range(3):
            problem = make_problem(name, 4, index, difficulty)
            solution = solve_problem(problem)
            bad, kind = task.corrupt(problem.meta, solution, random.Random(index))
            assert kind in KINDS
            assert bad.answer != problem.answer
            assert not CHECKERS[name](problem.meta, bad.answer), bad.answer
            assert bad.steps and bad.principle == solution.principle


def test_checkers_reject_garbage():
    for name in NAMES:
        meta = make_problem(name, 0, 0, 2).meta
        for junk in ("", "42", "A: knight", "1234/1234/1234/1234", "__import__('os')"):
            assert not CHECKERS[name](meta, junk)
