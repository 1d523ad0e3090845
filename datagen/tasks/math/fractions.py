"""Fraction arithmetic: add, subtract, multiply and divide fractions and mixed numbers.

Difficulty 1: two fractions added or subtracted; 2: two fractions with any of + - * /;
3: three fractions; 4: three operands, one of them a mixed number; 5: four operands,
two of them mixed numbers. Denominators grow from at most 6 to at most 12.
Operations are applied left to right (parentheses in the prompt make that order
explicit) and the answer is a reduced fraction "a/b", or an integer when the
denominator is 1.
"""

from __future__ import annotations

import math
import random
from fractions import Fraction

from datagen.tasks.base import Generated, Solution, Step, Task
from datagen.tasks.math._numbers import apply, claim, fstr, operand

# (operands, mixed numbers among them, largest denominator, allowed operators)
_LEVELS = {
    1: (2, 0, 6, "+-"),
    2: (2, 0, 10, "+-*/"),
    3: (3, 0, 12, "+-*/"),
    4: (3, 1, 12, "+-*/"),
    5: (4, 2, 12, "+-*/"),
}


def _proper(rng: random.Random, max_den: int) -> Fraction:
    """A proper fraction already in lowest terms, as a person would write it."""
    while True:
        den = rng.randint(2, max_den)
        num = rng.randint(1, den - 1)
        if math.gcd(num, den) == 1:
            return Fraction(num, den)


def _show(value: Fraction, mixed: bool) -> str:
    if not mixed:
        return fstr(value)
    whole, rest = divmod(value.numerator, value.denominator)
    return f"{whole} {rest}/{value.denominator}"


def _render(values: list[Fraction], mixed: list[bool], ops: list[str]) -> str:
    """Left-to-right expression; operands next to * or / are parenthesised so that
    "(2/3) / (4/5)" and "(1 1/2) * (2/3)" read unambiguously."""
    tight = [False] * len(values)
    for i, op in enumerate(ops):
        if op in "*/":
            tight[i] = tight[i + 1] = True
    parts = [f"({_show(v, m)})" if t else _show(v, m) for v, m, t in zip(values, mixed, tight, strict=True)]
    text = parts[0]
    for i, op in enumerate(ops):
        # a sum on the left of * or / needs brackets to be evaluated first
        if op in "*/" and i > 0 and ops[i - 1] in "+-":
            text = f"({text})"
        text = f"{text} {op} {parts[i + 1]}"
    return text


def generate(rng: random.Random, difficulty: int) -> Generated:
    count, n_mixed, max_den, allowed = _LEVELS[difficulty]
    mixed = [False] * count
    for i in rng.sample(range(count), n_mixed):
        mixed[i] = True
    values = [_proper(rng, max_den) + (rng.randint(1, 4) if m else 0) for m in mixed]
    ops = [rng.choice(allowed) for _ in range(count - 1)]
    expression = _render(values, mixed, ops)
    meta = {"values": [fstr(v) for v in values], "mixed": mixed, "ops": ops, "expression": expression}
    note = " (Numbers such as 2 1/3 are mixed numbers.)" if n_mixed else ""
    return Generated(prompt=f"Compute {expression}.{note}", answer=solve(meta).answer, meta=meta)


def _raw(num: int, den: int) -> str:
    """An unreduced fraction as written mid-calculation, negative in parentheses."""
    return f"({num}/{den})" if num < 0 else f"{num}/{den}"


def _reduce(num: int, den: int) -> str:
    """Sentence reducing num/den to lowest terms ('' when it already is)."""
    g = math.gcd(num, den)
    if g == 1:
        return ""
    top, _ = claim(num, "/", g)
    bottom, _ = claim(den, "/", g)
    return (
        f" The greatest common divisor of {abs(num)} and {den} is {g}: {top} and {bottom}, "
        f"so {_raw(num, den)} = {fstr(Fraction(num, den))}."
    )


def _add(a: Fraction, op: str, b: Fraction) -> str:
    """Work for a + b or a - b over the least common denominator."""
    den = math.lcm(a.denominator, b.denominator)
    na, nb = a.numerator * den // a.denominator, b.numerator * den // b.denominator
    num = na + nb if op == "+" else na - nb
    if a.denominator == b.denominator:
        text = "The denominators already match, so combine the numerators: "
    else:
        # rewrite only the operands whose denominator is not already the common one
        rewrites = [f"{operand(v)} = {_raw(n, den)}" for v, n in ((a, na), (b, nb)) if v.denominator != den]
        text = (
            f"The least common denominator of {a.denominator} and {b.denominator} is {den}: "
            f"{' and '.join(rewrites)}. Then "
        )
    text += f"{_raw(na, den)} {op} {_raw(nb, den)} = {num}/{den}."
    return text + _reduce(num, den)


def _multiply(a: Fraction, op: str, b: Fraction) -> str:
    """Work for a * b, or a / b as multiplication by the reciprocal."""
    text = ""
    if op == "/":
        recip = 1 / b
        text = (
            f"Dividing by {fstr(b)} is multiplying by its reciprocal {fstr(recip)}: "
            f"{operand(a, True)} / {operand(b, True)} = {operand(a, True)} * {operand(recip, True)}. "
        )
        b = recip
    top, num = claim(a.numerator, "*", b.numerator)
    bottom, den = claim(a.denominator, "*", b.denominator)
    text += (
        f"Multiply the numerators and the denominators: {top} and {bottom}, "
        f"so {operand(a, True)} * {operand(b, True)} = {int(num)}/{int(den)}."
    )
    return text + _reduce(int(num), int(den))


def solve(meta: dict) -> Solution:
    values = [Fraction(v) for v in meta["values"]]
    steps = []
    for value, mixed in zip(values, meta["mixed"], strict=True):
        if not mixed:
            continue
        whole, rest = divmod(value.numerator, value.denominator)
        times, _ = claim(whole, "*", value.denominator)
        plus, _ = claim(whole * value.denominator, "+", rest)
        steps.append(
            Step(
                goal=f"What is {_show(value, True)} as an improper fraction?",
                work=f"{times} and {plus}, so {_show(value, True)} is {fstr(value)}.",
            )
        )
    result = values[0]
    for op, value in zip(meta["ops"], values[1:], strict=True):
        tight = op in "*/"
        work = _add(result, op, value) if op in "+-" else _multiply(result, op, value)
        steps.append(
            Step(
                goal=f"What is {operand(result, tight)} {op} {operand(value, tight)}?",
                work=work,
            )
        )
        result = apply(result, op, value)
    return Solution(
        principle="Write mixed numbers as improper fractions; add or subtract over a common "
        "denominator, multiply numerators and denominators, divide by multiplying by the "
        "reciprocal, and reduce by the greatest common divisor.",
        steps=steps,
        answer=fstr(result),
    )


TASK = Task(
    name="fractions",
    domain="math",
    verifier="math",
    description="Arithmetic with fractions and mixed numbers",
    generate=generate,
    solve=solve,
)
