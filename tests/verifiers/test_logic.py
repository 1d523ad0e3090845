"""Logic checkers: each accepts its solver's answer (and any other valid solution),
rejects the task's own corrupted answer and perturbed answers, and never raises."""

from __future__ import annotations

import itertools
import random
import re
from fractions import Fraction
from functools import cache
from types import SimpleNamespace

import pytest

import verifiers
from datagen.tasks import get_task, make_problem, solve_problem
from verifiers.answers import answer_line, final_answer, last_boxed
from verifiers.logic import VERSION

TASKS = ["knights_knaves", "zebra", "sudoku4", "countdown", "sat_assignment", "ordering"]
PER_TASK = 36  # across difficulties 1-5


@cache
def problems(task: str) -> list:
    return [make_problem(task, 11, i, 1 + i % 5) for i in range(PER_TASK)]


def check(problem, response):
    return verifiers.get(problem.verifier)(problem, response)


def boxed(answer: str) -> str:
    return f"Some reasoning.\n\nTherefore, the answer is \\boxed{{{answer}}}."


def assert_rejected(problem, answer: str, why: str = "") -> None:
    verdict = check(problem, boxed(answer))
    assert not verdict.passed, (problem.task, answer, why)
    assert verdict.score == 0.0 and verdict.reason


# ---------------------------------------------------------------- extraction


def test_last_boxed_handles_nesting_and_truncation():
    assert last_boxed(r"\boxed{1} then \boxed{\frac{1}{2}}") == r"\frac{1}{2}"
    assert last_boxed(r"\boxed{ x } and a truncated \boxed{2") == "x"
    assert last_boxed(r"\boxed{\boxed{1} + 1}") == "1"  # the box opened last, as the math verifier reads it
    assert last_boxed("no box") is None
    assert last_boxed(None) is None


def test_answer_line_fallback():
    assert answer_line("work\n**Answer:** A: knight, B: knave.\nthanks") == "A: knight, B: knave."
    assert answer_line("Final answer: 1234/3412/2143/4321") == "1234/3412/2143/4321"
    assert final_answer("Answer: 1\n\\boxed{2}") == "2"  # a box wins over the line
    assert final_answer("nothing here") is None


# ---------------------------------------------------------------- the property tests


@pytest.mark.parametrize("task", TASKS)
def test_registered_with_a_version(task):
    assert verifiers.version(f"logic.{task}") == VERSION
    assert get_task(task).verifier == f"logic.{task}"


@pytest.mark.parametrize("task", TASKS)
def test_accepts_the_solver_answer(task):
    seen = set()
    for problem in problems(task):
        seen.add(problem.difficulty)
        answer = solve_problem(problem).answer
        verdict = check(problem, boxed(answer))
        assert verdict.passed, (task, answer, verdict.reason)
        assert verdict.score == 1.0 and verdict.extracted == answer
        # the "Answer:" line works as a fallback when there is no box
        assert check(problem, f"I worked it out.\nAnswer: {answer}").passed
    assert seen == {1, 2, 3, 4, 5}


@pytest.mark.parametrize("task", TASKS)
def test_rejects_the_task_corruption(task):
    corrupt = get_task(task).corrupt
    for k, problem in enumerate(problems(task)):
        solution = solve_problem(problem)
        wrong, _ = corrupt(problem.meta, solution, random.Random(k))
        assert wrong.answer != solution.answer
        assert_rejected(problem, wrong.answer, "task corruption")


GENERIC_BAD = [
    "",
    " ",
    "lorem ipsum dolor",
    "{}",
    "\\boxed{}",
    "None",
    "A" * 1_000_000,  # a megabyte
    "1" * 5000,
    "; ; ; ,,, ///",
]


@pytest.mark.parametrize("task", TASKS)
def test_rejects_empty_garbage_and_huge_answers(task):
    for problem in problems(task)[:10]:
        answer = solve_problem(problem).answer
        for bad in [*GENERIC_BAD, answer + " garbage", "garbage " + answer, answer + answer]:
            assert_rejected(problem, bad, "garbage")
        assert not check(problem, "no final answer at all").passed
        assert not check(problem, "x" * 1_000_000).passed
        assert not check(problem, "\\boxed{" * 100_000).passed


def _words_swapped(text: str, a: str, b: str) -> str:
    return re.sub(
        rf"\b({re.escape(a)}|{re.escape(b)})\b", lambda m: b if m.group() == a else a, text, count=0
    )


