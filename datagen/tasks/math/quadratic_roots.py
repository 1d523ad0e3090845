"""Real roots of a quadratic equation ax^2 + bx + c = 0 (always two distinct roots).

Difficulty 1: monic with small integer roots; 2: monic with larger integer roots
(both solved by factoring); 3: leading coefficient 2-5 with integer roots; 4: rational
roots from (px - q)(rx - s); 5: irrational roots (positive non-square discriminant),
the last three by the quadratic formula with the discriminant step shown. The answer
lists both roots in ascending order, "-2, 3" or "1 - sqrt(2), 1 + sqrt(2)", in a form
sympy parses.
"""

from __future__ import annotations

import math
import random
from fractions import Fraction

from datagen.tasks.base import Generated, Solution, Step, Task
from datagen.tasks.math._numbers import claim, fstr, linear, nonzero, operand


def _from_roots(rng: random.Random, difficulty: int) -> tuple[int, int, int]:
    """Coefficients of a quadratic with two distinct rational roots."""
    if difficulty <= 3:
        hi = [6, 15, 12][difficulty - 1]
        r1, r2 = rng.sample([v for v in range(-hi, hi + 1) if v != 0], 2)
        a = 1 if difficulty < 3 else rng.randint(2, 5)
        return a, -a * (r1 + r2), a * r1 * r2
    while True:
        # (p x - q)(r x - s): roots q/p and s/r, at least one of them not an integer
        p, r = rng.randint(1, 5), rng.randint(2, 5)
        q, s = nonzero(rng, 1, 9), nonzero(rng, 1, 9)
        if Fraction(q, p) != Fraction(s, r) and (q % p or s % r):
            a, b, c = p * r, -(p * s + q * r), q * s
            g = math.gcd(a, math.gcd(b, c))
            return a // g, b // g, c // g


def _irrational(rng: random.Random) -> tuple[int, int, int]:
    while True:
        a, b, c = rng.randint(1, 3), rng.randint(-10, 10), nonzero(rng, 1, 10)
        disc = b * b - 4 * a * c
        if disc > 0 and math.isqrt(disc) ** 2 != disc and math.gcd(a, math.gcd(b, c)) == 1:
            return a, b, c


def _poly(a: int, b: int, c: int) -> str:
    return linear([(a, "x^2"), (b, "x"), (c, "")])


def generate(rng: random.Random, difficulty: int) -> Generated:
    a, b, c = _irrational(rng) if difficulty == 5 else _from_roots(rng, difficulty)
    meta = {"a": a, "b": b, "c": c, "method": "factor" if difficulty <= 2 else "formula"}
    meta["equation"] = f"{_poly(a, b, c)} = 0"
    prompt = f"Find the real roots of the equation {meta['equation']}."
    return Generated(prompt=prompt, answer=solve(meta).answer, meta=meta)


def _surd(p: Fraction, q: Fraction, s: int) -> str:
    """p + q*sqrt(s) written the way sympy prints and parses it, e.g. "1 - sqrt(2)",
    "-3/4 + sqrt(41)/4", "2*sqrt(3)/3"."""
    mag = abs(q)
    root = f"sqrt({s})" if mag.numerator == 1 else f"{mag.numerator}*sqrt({s})"
    if mag.denominator != 1:
        root += f"/{mag.denominator}"
    if p == 0:
        return f"-{root}" if q < 0 else root
    return f"{fstr(p)} {'-' if q < 0 else '+'} {root}"


def _square_part(n: int) -> tuple[int, int]:
    """n = m^2 * s with s square-free (largest m)."""
    m = max(k for k in range(1, math.isqrt(n) + 1) if n % (k * k) == 0)
    return m, n // (m * m)


