"""Every math task: reproducible, varied, solvable, independently correct, and its
worked steps make only true arithmetic claims."""

from __future__ import annotations

import json
import math
import random
import re
from fractions import Fraction
from functools import cache

import pytest
import sympy
from sympy.parsing.sympy_parser import (
    convert_xor,
    implicit_multiplication_application,
    parse_expr,
    standard_transformations,
)

from datagen.tasks import make_problem, solve_problem
from datagen.tasks.math import TASKS

NAMES = sorted(TASKS)
DIFFICULTIES = range(1, 6)
PER_DIFFICULTY = 20
X, Y = sympy.symbols("x y")
_TRANSFORMS = (*standard_transformations, implicit_multiplication_application, convert_xor)


@cache
def problems(name: str) -> tuple:
    """(problem, solution) pairs for every difficulty, built once per task."""
    out = []
    for d in DIFFICULTIES:
        for i in range(PER_DIFFICULTY):
            p = make_problem(name, seed=11, index=i, difficulty=d)
            out.append((p, solve_problem(p)))
    return tuple(out)


# --- the arithmetic-claim checker -------------------------------------------------

_TOKEN = re.compile(r"\s+|\d+(?:\.\d+)?|[-+*/^()=]|[A-Za-z_]+|.")


def _kind(token: str) -> str:
    if token.isspace():
        return "ws"
    if token[0].isdigit():
        return "num"
    if token in "+-*/^()=":
        return "op"
    return "word" if token[0].isalpha() or token[0] in "_'" else "other"


def _value(segment: str) -> Fraction:
    """Evaluate a numbers-and-operators segment exactly (raises if it is not one)."""
    expr = segment.strip().replace("^", "**")
    if not expr or not re.fullmatch(r"[\d\s.+\-*/()]+", expr):
        raise ValueError(segment)
    expr = re.sub(r"\d+(?:\.\d+)?", lambda m: f"F('{m.group()}')", expr)
    return Fraction(eval(expr, {"F": Fraction, "__builtins__": {}}))


def claims(text: str) -> list[list[str]]:
    """Chains `e1 = e2 (= e3 ...)` written with numbers and operators only.

    A run of numbers, operators and spaces is split at "="; an end segment that
    touches a variable (the "+ 3" of "2x + 3 = 7", the "6" of "= 6x") or does not
    parse on its own (the "36)" of "gcd(84, 36) = 12") belongs to an expression with
    letters and is dropped. Interior segments must parse.
    """
    tokens = _TOKEN.findall(text)
    kinds = [_kind(t) for t in tokens]
    found, i = [], 0
    while i < len(tokens):
        if kinds[i] not in ("num", "op"):
            i += 1
            continue
        j = i
        while j < len(tokens) and kinds[j] in ("num", "op", "ws"):
            j += 1
        segments = "".join(tokens[i:j]).split("=")
        if len(segments) > 1:
            first, last = segments[0].strip(), segments[-1].strip()
            if (i > 0 and kinds[i - 1] == "word") or not first or first[0] in "+-*/^)":
                segments = segments[1:]
            if (
                (j < len(tokens) and kinds[j] == "word" and kinds[j - 1] != "ws")
                or not last
                or last[-1] in "+-*/^("
            ):
                segments = segments[:-1]
            for end in (0, -1):
                if segments:
                    try:
                        _value(segments[end])
                    except (SyntaxError, ValueError, TypeError):
                        segments.pop(end)
            if len(segments) > 1:
                found.append([s.strip() for s in segments])
        i = j
    return found


def false_claims(text: str) -> list[str]:
    bad = []
    for chain in claims(text):
        values = [_value(s) for s in chain]
        if any(v != values[0] for v in values):
            bad.append(" = ".join(chain))
    return bad