def _perturb_knights_knaves(problem, answer: str, rng: random.Random) -> list[str]:
    pairs = answer.split(", ")
    roles = dict(p.split(": ") for p in pairs)
    flip = rng.choice(pairs)
    other = "knave" if flip.endswith("knight") else "knight"
    out = [
        ", ".join(pairs[:-1]),  # drop a part
        answer.replace(flip, flip.split(": ")[0] + ": " + other),  # change one role
        answer.replace("A:", "Z:"),  # an inhabitant who does not exist
        f"{answer}, {flip.split(': ')[0]}: {other}",  # one inhabitant, two types
        ", ".join(f"{n}: knave" for n in roles),  # everyone a knave
        answer.replace(", ", ", maybe "),  # words that are not part of the answer
        answer.replace("knight", "knightly"),
    ]
    knights = [n for n, r in roles.items() if r == "knight"]
    knaves = [n for n, r in roles.items() if r == "knave"]
    if knights and knaves:  # swap the types of two inhabitants who differ
        a, b = rng.choice(knights), rng.choice(knaves)
        out.append(
            ", ".join(f"{n}: {'knave' if n == a else 'knight' if n == b else r}" for n, r in roles.items())
        )
    return out


def _perturb_zebra(problem, answer: str, rng: random.Random) -> list[str]:
    houses = [h.split(": ")[1].split(", ") for h in answer.split("; ")]
    n, k = len(houses), len(houses[0])
    out = []
    i, j = rng.sample(range(n), 2)
    g = rng.randrange(k)
    swapped = [list(h) for h in houses]
    swapped[i][g], swapped[j][g] = swapped[j][g], swapped[i][g]  # swap one attribute between houses
    out.append("; ".join(f"{h + 1}: {', '.join(v)}" for h, v in enumerate(swapped)))
    whole = [list(h) for h in houses]
    whole[i], whole[j] = whole[j], whole[i]  # swap two whole houses
    out.append("; ".join(f"{h + 1}: {', '.join(v)}" for h, v in enumerate(whole)))
    out.append("; ".join(answer.split("; ")[:-1]))  # drop a house
    out.append(answer.replace(houses[0][0], "purple"))  # a value that does not exist
    out.append(answer.replace(houses[1][0], houses[0][0]))  # a value twice
    out.append(answer.replace(f", {houses[0][-1]};", ";", 1))  # drop a value
    out.append(answer.replace("1: ", "7: "))  # no such house
    out.append(answer.replace("2: ", "1: "))  # house 1 twice
    return out


def _perturb_sudoku4(problem, answer: str, rng: random.Random) -> list[str]:
    cells = [i for i, ch in enumerate(answer) if ch != "/"]
    i = rng.choice(cells)
    j = rng.choice([c for c in cells if answer[c] != answer[i]])
    swapped = list(answer)
    swapped[i], swapped[j] = swapped[j], swapped[i]
    return [
        answer[:i] + rng.choice([d for d in "1234" if d != answer[i]]) + answer[i + 1 :],  # change a digit
        "".join(swapped),  # swap two different digits
        answer.rsplit("/", 1)[0],  # drop a row
        answer.replace("/", "", 1),  # a row of eight
        answer[:i] + "5" + answer[i + 1 :],  # not a digit 1-4
        answer[:i] + "0" + answer[i + 1 :],
        "1234/1234/1234/1234",  # rows fine, columns not
        "1234/3412/2143/4321" if answer != "1234/3412/2143/4321" else "2143/4321/1234/3412",
    ]


def _value(expression: str) -> Fraction | None:
    """Exact value, or None if an intermediate result breaks the rules (test-side oracle)."""
    import ast

    def walk(node):
        if isinstance(node, ast.Constant):
            return Fraction(node.value)
        a, b = walk(node.left), walk(node.right)
        if a is None or b is None:
            return None
        op = type(node.op)
        if op is ast.Div and b == 0:
            return None
        out = {ast.Add: a + b, ast.Sub: a - b, ast.Mult: a * b}.get(op) if op is not ast.Div else a / b
        return out if out > 0 and out.denominator == 1 else None

    return walk(ast.parse(expression, mode="eval").body)


