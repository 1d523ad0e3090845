"""Linear equations: solve for x, or for (x, y) in a 2x2 system.

Difficulty 1: ax + b = c with an integer solution; 2: x on both sides, integer
solution; 3: a bracket to expand first, the solution may be a fraction; 4: fractional
coefficients on both sides; 5: two equations in x and y with an integer solution,
answered as the pair "(x, y)". The solver collects the x terms on the left, the
constants on the right and divides; the system is solved by elimination. The
task-specific slip moves a term across the equals sign without flipping its sign.
"""

from __future__ import annotations

import math
import random
from fractions import Fraction

from datagen.tasks.base import Generated, Solution, Step, Task
from datagen.tasks.math._numbers import claim, fstr, linear, nonzero


def _fraction(rng: random.Random) -> Fraction:
    """A non-integer coefficient with a small denominator, so the work stays by-hand."""
    while True:
        value = Fraction(nonzero(rng, 1, 11), rng.choice((2, 3, 4, 5, 6)))
        if value.denominator != 1:
            return value


def _single(rng: random.Random, difficulty: int) -> dict:
    """Coefficients of a x + b = c x + d (and the bracket k(x + p) at difficulty 3)."""
    bracket = None
    if difficulty == 1:
        a, x, c = rng.randint(2, 9), rng.randint(-10, 10), 0
        b = nonzero(rng, 1, 20)
        d = a * x + b
    elif difficulty == 2:
        a, c = rng.sample([v for v in range(-9, 10) if v != 0], 2)
        x, b = rng.randint(-12, 12), rng.randint(-20, 20)
        d = (a - c) * x + b
    elif difficulty == 3:
        k, p = rng.randint(2, 6), nonzero(rng, 1, 9)
        c = rng.choice([v for v in range(-9, 10) if v not in (0, k)])
        a, b, d = k, k * p, rng.randint(-30, 30)
        bracket = [k, p]
    else:
        a, c = _fraction(rng), _fraction(rng)
        while c == a:
            c = _fraction(rng)
        b = rng.choice([_fraction(rng), nonzero(rng, 1, 12)])
        d = rng.choice([_fraction(rng), nonzero(rng, 1, 12)])
    return {"lhs": [fstr(a), fstr(b)], "rhs": [fstr(c), fstr(d)], "bracket": bracket}


def _system(rng: random.Random) -> dict:
    x, y = rng.randint(-9, 9), rng.randint(-9, 9)
    while True:
        a1, b1, a2, b2 = (nonzero(rng, 1, 6) for _ in range(4))
        if a1 * b2 != a2 * b1:
            break
    return {"eqs": [[a1, b1, a1 * x + b1 * y], [a2, b2, a2 * x + b2 * y]]}


def _equations(meta: dict) -> list[str]:
    if meta["kind"] == "system":
        return [f"{linear([(a, 'x'), (b, 'y')])} = {c}" for a, b, c in meta["eqs"]]
    (a, b), (c, d) = ([Fraction(v) for v in side] for side in (meta["lhs"], meta["rhs"]))
    if meta["bracket"]:
        k, p = meta["bracket"]
        left = f"{k}({linear([(1, 'x'), (p, '')])})"
    else:
        left = linear([(a, "x"), (b, "")])
    return [f"{left} = {linear([(c, 'x'), (d, '')])}"]


def generate(rng: random.Random, difficulty: int) -> Generated:
    if difficulty == 5:
        meta = {"kind": "system", **_system(rng)}
    else:
        meta = {"kind": "single", **_single(rng, difficulty)}
    meta["equations"] = _equations(meta)
    if meta["kind"] == "system":
        first, second = meta["equations"]
        prompt = f"Find the pair (x, y) that satisfies both {first} and {second}."
    else:
        prompt = f"Solve {meta['equations'][0]} for x."
    return Generated(prompt=prompt, answer=solve(meta).answer, meta=meta)


def _solve_single(meta: dict, slip: bool = False) -> tuple[list[Step], Fraction]:
    """The worked solution; `slip` moves the constant across without flipping its sign."""
    (a, b), (c, d) = ([Fraction(v) for v in side] for side in (meta["lhs"], meta["rhs"]))
    right = linear([(c, "x"), (d, "")])
    steps = []
    if meta["bracket"]:
        k, p = meta["bracket"]
        text, _ = claim(k, "*", p)
        steps.append(
            Step(
                goal="What does the equation look like with the bracket expanded?",
                work=f"Multiply both terms in the bracket by {k}: {text}, so the equation becomes "
                f"{linear([(a, 'x'), (b, '')])} = {right}.",
            )
        )
    coef = a
    if c != 0:
        text, coef = claim(a, "-", c)
        move = f"Subtract {linear([(c, 'x')])} from" if c > 0 else f"Add {linear([(-c, 'x')])} to"
        steps.append(
            Step(
                goal="What equation remains once all x terms are on the left side?",
                work=f"{move} both sides. The x coefficient becomes {text}, so the equation is "
                f"{linear([(coef, 'x'), (b, '')])} = {fstr(d)}.",
            )
        )
    rest = d
    if b != 0:
        text, rest = claim(d, "+" if slip else "-", b)
        move = f"Subtract {fstr(b)} from" if b > 0 else f"Add {fstr(-b)} to"
        steps.append(
            Step(
                goal="What equation remains once the constants are on the right side?",
                work=f"{move} both sides: {text}, so {linear([(coef, 'x')])} = {fstr(rest)}.",
            )
        )
    text, x = claim(rest, "/", coef)
    steps.append(
        Step(
            goal="What is x?",
            work=f"Divide both sides by {fstr(coef)}: {text}, so x = {fstr(x)}."
            if coef != 1
            else f"The equation already reads x = {fstr(x)}.",
        )
    )
    return steps, x


