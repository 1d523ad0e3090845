"""SAT: find the one assignment of x1..xn that satisfies a small CNF formula.

Clauses are drawn true for a hidden assignment and added until that assignment is
the only model (checked exactly over all 2^n assignments with bitmasks) and unit
propagation plus one-level case analysis finds it; clauses that are not needed are
then dropped. Difficulty sets the variables (3, 4, 5, 6, 8) and the clause width
(2-literal at 1-2, then more and more 3-literal clauses).
"""

from __future__ import annotations

import random

from datagen.tasks.base import Generated, Solution, Step, Task

# difficulty -> (variables, clause widths to draw from). Some 2-literal clauses are
# always needed: with 3-literal clauses only, one assumed value never leaves a unit
# clause, so no single case split could reach a contradiction.
_LEVELS = {1: (3, (2,)), 2: (4, (2,)), 3: (5, (2, 3)), 4: (6, (2, 3, 3)), 5: (8, (2, 3, 3))}


def lit_text(lit: int) -> str:
    return f"x{lit}" if lit > 0 else f"NOT x{-lit}"


def clause_text(clause: list[int]) -> str:
    return " OR ".join(lit_text(lit) for lit in clause)


def satisfies(clause: list[int], values: dict[int, bool]) -> bool:
    return any(values[abs(lit)] == (lit > 0) for lit in clause)


def format_answer(values: dict[int, bool]) -> str:
    return ", ".join(f"x{v}={'T' if values[v] else 'F'}" for v in sorted(values))


def _models_mask(clause: list[int], n: int) -> int:
    """Bit a of the result is set when assignment a (bit v-1 = xv) satisfies the clause."""
    mask = 0
    for a in range(1 << n):
        if any(((a >> (abs(lit) - 1)) & 1) == (lit > 0) for lit in clause):
            mask |= 1 << a
    return mask


def _count(masks: list[int], n: int) -> int:
    both = (1 << (1 << n)) - 1
    for m in masks:
        both &= m
    return bin(both).count("1")


def _unit(clauses: list[list[int]], values: dict[int, bool]):
    """Unit propagation. Returns ((variable, sentence) per forced value, contradiction or None)."""
    found: list[tuple[int, str]] = []
    progress = True
    while progress:
        progress = False
        for i, clause in enumerate(clauses):
            if satisfies_known(clause, values):
                continue
            open_lits = [lit for lit in clause if abs(lit) not in values]
            false = [lit_text(lit) for lit in clause if abs(lit) in values]
            if not open_lits:
                return (
                    found,
                    f"Clause {i + 1} ({clause_text(clause)}) now has every literal false: a contradiction.",
                )
            if len(open_lits) == 1:
                lit = open_lits[0]
                values[abs(lit)] = lit > 0
                found.append(
                    (
                        abs(lit),
                        f"In clause {i + 1} ({clause_text(clause)}), {' and '.join(false)} "
                        f"{'is' if len(false) == 1 else 'are'} false, so {lit_text(lit)} must be true: "
                        f"x{abs(lit)}={'T' if lit > 0 else 'F'}.",
                    )
                )
                progress = True
    return found, None


def satisfies_known(clause: list[int], values: dict[int, bool]) -> bool:
    return any(abs(lit) in values and values[abs(lit)] == (lit > 0) for lit in clause)


def _case(clauses: list[list[int]], values: dict[int, bool], n: int):
    """A variable whose value leads to a contradiction, as (var, other value, Step)."""
    for v in range(1, n + 1):
        if v in values:
            continue
        for guess in (True, False):
            trial = {**values, v: guess}
            found, clash = _unit(clauses, trial)
            if clash:
                g = "T" if guess else "F"
                other = "F" if guess else "T"
                work = " ".join([f"Suppose x{v}={g}.", *(t for _, t in found), clash, f"So x{v}={other}."])
                return v, not guess, Step(goal=f"Can x{v} be {g}?", work=work)
    return None