def _perturb_countdown(problem, answer: str, rng: random.Random) -> list[str]:
    target, numbers = problem.meta["target"], problem.meta["numbers"]
    out = []
    for m in re.finditer(r"\d+", answer):  # change a digit of each number
        d = m.group()
        new = str(int(d) + 1)
        out.append(answer[: m.start()] + new + answer[m.end() :])
    for m in re.finditer(r"[-+*/]", answer):  # another operator, where that changes the result
        for op in "+-*/":
            changed = answer[: m.start()] + op + answer[m.end() :]
            if op != m.group() and _value(changed) != target:
                out.append(changed)
    out.append(answer + " + 1")
    out.append(answer + " - 1")
    out.append(f"{answer} = {target + 1}")
    out.append(answer.replace("(", "", 1))  # unbalanced
    extra = max(numbers)
    out.append(
        f"{answer} * {extra} / {extra}" if numbers.count(extra) == 1 else answer + " * 1 * 1 * 1 * 1 * 1 * 1"
    )
    out.append(f"-{answer}")
    out.append(str(target))  # the target itself is not an expression of given numbers
    out.append(f"({answer}) ** 1")
    out.append("__import__('os').system('true')")
    out.append(f"{answer}.0")
    return [o for o in out if o != answer]


def _perturb_sat_assignment(problem, answer: str, rng: random.Random) -> list[str]:
    pairs = answer.split(", ")
    i = rng.randrange(len(pairs))
    flipped = pairs[i][:-1] + ("F" if pairs[i].endswith("T") else "T")
    out = [", ".join(pairs[:i] + [flipped] + pairs[i + 1 :])]  # flip one
    out.append(", ".join(pairs[:-1]))  # drop a variable
    out.append(answer + f", x{len(pairs) + 1}=T")  # a variable that does not exist
    out.append(answer + ", " + flipped)  # one variable, two values
    trues = [p for p in pairs if p.endswith("T")]
    falses = [p for p in pairs if p.endswith("F")]
    if trues and falses:  # swap the values of two variables that differ
        a, b = rng.choice(trues), rng.choice(falses)
        out.append(answer.replace(a, a[:-1] + "F").replace(b, b[:-1] + "T"))
    out.append(answer.replace("=", ""))  # "x1T": no longer readable
    out.append(answer.replace("x1=", "x=", 1))
    return out


def _perturb_ordering(problem, answer: str, rng: random.Random) -> list[str]:
    names = answer.split(", ")
    i, j = rng.sample(range(len(names)), 2)
    swapped = list(names)
    swapped[i], swapped[j] = swapped[j], swapped[i]
    out = [", ".join(swapped)]  # swap two people
    out.append(", ".join(names[::-1]))  # back to front
    out.append(", ".join(names[:-1]))  # drop one
    out.append(", ".join(names + [names[0]]))  # one twice
    out.append(answer.replace(names[0], "Zed"))  # a stranger
    out.append(", ".join(names[:1] + names[:-1]))  # duplicate replaces the last
    out.append(answer.replace(", ", " 1 "))
    return out


PERTURB = {
    "knights_knaves": _perturb_knights_knaves,
    "zebra": _perturb_zebra,
    "sudoku4": _perturb_sudoku4,
    "countdown": _perturb_countdown,
    "sat_assignment": _perturb_sat_assignment,
    "ordering": _perturb_ordering,
}


@pytest.mark.parametrize("task", TASKS)
def test_rejects_perturbed_answers(task):
    rng = random.Random(task)
    total = 0
    for problem in problems(task):
        answer = solve_problem(problem).answer
        for bad in PERTURB[task](problem, answer, rng):
            if bad == answer:
                continue
            total += 1
            assert_rejected(problem, bad, "perturbation")
    assert total >= 5 * PER_TASK


# ---------------------------------------------------------------- lenient reading, any valid solution


def _kk_problem():
    return next(p for p in problems("knights_knaves") if p.difficulty == 3)


def test_knights_knaves_lenient_forms():
    problem = _kk_problem()
    solution = problem.meta["solution"]
    spoken = ", ".join(f"{n} is a {r}" for n, r in solution.items())
    backwards = "; ".join(f"{n}: {r.upper()}" for n, r in reversed(solution.items()))
    lower = " and ".join(f"{n.lower()} = {r}" for n, r in solution.items())
    for form in (spoken, backwards, lower, f"\\text{{{spoken}}}.", f"$\\text{{{backwards}}}$"):
        verdict = check(problem, boxed(form))
        assert verdict.passed, (form, verdict.reason)