def _scale(eq: list[int], factor: int, name: str) -> tuple[str, list[int]]:
    """Multiply an equation through by `factor`, one claim per coefficient."""
    if factor == 1:
        return f"Keep the {name} equation as it is.", eq
    parts = [claim(factor, "*", v) for v in eq]
    scaled = [int(v) for _, v in parts]
    texts = "; ".join(t for t, _ in parts)
    return f"Multiply the {name} equation by {factor}: {texts}.", scaled


def _solve_system(meta: dict, slip: bool = False) -> tuple[list[Step], tuple[Fraction, Fraction]]:
    """Elimination; `slip` moves the y term across without flipping its sign."""
    (a1, b1, c1), (a2, b2, c2) = meta["eqs"]
    lcm = math.lcm(abs(a1), abs(a2))
    first, (t, p, q) = _scale([a1, b1, c1], lcm // a1, "first")
    second, (_, r, s) = _scale([a2, b2, c2], lcm // a2, "second")
    eq1 = f"{linear([(t, 'x'), (p, 'y')])} = {q}"
    eq2 = f"{linear([(t, 'x'), (r, 'y')])} = {s}"
    y_text, k = claim(p, "-", r)
    rhs_text, m = claim(q, "-", s)
    div_text, y = claim(m, "/", k)
    by_text, by = claim(b1, "*", y)
    ax_text, ax = claim(c1, "+" if slip else "-", by)
    x_text, x = claim(ax, "/", a1)
    steps = [
        Step(
            goal="How can x be eliminated?",
            work=f"Make both x coefficients equal to {lcm}. {first} {second} "
            f"The equations are now {eq1} and {eq2}."
            if a1 != a2
            else f"Both x coefficients are already {a1}, so subtracting the equations removes x.",
        ),
        Step(
            goal="What is y?",
            work=f"Subtract the second equation from the first: {y_text} and {rhs_text}, "
            f"so {linear([(k, 'y')])} = {fstr(m)}. Then {div_text}, so y = {fstr(y)}.",
        ),
        Step(
            goal="What is x?",
            work=f"Substitute y = {fstr(y)} into {linear([(a1, 'x'), (b1, 'y')])} = {c1}: {by_text}, "
            f"and {ax_text}, so {linear([(a1, 'x')])} = {fstr(ax)}. Then {x_text}, so x = {fstr(x)}.",
        ),
    ]
    return steps, (x, y)


def _solution(meta: dict, slip: bool) -> Solution:
    if meta["kind"] == "system":
        steps, (x, y) = _solve_system(meta, slip)
        return Solution(
            principle="Eliminate one unknown by scaling the equations so its coefficients match and "
            "subtracting; solve for the other, then substitute back.",
            steps=steps,
            answer=f"({fstr(x)}, {fstr(y)})",
        )
    steps, x = _solve_single(meta, slip)
    return Solution(
        principle="Undo the operations around x: expand brackets, gather the x terms on one side and "
        "the constants on the other, then divide by the coefficient of x.",
        steps=steps,
        answer=fstr(x),
    )


def solve(meta: dict) -> Solution:
    return _solution(meta, slip=False)


def corrupt(meta: dict, solution: Solution, rng: random.Random) -> tuple[Solution, str]:
    """The classic slip: a term moved across the equals sign keeps its sign. Where no
    term is moved (no constant next to x, or y = 0), the final value is off by one."""
    slipped = _solution(meta, slip=True)
    if slipped.answer != solution.answer:
        return slipped, "wrong_intermediate"
    *head, last = solution.steps
    x = Fraction(last.work.rsplit(" = ", 1)[1].rstrip("."))
    shifted = fstr(x + rng.choice((1, -1)))
    steps = [*head, Step(goal=last.goal, work=f"{last.work.rsplit(' = ', 1)[0]} = {shifted}.")]
    if meta["kind"] == "system":
        answer = f"({shifted}, {solution.answer.split(', ')[1]}"
    else:
        answer = shifted
    return Solution(principle=solution.principle, steps=steps, answer=answer), "off_by_one"


TASK = Task(
    name="linear_equations",
    domain="math",
    verifier="math",
    description="Linear equations in x, up to a 2x2 system",
    generate=generate,
    solve=solve,
    corrupt=corrupt,
)