def deduce(clauses: list[list[int]], n: int) -> tuple[list[Step], dict[int, bool]] | None:
    """Unit propagation with one-level case analysis; None if that is not enough."""
    values: dict[int, bool] = {}
    steps: list[Step] = []
    while True:
        found, clash = _unit(clauses, values)
        if clash:
            return None
        steps += [Step(goal=f"What must x{var} be?", work=sentence) for var, sentence in found]
        if len(values) == n:
            return steps, values
        case = _case(clauses, values, n)
        if case is None:
            return None
        var, value, step = case
        values[var] = value
        steps.append(step)


def _random_clause(rng: random.Random, hidden: dict[int, bool], width: int) -> list[int]:
    """A random clause of distinct variables, with one literal made true for `hidden`."""
    variables = sorted(rng.sample(list(hidden), width))
    clause = [v if rng.random() < 0.5 else -v for v in variables]
    if not satisfies(clause, hidden):
        k = rng.randrange(width)
        clause[k] = -clause[k]
    return clause


def _formula(rng: random.Random, n: int, widths: tuple[int, ...]) -> tuple[list[list[int]], dict[int, bool]]:
    while True:  # a fresh hidden assignment if the draws stall (never seen in practice)
        hidden = {v: rng.random() < 0.5 for v in range(1, n + 1)}
        clauses: list[list[int]] = []
        masks: list[int] = []
        for _ in range(40 * n):
            if _count(masks, n) == 1 and deduce(clauses, n) is not None:
                return _prune(rng, clauses, masks, n), hidden
            clause = _random_clause(rng, hidden, rng.choice(widths))
            if clause not in clauses:
                clauses.append(clause)
                masks.append(_models_mask(clause, n))


def _prune(rng: random.Random, clauses: list[list[int]], masks: list[int], n: int) -> list[list[int]]:
    """Drop clauses that the unique, deducible answer does not need."""
    for clause in rng.sample(clauses, len(clauses)):
        i = clauses.index(clause)
        rest, rest_masks = clauses[:i] + clauses[i + 1 :], masks[:i] + masks[i + 1 :]
        if _count(rest_masks, n) == 1 and deduce(rest, n) is not None:
            clauses, masks = rest, rest_masks
    return clauses


def generate(rng: random.Random, difficulty: int) -> Generated:
    n, widths = _LEVELS[difficulty]
    clauses, hidden = _formula(rng, n, widths)
    prompt = "\n".join(
        [
            f"Find an assignment of true (T) or false (F) to the variables x1 to x{n} that makes every "
            'clause below true. A clause is true when at least one of its literals is true ("NOT x" is '
            "true when x is false). Exactly one assignment works.",
            *(f"{i + 1}. {clause_text(c)}" for i, c in enumerate(clauses)),
            f'Give your answer as "{format_answer({v: True for v in range(1, n + 1)}).replace("T", "<T or F>")}" '
            "listing every variable in order.",
        ]
    )
    meta = {"n": n, "clauses": clauses, "solution": {f"x{v}": hidden[v] for v in range(1, n + 1)}}
    return Generated(prompt=prompt, answer=format_answer(hidden), meta=meta)


def solve(meta: dict) -> Solution:
    result = deduce(meta["clauses"], meta["n"])
    assert result is not None, "generated formulas are deducible"
    steps, values = result
    answer = format_answer(values)
    steps.append(Step(goal="What is the full assignment?", work=f"Collecting the values: {answer}."))
    return Solution(
        principle="A clause with all literals but one false forces the last one true; propagate such "
        "forced values, and when none is left, assume a value and see whether some clause breaks.",
        steps=steps,
        answer=answer,
    )


def corrupt(meta: dict, solution: Solution, rng: random.Random) -> tuple[Solution, str]:
    """Flip one variable: with a unique model, some clause is then violated."""
    values = {int(k[1:]): v for k, v in meta["solution"].items()}
    flip = rng.choice(sorted(values))
    values[flip] = not values[flip]
    answer = format_answer(values)
    steps = list(solution.steps[:-1])
    steps.append(Step(goal="What is the full assignment?", work=f"Collecting the values: {answer}."))
    return Solution(solution.principle, steps, answer), "wrong_final"


TASK = Task(
    name="sat_assignment",
    domain="logic",
    verifier="logic.sat_assignment",
    description="Find the unique satisfying assignment of a small CNF formula",
    generate=generate,
    solve=solve,
    corrupt=corrupt,
)