def test_zebra_lenient_forms():
    problem = next(p for p in problems("zebra") if p.difficulty == 4)
    houses = problem.meta["solution"]
    unnumbered = "; ".join(", ".join(h) for h in houses)
    labelled = "\n".join(f"House {i + 1}: {' '.join(reversed(h)).upper()}" for i, h in enumerate(houses))
    shuffled = "; ".join(f"{i + 1}: {', '.join(houses[i])}" for i in reversed(range(len(houses))))
    sentences = ". ".join(f"House {i + 1}: {', '.join(h)}" for i, h in enumerate(houses)) + "."
    for form in (unnumbered, labelled, shuffled, sentences):
        assert check(problem, boxed(form)).passed, form


def test_sudoku_lenient_forms():
    problem = problems("sudoku4")[0]
    answer = solve_problem(problem).answer
    rows = answer.split("/")
    grid = [" ".join(r[:2]) + " | " + " ".join(r[2:]) for r in rows]  # the prompt's own layout
    drawn = "\n".join(grid[:2] + ["----+----"] + grid[2:])
    for form in (
        "\n".join(rows),
        " ".join(rows),
        "".join(rows),
        " ".join("".join(rows)),
        " / ".join(rows) + ".",
        drawn,
    ):
        assert check(problem, f"Answer: {form}" if "\n" not in form else boxed(form)).passed, form


def test_sudoku_rejects_a_valid_grid_that_breaks_the_givens():
    problem = problems("sudoku4")[0]
    answer = solve_problem(problem).answer
    digits = str.maketrans("1234", "2143")  # relabelled digits: still a valid sudoku
    other = answer.translate(digits)
    verdict = check(problem, boxed(other))
    assert not verdict.passed and "given" in verdict.reason


def test_sat_and_ordering_lenient_forms():
    sat = problems("sat_assignment")[3]
    values = {int(k[1:]): v for k, v in sat.meta["solution"].items()}
    words = ", ".join(
        f"x_{{{v}}} = {'true' if t else 'false'}" for v, t in sorted(values.items(), reverse=True)
    )
    assert check(sat, boxed(words)).passed
    assert check(sat, boxed(" ".join(f"x{v}: {int(t)}" for v, t in values.items()))).passed
    order = problems("ordering")[4]
    names = order.meta["solution"]
    for form in (" -> ".join(names), ", ".join(n.lower() for n in names) + ".", " then ".join(names)):
        assert check(order, boxed(form)).passed, form


def _apply(a: Fraction | None, op: str, b: Fraction | None) -> Fraction | None:
    if a is None or b is None:
        return None
    out = {"+": a + b, "-": a - b, "*": a * b, "/": a / b}[op]
    return out if out > 0 and out.denominator == 1 else None


def _alternatives(numbers: list[int], target: int, reference: str) -> list[str]:
    """Other expressions over the numbers that reach the target (brute force over
    pairs and triples)."""
    found = []
    for combo in itertools.permutations(numbers, 2):
        for op in "+-*/":
            if _apply(Fraction(combo[0]), op, Fraction(combo[1])) == target:
                found.append(f"{combo[0]} {op} {combo[1]}")
    for a, b, c in itertools.permutations(numbers, 3):
        fa, fb, fc = Fraction(a), Fraction(b), Fraction(c)
        for p, q in itertools.product("+-*/", repeat=2):
            if _apply(_apply(fa, p, fb), q, fc) == target:
                found.append(f"({a} {p} {b}) {q} {c}")
            if _apply(fa, p, _apply(fb, q, fc)) == target:
                found.append(f"{a} {p} ({b} {q} {c})")
    return [f for f in found if f != reference]


def test_countdown_accepts_any_valid_expression():
    accepted = 0
    for problem in problems("countdown"):
        numbers, target = problem.meta["numbers"], problem.meta["target"]
        tree = problem.meta["tree"]
        left, op, right = tree
        if op in "+*":  # the reference with its top operands swapped
            from datagen.tasks.logic.countdown import render

            commuted = f"({render(right)}) {op} ({render(left)})"
            assert check(problem, boxed(commuted)).passed, commuted
            accepted += 1
        for alt in _alternatives(numbers, target, problem.answer)[:3]:
            verdict = check(problem, boxed(alt))
            assert verdict.passed, (numbers, target, alt, verdict.reason)
            accepted += 1
        # the stated result may be written out
        assert check(problem, boxed(f"{problem.answer} = {target}")).passed
        assert check(problem, boxed(problem.answer.replace("*", "\\times").replace("/", "\\div"))).passed
    assert accepted >= 30


