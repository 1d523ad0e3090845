"""Derivatives: differentiate f(x) = u(x)^n * v(x) and evaluate the derivative at a point.

u and v are integer polynomials. Difficulty 1: a quadratic; 2: a cubic or quartic
(power rule term by term); 3: a product of a linear and a quadratic factor (product
rule); 4: a power of a polynomial (chain rule); 5: a power of a linear factor times a
polynomial (product and chain rule together). The answer is the integer f'(x0); the
solver differentiates symbolically, then evaluates each piece at x0.
"""

from __future__ import annotations

import random

from datagen.tasks.base import Generated, Solution, Step, Task
from datagen.tasks.math._numbers import linear, nonzero, operand


def _random_poly(rng: random.Random, degree: int, hi: int) -> list[int]:
    """Coefficients, lowest degree first; the leading one is nonzero."""
    return [rng.randint(-hi, hi) for _ in range(degree)] + [nonzero(rng, 1, hi)]


def _show(coeffs: list[int]) -> str:
    powers = {0: "", 1: "x"}
    return linear([(c, powers.get(k, f"x^{k}")) for k, c in reversed(list(enumerate(coeffs)))])


def _derive(coeffs: list[int]) -> list[int]:
    return [k * c for k, c in enumerate(coeffs)][1:] or [0]


def generate(rng: random.Random, difficulty: int) -> Generated:
    v, n = [1], 1
    if difficulty == 1:
        u, x0 = _random_poly(rng, 2, 9), rng.randint(-5, 5)
    elif difficulty == 2:
        u, x0 = _random_poly(rng, rng.randint(3, 4), 6), rng.randint(-4, 4)
    elif difficulty == 3:
        u, v, x0 = _random_poly(rng, 1, 6), _random_poly(rng, 2, 6), rng.randint(-4, 4)
    elif difficulty == 4:
        # a quadratic inside keeps a lower power so f'(x0) stays a readable size
        u, x0 = _random_poly(rng, rng.randint(1, 2), 3), rng.randint(-2, 2)
        n = rng.randint(2, 4 if len(u) == 2 else 3)
    else:
        u, n, x0 = _random_poly(rng, 1, 3), rng.randint(2, 3), rng.randint(-3, 3)
        v = _random_poly(rng, rng.randint(1, 2), 4)
    expression = _show(u) if (n == 1 and v == [1]) else f"({_show(u)})"
    if n > 1:
        expression += f"^{n}"
    if v != [1]:
        expression += f" ({_show(v)})"
    meta = {"u": u, "n": n, "v": v, "x0": x0, "expression": expression}
    prompt = f"Let f(x) = {expression}. Find the value of the derivative f'(x) at x = {x0}."
    return Generated(prompt=prompt, answer=solve(meta).answer, meta=meta)


def _power_rule(name: str, coeffs: list[int]) -> str:
    """Differentiate term by term, with one claim per coefficient times exponent."""
    parts = []
    for k, c in enumerate(coeffs):
        if k >= 2 and c != 0:
            parts.append(f"{operand(c)} * {k} = {c * k}")
    text = f"By the power rule, {name}'(x) = {_show(_derive(coeffs))}"
    return text + (f" (coefficients: {'; '.join(parts)})." if parts else ".")


def _signed_sum(texts: list[str], signs: list[int]) -> str:
    """Join terms with + or - by the given signs: "3 * 2^2 - 4 * 2 + 1"."""
    out = texts[0]
    for text, sign in zip(texts[1:], signs[1:], strict=True):
        out += f" {'-' if sign < 0 else '+'} {text}"
    return out