def _factor_steps(a: int, b: int, c: int) -> tuple[list[Step], list[str]]:
    # monic: x^2 + bx + c = (x + p)(x + q) with p + q = b and p * q = c
    disc = math.isqrt(b * b - 4 * c)
    p, q = (b - disc) // 2, (b + disc) // 2
    product, _ = claim(p, "*", q)
    total, _ = claim(p, "+", q)
    factors = [linear([(1, "x"), (v, "")]) for v in (p, q)]
    zeros = [f"{f} = 0 gives x = {-v}" for f, v in zip(factors, (p, q), strict=True)]
    steps = [
        Step(
            goal=f"Which two numbers multiply to {c} and add up to {b}?",
            work=f"{product} and {total}, so the numbers are {p} and {q}.",
        ),
        Step(
            goal="How does the quadratic factor?",
            work=f"{_poly(a, b, c)} = ({factors[0]})({factors[1]}).",
        ),
        Step(goal="Which values of x make a factor zero?", work=f"{zeros[0]} and {zeros[1]}."),
    ]
    return steps, [str(v) for v in sorted((-p, -q))]


def _formula_steps(a: int, b: int, c: int) -> tuple[list[Step], list[str]]:
    four_ac, disc = 4 * a * c, b * b - 4 * a * c
    steps = [
        Step(goal="What are a, b and c?", work=f"Here a = {a}, b = {b} and c = {c}."),
        Step(
            goal="What is the discriminant b^2 - 4ac?",
            work=f"b^2 - 4ac = {operand(b)}^2 - 4 * {a} * {operand(c)} = {b * b} - {operand(four_ac)} "
            f"= {disc}. It is positive, so there are two real roots.",
        ),
    ]
    root = math.isqrt(disc)
    lead = f"x = (-b ± sqrt({disc})) / (2a), where -b = {-b} and 2a = 2 * {a} = {2 * a}"
    if root * root == disc:
        high, low = Fraction(-b + root, 2 * a), Fraction(-b - root, 2 * a)
        plus = f"({-b} + {root}) / {2 * a} = {fstr(high)}"
        minus = f"({-b} - {root}) / {2 * a} = {fstr(low)}"
        steps.append(
            Step(
                goal="What is the square root of the discriminant?",
                work=f"{root} * {root} = {disc}, so sqrt({disc}) = {root}.",
            )
        )
        steps.append(Step(goal="What are the two roots?", work=f"{lead}: {plus} and {minus}."))
        return steps, [fstr(low), fstr(high)]
    m, s = _square_part(disc)
    if m > 1:
        simplified = f"{m}*sqrt({s})"
        work = f"{disc} = {m}^2 * {s}, so sqrt({disc}) = {simplified}."
    else:
        simplified = f"sqrt({disc})"
        work = f"{disc} has no square factor other than 1, so sqrt({disc}) stays as it is."
    steps.append(Step(goal="What is the square root of the discriminant?", work=work))
    p, q = Fraction(-b, 2 * a), Fraction(m, 2 * a)
    low, high = _surd(p, -q, s), _surd(p, q, s)
    steps.append(
        Step(
            goal="What are the two roots?",
            work=f"{lead}: x = ({-b} ± {simplified}) / {2 * a}, which simplifies to {low} and {high}.",
        )
    )
    return steps, [low, high]


def solve(meta: dict) -> Solution:
    a, b, c = meta["a"], meta["b"], meta["c"]
    if meta["method"] == "factor":
        steps, roots = _factor_steps(a, b, c)
        principle = (
            "Factor x^2 + bx + c as (x + p)(x + q) with p + q = b and pq = c; a product is zero "
            "exactly when one factor is zero."
        )
    else:
        steps, roots = _formula_steps(a, b, c)
        principle = (
            "The quadratic formula x = (-b ± sqrt(b^2 - 4ac)) / (2a) gives the roots; the "
            "discriminant b^2 - 4ac tells how many real roots there are."
        )
    return Solution(principle=principle, steps=steps, answer=", ".join(roots))


TASK = Task(
    name="quadratic_roots",
    domain="math",
    verifier="math",
    description="Real roots of a quadratic equation",
    generate=generate,
    solve=solve,
)