def test_countdown_rules():
    problem = SimpleNamespace(
        answer="(100 + 6) * 3 * 75 - 50",
        meta={"numbers": [3, 6, 25, 50, 75, 100], "target": 23800},
        verifier="logic.countdown",
    )
    good = ["(100 + 6) * 3 * 75 - 50", "((100 + 6) × 3 × 75) − 50", "(6 + 100) * 75 * 3 - 50 = 23800"]
    for expression in good:
        assert check(problem, boxed(expression)).passed, expression
    bad = {
        "(100 + 6) * 3 * 75 - 50 + 3 - 3": "3 used twice",
        "(100 + 6) * 3 * 75 - 50 = 23801": "wrong stated result",
        "6 / 3 * 50": "wrong value",
        "3 - 6 + 23803": "negative intermediate and unknown number",
        "(3 / 6) * 100": "fraction intermediate",
        "2 ** 3": "power",
        "-3 + 6": "unary minus",
        "3 + 6 = 9 = 9": "two equals",
        "(((((((((((((((((((((((((3)))))))))))))))))))))))))": "deep but fine yet wrong value",
        "(" * 300 + "3" + ")" * 300: "nesting beyond the limit",
        "9" * 50: "huge literal",
        "3 + six": "words",
        "3.0 + 6": "float",
        "True + 6": "bool",
    }
    for expression, why in bad.items():
        verdict = check(problem, boxed(expression))
        assert not verdict.passed, why
    # an exact path to one: intermediate results must be whole
    fractional = SimpleNamespace(
        answer="4 * 3 / 6", meta={"numbers": [3, 4, 6], "target": 2}, verifier="logic.countdown"
    )
    assert check(fractional, boxed("4 * 3 / 6")).passed
    assert not check(fractional, boxed("(4 / 6) * 3")).passed


# ---------------------------------------------------------------- files, fallbacks, hostile input


def test_generic_logic_verifier_compares_with_the_reference():
    verify = verifiers.get("logic")
    problem = SimpleNamespace(answer="Alice, Bob", meta={}, task="file", domain="logic")
    assert verify(problem, boxed("alice,  bob.")).passed
    assert verify(problem, "Answer: $\\text{Alice, Bob}$").passed
    assert not verify(problem, boxed("Bob, Alice")).passed
    assert not verify(SimpleNamespace(answer=None, meta={}), boxed("x")).passed


def test_task_verifier_without_puzzle_falls_back_to_the_reference():
    problem = SimpleNamespace(answer="1234/3412/2143/4321", meta={}, verifier="logic.sudoku4")
    verdict = check(problem, boxed("1234/3412/2143/4321"))
    assert verdict.passed and "reference" in verdict.reason
    assert not check(problem, boxed("1234/3412/2143/4312")).passed


@pytest.mark.parametrize("task", TASKS)
def test_never_raises_on_hostile_problems_or_responses(task):
    problem = problems(task)[0]
    answer = solve_problem(problem).answer
    verify = verifiers.get(f"logic.{task}")
    broken = [
        SimpleNamespace(answer=answer, meta=None),
        SimpleNamespace(answer=answer, meta="not json"),
        SimpleNamespace(answer=None, meta={k: None for k in problem.meta}),
        SimpleNamespace(answer=answer, meta={k: "garbage" for k in problem.meta}),
        SimpleNamespace(answer=answer, meta={**problem.meta, "clues": [{"kind": "?"}], "statements": [{}]}),
        SimpleNamespace(),
    ]
    for p in broken:
        verdict = verify(p, boxed(answer))
        assert verdict.passed in (True, False) and (verdict.passed or verdict.reason)
    for response in (None, 42, b"bytes", ["list"], "\\boxed{" + "{" * 10_000, "\x00" * 1000):
        verdict = verify(problem, response)
        assert not verdict.passed and verdict.reason
    # a stored problem's meta may come back as JSON text
    import json

    stored = SimpleNamespace(answer=problem.answer, meta=json.dumps(problem.meta))
    assert verify(stored, boxed(answer)).passed


def test_fast_enough():
    import time

    problem = problems("zebra")[-1]
    answer = solve_problem(problem).answer
    started = time.perf_counter()
    for _ in range(200):
        check(problem, boxed(answer))
    assert (time.perf_counter() - started) / 200 < 0.01  # well under 10 ms a check, on a loaded machine