def _at(name: str, coeffs: list[int], x0: int) -> tuple[str, int]:
    """The claim evaluating a polynomial at x0, term values shown when there are several."""
    if len(coeffs) == 1:
        return f"{name}({x0}) is the constant {coeffs[0]}", coeffs[0]
    terms, coefs, values = [], [], []
    for k, c in reversed(list(enumerate(coeffs))):
        if c == 0:
            continue
        # later terms carry their sign in the joining + or -, so show |c| there
        shown = operand(c) if not terms else str(abs(c))
        power = "" if k == 0 else f" * {operand(x0)}" if k == 1 else f" * {operand(x0)}^{k}"
        terms.append(f"{shown}{power}")
        coefs.append(c)
        values.append(c * x0**k)
    value = sum(values)
    text = _signed_sum(terms, coefs)
    if len(values) > 1:
        text += " = " + _signed_sum([str(values[0])] + [str(abs(v)) for v in values[1:]], values)
    return f"{name}({x0}) is {text} = {value}", value


def solve(meta: dict) -> Solution:
    u, n, v, x0 = meta["u"], meta["n"], meta["v"], meta["x0"]
    du, dv = _derive(u), _derive(v)
    steps = [
        Step(goal="What is the derivative of u(x)?", work=f"Let u(x) = {_show(u)}. {_power_rule('u', u)}")
    ]
    if v != [1]:
        steps.append(
            Step(goal="What is the derivative of v(x)?", work=f"Let v(x) = {_show(v)}. {_power_rule('v', v)}")
        )
    pieces = [_at("u'", du, x0)] if n == 1 and v == [1] else [_at("u", u, x0), _at("u'", du, x0)]
    if v != [1]:
        pieces += [_at("v", v, x0), _at("v'", dv, x0)]
    steps.append(
        Step(
            goal=f"What are the needed values at x = {x0}?",
            work="; ".join(text for text, _ in pieces) + ".",
        )
    )
    values = [value for _, value in pieces]
    combine, answer = _combine(n, v != [1], values)
    steps.append(Step(goal=f"What is f'({x0})?", work=combine))
    return Solution(principle=_principle(n, v != [1]), steps=steps, answer=str(answer))


def _combine(n: int, has_v: bool, values: list[int]) -> tuple[str, int]:
    """Apply the rule f' = n u^(n-1) u' v + u^n v' to the values at x0."""
    if not has_v and n == 1:
        return f"f is u itself, so the derivative at the point is {values[0]}.", values[0]
    U, dU = values[0], values[1]
    power = f" * {operand(U)}^{n - 1}" if n > 2 else f" * {operand(U)}" if n == 2 else ""
    chain = f"{n}{power} * {operand(dU)}" if n > 1 else operand(dU)
    if not has_v:
        value = n * U ** (n - 1) * dU
        return f"By the chain rule, f' = {n} {_u_power(n - 1)} u', so {chain} = {value}.", value
    V, dV = values[2], values[3]
    first, second = n * U ** (n - 1) * dU * V, U**n * dV
    un = f"{operand(U)}^{n}" if n > 1 else operand(U)
    rule = "product rule" if n == 1 else "product and chain rules"
    return (
        f"By the {rule}, f' = {'' if n == 1 else f'{n} {_u_power(n - 1)} '}u' v + {_u_power(n)} v', so "
        f"{chain} * {operand(V)} + {un} * {operand(dV)} = {operand(first)} + {operand(second)} "
        f"= {first + second}.",
        first + second,
    )


def _u_power(k: int) -> str:
    return "u" if k == 1 else f"u^{k}"


def _principle(n: int, has_v: bool) -> str:
    if has_v and n > 1:
        return "Combine the product rule (uv)' = u'v + uv' with the chain rule (u^n)' = n u^(n-1) u'."
    if has_v:
        return "The product rule: (uv)' = u'v + uv'. Differentiate each factor, then evaluate."
    if n > 1:
        return "The chain rule: (u^n)' = n u^(n-1) u', the outer derivative times the inner derivative."
    return "The power rule: the derivative of c x^k is c k x^(k-1), applied term by term."


TASK = Task(
    name="derivatives",
    domain="math",
    verifier="math",
    description="Derivative of a polynomial, product or power evaluated at a point",
    generate=generate,
    solve=solve,
)