def test_claim_checker_itself():
    assert claims("So 12 * 7 = 84.") == [["12 * 7", "84"]]
    assert false_claims("3/4 + 1/6 = 11/12 and (-3)^2 - 4 * 2 * (-5) = 9 - (-40) = 49.") == []
    assert false_claims("12.75 * 3 = 38.25; 84 = 2 * 36 + 12") == []
    assert false_claims("Then 2 * 3 = 7.") == ["2 * 3 = 7"]
    assert false_claims("b^2 - 4ac = 25 - 24 = 2") == ["25 - 24 = 2"]
    # expressions with variables are not arithmetic claims
    for text in (
        "2x + 3 = 7",
        "x/2 = 5 and x = 10",
        "3x - 12 = 5x + 4.",
        "sqrt(8) = 2*sqrt(2)",
        "gcd(84, 36) = 12",
    ):
        assert false_claims(text) == [], text


# --- independent answer checks, one per task ----------------------------------------


def _parse(text: str):
    return parse_expr(text, transformations=_TRANSFORMS, local_dict={"x": X, "y": Y})


def _equation(text: str):
    left, right = text.split("=")
    return _parse(left) - _parse(right)


def check_addition(p):
    a, b = p.meta["a"], p.meta["b"]
    assert p.prompt == f"What is {a} + {b}?"
    assert int(p.answer) == a + b
    if p.difficulty == 1:
        assert 1 <= a <= 20 and 1 <= b <= 20
    else:
        digits = sorted((len(str(a)), len(str(b))))
        assert digits == sorted([(2, 1), (2, 2), (3, 2), (3, 3)][p.difficulty - 2])


def check_arithmetic(p):
    assert re.fullmatch(r"[\d\s()+\-*]+", p.meta["expression"])
    assert int(p.answer) == eval(p.meta["expression"])


def check_linear_equations(p):
    equations = [_equation(e) for e in p.meta["equations"]]
    assert all(e in p.prompt for e in p.meta["equations"])
    if p.meta["kind"] == "system":
        x, y = re.fullmatch(r"\((-?\d+), (-?\d+)\)", p.answer).groups()
        subs = {X: int(x), Y: int(y)}
    else:
        assert p.answer == str(Fraction(p.answer))  # reduced, "a/b" or an integer
        subs = {X: sympy.Rational(p.answer)}
    assert all(sympy.simplify(e.subs(subs)) == 0 for e in equations)


def check_fractions(p):
    expression = p.meta["expression"]
    assert expression in p.prompt
    # a mixed number "2 1/3" is 2 + 1/3
    exact = re.sub(r"(\d+) (\d+)/(\d+)", r"(\1 + \2/\3)", expression)
    exact = re.sub(r"\d+", lambda m: f"F({m.group()})", exact)
    assert Fraction(p.answer) == eval(exact, {"F": Fraction})
    assert p.answer == str(Fraction(p.answer))


def _word_value(template: str, q: dict) -> Fraction:
    if template == "shopping":
        total = sum(n * Fraction(price) for _, n, price in q["items"]) * (100 - q["discount"]) / 100
        return q["paid"] - total if q["paid"] else total
    if template == "percent_change":
        value = Fraction(q["start"])
        for pct in q["changes"]:
            value *= Fraction(100 + pct, 100)
        return (value / q["start"] - 1) * 100 if q["overall"] else value
    if template == "travel":
        distance = sum(Fraction(s * m, 60) for s, m in q["legs"])
        return distance / Fraction(sum(m for _, m in q["legs"]), 60) if q["average"] else distance
    h = q["hours"]
    if q["drain"]:
        return 1 / (Fraction(1, h[0]) + Fraction(1, h[1]) - Fraction(1, h[2]))
    rate = sum(Fraction(1, x) for x in h)
    return q["head"] + (1 - Fraction(q["head"], h[0])) / rate


def check_word_problems(p):
    assert re.fullmatch(r"-?\d+(\.\d{1,2})?", p.answer), p.answer
    assert not p.answer.endswith("0") or "." not in p.answer
    assert Fraction(p.answer) == _word_value(p.meta["template"], p.meta["params"])
    assert Fraction(p.answer) >= 0


def check_number_theory(p):
    m = p.meta
    for number in re.findall(r"\d+", json.dumps({k: v for k, v in m.items() if k not in ("seed", "index")})):
        assert number in p.prompt
    if m["kind"] == "gcd":
        expected = math.gcd(*m["numbers"])
    elif m["kind"] == "lcm":
        expected = math.lcm(*m["numbers"])
    elif m["kind"] == "divisors":
        expected = sympy.divisor_count(m["n"])
    elif m["kind"] == "remainder":
        expected = pow(m["base"], m["exp"], m["m"]) if "base" in m else math.prod(m["factors"]) % m["m"]
    else:
        expected = sum(map(int, str(math.prod(m["factors"]))))
    assert int(p.answer) == expected


