"""Elementary number theory: gcd, lcm, number of divisors, remainders, digit sums.

Each problem draws one kind at random and difficulty scales it. gcd and lcm take
larger numbers, three of them at difficulty 5 (Euclid's algorithm, one division per
step, written "84 = 2 * 36 + 12"); divisor counts factor numbers with more and larger
prime powers; remainders go from one division (1) over a product (2) to powers
a^e mod m with growing exponents (3-5, via the cycle of remainders); digit sums
multiply larger factors, three of them at difficulty 5. Answers are integers.
"""

from __future__ import annotations

import math
import random

from datagen.tasks.base import Generated, Solution, Step, Task

_KINDS = ("gcd", "lcm", "divisors", "remainder", "digit_sum")
_PRIMES = (2, 3, 5, 7, 11, 13)
_MODULI = ([3, 4, 6, 7, 8, 9, 11, 12], [6, 7, 8, 9, 11, 13], [5, 7, 11, 13], [11, 13, 17], [17, 19, 23])


def _multiples(rng: random.Random, count: int, hi: int) -> list[int]:
    """`count` distinct numbers up to `hi` sharing a factor, so the gcd is usually
    more than 1 and Euclid's algorithm takes a few steps."""
    g = rng.randint(2, max(2, round(math.sqrt(hi) / 2)))
    while True:
        numbers = [g * rng.randint(2, hi // g) for _ in range(count)]
        if len(set(numbers)) == count:
            return numbers


def _remainder_meta(rng: random.Random, d: int) -> dict:
    m = rng.choice(_MODULI[d - 1])
    if d <= 2:
        factors = [rng.randint(100, 999)] + ([rng.randint(10, 999)] if d == 2 else [])
        return {"factors": factors, "m": m}
    # the moduli from difficulty 3 up are prime, so every base below m has a cycle
    # of powers that returns to 1; above difficulty 3 the base is reduced first
    base = rng.randint(2, m - 1) if d == 3 else rng.choice([b for b in range(m + 2, 9 * m) if b % m > 1])
    exp = rng.randint(*[(10, 60), (100, 999), (1000, 99999)][d - 3])
    return {"base": base, "exp": exp, "m": m}


def _generate_meta(rng: random.Random, kind: str, d: int) -> dict:
    if kind == "gcd":
        return {"numbers": _multiples(rng, 3 if d == 5 else 2, [100, 500, 2000, 10000, 3000][d - 1])}
    if kind == "lcm":
        return {"numbers": _multiples(rng, 3 if d == 5 else 2, [30, 60, 150, 400, 120][d - 1])}
    if kind == "divisors":
        n_primes, max_exp = [(2, 2), (2, 3), (3, 3), (3, 4), (4, 4)][d - 1]
        primes = sorted(rng.sample(_PRIMES[: n_primes + 2], n_primes))
        return {"n": math.prod(p ** rng.randint(1, max_exp) for p in primes)}
    if kind == "remainder":
        return _remainder_meta(rng, d)
    sizes = [(2, 1), (2, 2), (3, 2), (3, 3), (2, 2, 3)][d - 1]
    return {"factors": [rng.randint(10 ** (k - 1) + 1, 10**k - 1) for k in sizes]}


def _listed(numbers: list[int]) -> str:
    return ", ".join(map(str, numbers[:-1])) + f" and {numbers[-1]}"


def _question(meta: dict) -> str:
    kind = meta["kind"]
    if kind == "gcd":
        return f"What is the greatest common divisor of {_listed(meta['numbers'])}?"
    if kind == "lcm":
        return f"What is the least common multiple of {_listed(meta['numbers'])}?"
    if kind == "divisors":
        return f"How many positive divisors does {meta['n']} have?"
    if kind == "remainder":
        if "base" in meta:
            number = f"{meta['base']}^{meta['exp']}"
        else:
            number = " * ".join(map(str, meta["factors"]))
        return f"What is the remainder when {number} is divided by {meta['m']}?"
    return f"What is the sum of the digits of the product {' * '.join(map(str, meta['factors']))}?"


def generate(rng: random.Random, difficulty: int) -> Generated:
    kind = rng.choice(_KINDS)
    meta = {"kind": kind, **_generate_meta(rng, kind, difficulty)}
    prompt = _question(meta)
    return Generated(prompt=prompt, answer=solve(meta).answer, meta=meta)


def _euclid(a: int, b: int, steps: list[Step]) -> int:
    """gcd(a, b) by Euclid's algorithm, one division per step."""
    a, b = max(a, b), min(a, b)
    while b:
        q, r = divmod(a, b)
        after = f"continue with {b} and {r}." if r else f"the greatest common divisor is {b}."
        steps.append(
            Step(
                goal=f"What is the remainder when {a} is divided by {b}?",
                work=f"{a} = {q} * {b} + {r}, so the remainder is {r}; {after}",
            )
        )
        a, b = b, r
    return a


def _solve_gcd(meta: dict, steps: list[Step]) -> int:
    numbers = meta["numbers"]
    g = numbers[0]
    for n in numbers[1:]:
        g = _euclid(g, n, steps)
    return g


def _solve_lcm(meta: dict, steps: list[Step]) -> int:
    numbers = meta["numbers"]
    lcm = numbers[0]
    for n in numbers[1:]:
        g = _euclid(lcm, n, steps)
        product = lcm * n
        steps.append(
            Step(
                goal=f"What is the least common multiple of {lcm} and {n}?",
                work=f"Divide the product by the greatest common divisor: {lcm} * {n} = {product} and {product} / {g} = {product // g}.",
            )
        )
        lcm = product // g
    return lcm


def _solve_divisors(meta: dict, steps: list[Step]) -> int:
    n, exps = meta["n"], {}
    rest = n
    for p in _PRIMES:
        if rest % p:
            continue
        divisions = []
        while rest % p == 0:
            divisions.append(f"{rest} / {p} = {rest // p}")
            rest //= p
            exps[p] = exps.get(p, 0) + 1
        end = "which leaves 1" if rest == 1 else f"and {rest} is not divisible by {p}"
        steps.append(
            Step(
                goal=f"How many times does the prime {p} divide {n}?",
                work=f"{', '.join(divisions)}, {end}, so the exponent of {p} is {exps[p]}.",
            )
        )
    factored = " * ".join(f"{p}^{e}" for p, e in exps.items())
    plus_one = " * ".join(f"({e} + 1)" for e in exps.values())
    count = math.prod(e + 1 for e in exps.values())
    steps.append(
        Step(
            goal="How many divisors follow from the prime factorization?",
            work=f"{n} = {factored}. A divisor picks each exponent from 0 up to its maximum, "
            f"so the count is {plus_one} = {count}.",
        )
    )
    return count


def _division(n: int, m: int) -> str:
    return f"{n} = {n // m} * {m} + {n % m}"


def _solve_remainder(meta: dict, steps: list[Step]) -> int:
    m = meta["m"]
    if "factors" in meta:
        rems = [f % m for f in meta["factors"]]
        reductions = "; ".join(_division(f, m) for f in meta["factors"])
        which = "each number" if len(rems) > 1 else str(meta["factors"][0])
        steps.append(Step(goal=f"What does {which} leave on division by {m}?", work=f"{reductions}."))
        if len(rems) == 1:
            return rems[0]
        product = rems[0] * rems[1]
        steps.append(
            Step(
                goal="What does the product leave?",
                work=f"Remainders multiply: {rems[0]} * {rems[1]} = {product} = "
                f"{product // m} * {m} + {product % m}, so the remainder is {product % m}.",
            )
        )
        return product % m
    return _solve_power(meta["base"], meta["exp"], m, steps)


def _solve_power(base: int, exp: int, m: int, steps: list[Step]) -> int:
    a = base % m
    if base >= m:
        steps.append(
            Step(
                goal=f"What does {base} leave on division by {m}?",
                work=f"{_division(base, m)}, so {base}^{exp} leaves the same remainder as {a}^{exp}.",
            )
        )
    powers, value = [1, a], a
    lines = [f"{a}^1 leaves {a}"]
    while value != 1:
        product = value * a
        value = product % m
        powers.append(value)
        lines.append(f"{a}^{len(powers) - 1}: {powers[-2]} * {a} = {_division(product, m)}")
    cycle = len(powers) - 1
    steps.append(
        Step(
            goal=f"When do the powers of {a} return to remainder 1 modulo {m}?",
            work="; ".join(lines) + f". So the remainders repeat every {cycle} powers.",
        )
    )
    q, r = divmod(exp, cycle)
    steps.append(
        Step(
            goal=f"Which power in the cycle matches the exponent {exp}?",
            work=f"{exp} = {q} * {cycle} + {r}, so {a}^{exp} leaves the same remainder as {a}^{r}, "
            f"which is {powers[r]}.",
        )
    )
    return powers[r]


def _multiply(a: int, b: int) -> str:
    """a * b as a claim, split into place-value parts when b has several digits:
    "347 * 29 = 347 * 20 + 347 * 9 = 6940 + 3123 = 10063"."""
    parts = [int(d) * 10**i for i, d in enumerate(reversed(str(b))) if d != "0"][::-1]
    if len(parts) == 1:
        return f"{a} * {b} = {a * b}"
    split = " + ".join(f"{a} * {p}" for p in parts)
    partial = " + ".join(str(a * p) for p in parts)
    return f"{a} * {b} = {split} = {partial} = {a * b}"


def _solve_digit_sum(meta: dict, steps: list[Step]) -> int:
    product, *rest = meta["factors"]
    for factor in rest:
        steps.append(Step(goal=f"What is {product} * {factor}?", work=f"{_multiply(product, factor)}."))
        product *= factor
    digits = [int(d) for d in str(product)]
    steps.append(
        Step(
            goal=f"What is the sum of the digits of {product}?",
            work=f"{' + '.join(map(str, digits))} = {sum(digits)}.",
        )
    )
    return sum(digits)


_SOLVERS = {
    "gcd": _solve_gcd,
    "lcm": _solve_lcm,
    "divisors": _solve_divisors,
    "remainder": _solve_remainder,
    "digit_sum": _solve_digit_sum,
}
_PRINCIPLES = {
    "gcd": "Euclid's algorithm: gcd(a, b) = gcd(b, a mod b); the last nonzero remainder is the gcd.",
    "lcm": "The least common multiple of two numbers is their product divided by their greatest "
    "common divisor, which Euclid's algorithm finds.",
    "divisors": "Factor the number into primes; if n = p^a * q^b * ..., it has (a + 1)(b + 1)... divisors.",
    "remainder": "Remainders can be reduced at every step: replace each number by its remainder "
    "before multiplying, and for powers use the cycle the remainders repeat in.",
    "digit_sum": "Compute the product exactly, splitting each multiplication by place value, "
    "then add its digits.",
}


def solve(meta: dict) -> Solution:
    steps: list[Step] = []
    answer = _SOLVERS[meta["kind"]](meta, steps)
    return Solution(principle=_PRINCIPLES[meta["kind"]], steps=steps, answer=str(answer))


TASK = Task(
    name="number_theory",
    domain="math",
    verifier="math",
    description="gcd, lcm, divisor counts, remainders and digit sums",
    generate=generate,
    solve=solve,
)
