"""Exact number formatting shared by the math tasks.

Worked steps write every arithmetic claim as `a op b = c` with exact values so the
step checker can re-evaluate it. Fractions are spelled "a/b", decimals keep at most
two places, and negative operands (and fractions next to * or /) get parentheses so
that a claim reads the same to a person and to an expression parser: "3/4 / 2/5"
would parse as ((3/4)/2)/5, "(3/4) / (2/5)" cannot be misread.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from fractions import Fraction


def fstr(x) -> str:
    """An exact value as "a/b" in lowest terms, or "a" when it is an integer."""
    x = Fraction(x)
    return str(x.numerator) if x.denominator == 1 else f"{x.numerator}/{x.denominator}"


def dstr(x) -> str:
    """A terminating decimal with at most two places: "12.75", "12.5", "12"."""
    cents = Fraction(x) * 100
    if cents.denominator != 1:
        raise ValueError(f"{x} has more than two decimal places")
    whole, part = divmod(abs(cents.numerator), 100)
    sign = "-" if cents < 0 else ""
    return f"{sign}{whole}" if part == 0 else f"{sign}{whole}.{part:02d}".rstrip("0")


def money(x) -> str:
    """Dollars with exactly two decimals ("4.50"), the way prices are written."""
    cents = Fraction(x) * 100
    if cents.denominator != 1:
        raise ValueError(f"{x} is not a whole number of cents")
    whole, part = divmod(abs(cents.numerator), 100)
    return f"{'-' if cents < 0 else ''}{whole}.{part:02d}"


def operand(x, tight: bool = False, fmt: Callable = fstr) -> str:
    """An operand inside a claim: negatives always in parentheses, fractions also
    when `tight` (next to * or /)."""
    text = fmt(x)
    if Fraction(x) < 0 or (tight and "/" in text):
        return f"({text})"
    return text


def apply(a, op: str, b) -> Fraction:
    a, b = Fraction(a), Fraction(b)
    if op == "+":
        return a + b
    if op == "-":
        return a - b
    if op == "*":
        return a * b
    if op == "/":
        return a / b
    raise ValueError(f"unknown operator {op!r}")


def claim(a, op: str, b, fmt: Callable = fstr) -> tuple[str, Fraction]:
    """The text "a op b = c" and the exact value c."""
    value = apply(a, op, b)
    tight = op in "*/"
    return f"{operand(a, tight, fmt)} {op} {operand(b, tight, fmt)} = {fmt(value)}", value


def linear(terms) -> str:
    """Render (coefficient, symbol) pairs as a sum, skipping zero terms; the symbol
    "" marks the constant: [(3, "x"), (-1, "y"), (5, "")] -> "3x - y + 5"."""
    parts: list[tuple[str, str]] = []
    for coef, sym in terms:
        coef = Fraction(coef)
        if coef == 0:
            continue
        mag = abs(coef)
        if sym and mag == 1:
            body = sym
        elif sym and mag.denominator != 1:
            body = f"({fstr(mag)}){sym}"
        else:
            body = fstr(mag) + sym
        parts.append(("-" if coef < 0 else "+", body))
    if not parts:
        return "0"
    text = ("-" if parts[0][0] == "-" else "") + parts[0][1]
    for sign, body in parts[1:]:
        text += f" {sign} {body}"
    return text


def nonzero(rng: random.Random, lo: int, hi: int) -> int:
    """A random integer in [-hi, -lo] or [lo, hi] (lo >= 1)."""
    return rng.randint(lo, hi) * rng.choice((1, -1))