def check_quadratic_roots(p):
    assert p.meta["equation"] in p.prompt
    poly = _equation(p.meta["equation"])
    roots = [sympy.sympify(r) for r in p.answer.split(", ")]
    assert len(roots) == 2 and float(roots[0]) < float(roots[1])
    assert all(sympy.expand(poly.subs(X, r)) == 0 for r in roots)
    if p.difficulty <= 3:
        assert all(r.is_integer for r in roots)
    elif p.difficulty == 5:
        assert all(not r.is_rational for r in roots)


def check_derivatives(p):
    assert p.meta["expression"] in p.prompt
    f = _parse(p.meta["expression"])
    assert int(p.answer) == sympy.diff(f, X).subs(X, p.meta["x0"])


CHECKS = {
    "addition": check_addition,
    "arithmetic": check_arithmetic,
    "linear_equations": check_linear_equations,
    "fractions": check_fractions,
    "word_problems": check_word_problems,
    "number_theory": check_number_theory,
    "quadratic_roots": check_quadratic_roots,
    "derivatives": check_derivatives,
}


# --- the tests ----------------------------------------------------------------------


@pytest.mark.parametrize("name", NAMES)
def test_task_shape(name):
    task = TASKS[name]
    assert task.name == name and task.domain == "math" and task.verifier == "math"
    assert task.description
    assert name in CHECKS, f"add an independent answer check for {name}"


@pytest.mark.parametrize("name", NAMES)
def test_reproducible(name):
    for d in DIFFICULTIES:
        for i in (0, 5):
            assert make_problem(name, 3, i, d) == make_problem(name, 3, i, d)


@pytest.mark.parametrize("name", NAMES)
def test_indices_give_distinct_problems(name):
    prompts = {make_problem(name, 0, i, 3).prompt for i in range(100)}
    assert len(prompts) >= 90


@pytest.mark.parametrize("name", NAMES)
def test_every_difficulty_generates_json_meta(name):
    for p, _ in problems(name):
        assert p.prompt and p.answer
        assert json.loads(json.dumps(p.meta)) == p.meta
    with pytest.raises(ValueError):
        make_problem(name, 0, 0, 6)


@pytest.mark.parametrize("name", NAMES)
def test_difficulty_adds_work(name):
    def mean_steps(d):
        chosen = [s for p, s in problems(name) if p.difficulty == d]
        return sum(len(s.steps) for s in chosen) / len(chosen)

    assert mean_steps(5) > mean_steps(1)


@pytest.mark.parametrize("name", NAMES)
def test_solution_matches_reference_answer(name):
    for p, solution in problems(name):
        assert solution.answer == p.answer, p.prompt
        assert solution.principle and solution.steps
        for step in solution.steps:
            assert step.goal.endswith("?") and step.work


@pytest.mark.parametrize("name", NAMES)
def test_answer_is_independently_correct(name):
    for p, _ in problems(name):
        CHECKS[name](p)


@pytest.mark.parametrize("name", NAMES)
def test_arithmetic_claims_are_true(name):
    checked = 0
    for p, solution in problems(name):
        for step in solution.steps:
            assert false_claims(step.work) == [], (p.prompt, step.work)
            checked += len(claims(step.work))
    # the checker must actually see the claims, not skip them all
    assert checked >= len(problems(name))


@pytest.mark.parametrize("name", [n for n in NAMES if TASKS[n].corrupt is not None])
def test_corrupt_changes_answer(name):
    # tasks without their own corrupt get the teacher's generic slip (tested there)
    task = TASKS[name]
    kinds = set()
    for k, (p, solution) in enumerate(problems(name)):
        wrong, kind = task.corrupt(p.meta, solution, random.Random(k))
        assert kind in {"wrong_intermediate", "dropped_term", "off_by_one", "wrong_final"}
        assert wrong.answer != solution.answer
        assert wrong.steps != solution.steps
        kinds.add(kind)
    assert kinds
