"""Countdown numbers: reach a target from given numbers with + - * /.

Each number may be used at most once and every intermediate result must be a
positive integer. Many expressions can be right; the reference answer is the one
the generator built, and a checker evaluates any candidate. Difficulty sets how
many numbers are given (3..6), whether large numbers (25, 50, 75, 100) appear, how
many of them the reference uses and how big the target is.
"""

from __future__ import annotations

import random
from fractions import Fraction

from datagen.tasks.base import Generated, Solution, Step, Task

_SMALL = list(range(1, 11)) * 2
_LARGE = [25, 50, 75, 100]
# difficulty -> (numbers given, most large numbers, fewest numbers used, target range)
_LEVELS = {
    1: (3, 0, 2, (10, 60)),
    2: (4, 1, 3, (20, 150)),
    3: (5, 1, 3, (50, 400)),
    4: (5, 2, 4, (100, 999)),
    5: (6, 2, 5, (100, 999)),
}
_PREC = {"+": 1, "-": 1, "*": 2, "/": 2}


def apply(a: Fraction, op: str, b: Fraction) -> Fraction | None:
    """Exact result, or None where the rules forbid it (zero divisor)."""
    if op == "+":
        return a + b
    if op == "-":
        return a - b
    if op == "*":
        return a * b
    return a / b if b else None


def _ops(a: int, b: int) -> list[str]:
    """The operations a player would consider: no negatives, no fractions, no x1 or /1."""
    ops = ["+"]
    if a > b:
        ops.append("-")
    if a > 1 and b > 1:
        ops.append("*")
    if b > 1 and a % b == 0:
        ops.append("/")
    return ops


def render(node) -> str:
    """Infix text with only the parentheses the precedence rules need."""
    if isinstance(node, int):
        return str(node)
    left, op, right = node
    lt, rt = render(left), render(right)
    if not isinstance(left, int) and _PREC[left[1]] < _PREC[op]:
        lt = f"({lt})"
    # a - (b + c) and a / (b * c) need them; so do a + (b - c) and a * (b / c), kept for clarity
    if not isinstance(right, int) and (
        _PREC[right[1]] < _PREC[op] or (_PREC[right[1]] == _PREC[op] and (op in "-/" or right[1] in "-/"))
    ):
        rt = f"({rt})"
    return f"{lt} {op} {rt}"


def evaluate(node, steps: list[Step] | None = None) -> Fraction | None:
    """The value of a tree, or None if some intermediate result is not a positive whole
    number; appends one `a op b = c` step per operation when asked."""
    if isinstance(node, int):
        return Fraction(node)
    left, op, right = node
    a, b = evaluate(left, steps), evaluate(right, steps)
    if a is None or b is None:
        return None
    value = apply(a, op, b)
    if value is None or value <= 0 or value.denominator != 1:
        return None
    if steps is not None:
        steps.append(Step(goal=f"How do we make {value} from {a} and {b}?", work=f"{a} {op} {b} = {value}."))
    return value


def leaves(node) -> list[int]:
    return [node] if isinstance(node, int) else leaves(node[0]) + leaves(node[2])


def _build(rng: random.Random, numbers: list[int], used: int) -> list:
    """Combine `used` of the numbers pairwise at random, like a player would."""
    pool: list = rng.sample(numbers, used)
    while len(pool) > 1:
        x, y = pool.pop(rng.randrange(len(pool))), pool.pop(rng.randrange(len(pool)))
        vx, vy = int(evaluate(x)), int(evaluate(y))
        if vx < vy:
            x, y, vx, vy = y, x, vy, vx
        op = rng.choice(_ops(vx, vy))
        pool.append([x, op, y])
    return pool[0]


def generate(rng: random.Random, difficulty: int) -> Generated:
    count, max_large, min_used, (lo, hi) = _LEVELS[difficulty]
    while True:
        n_large = rng.randint(0, max_large)
        numbers = sorted(rng.sample(_LARGE, n_large) + rng.sample(_SMALL, count - n_large))
        tree = _build(rng, numbers, rng.randint(min_used, count))
        target = evaluate(tree)
        # a target equal to a given number would need no work at all
        if lo <= target <= hi and target not in numbers:
            break
    target = int(target)
    expression = render(tree)
    prompt = (
        f"Using the numbers {', '.join(map(str, numbers))}, make {target}. You may use + - * / and "
        "parentheses; each number can be used at most once (you need not use them all), and every "
        "intermediate result must be a positive whole number.\n"
        'Give your answer as a single expression, e.g. "(25 - 5) * 4 + 7".'
    )
    meta = {"numbers": numbers, "target": target, "tree": tree, "expression": expression}
    return Generated(prompt=prompt, answer=expression, meta=meta)


def solve(meta: dict) -> Solution:
    steps: list[Step] = []
    evaluate(meta["tree"], steps)
    used = ", ".join(map(str, sorted(leaves(meta["tree"]))))
    steps.append(
        Step(
            goal=f"Which expression reaches {meta['target']}?",
            work=f"Writing the operations as one expression gives {meta['expression']}; it uses {used} "
            f"(each at most once) and its value is the target {meta['target']}.",
        )
    )
    return Solution(
        principle="Look for two values whose sum, difference, product or quotient lands on the target, "
        "and build each of them from the remaining numbers, one exact operation at a time.",
        steps=steps,
        answer=meta["expression"],
    )


def _nodes(node, path=()):
    """Paths to every operation node, outermost first."""
    if isinstance(node, int):
        return []
    return [path] + _nodes(node[0], path + (0,)) + _nodes(node[2], path + (2,))


def _with_op(node, path, op):
    if not path:
        return [node[0], op, node[2]]
    copy = list(node)
    copy[path[0]] = _with_op(node[path[0]], path[1:], op)
    return copy


def corrupt(meta: dict, solution: Solution, rng: random.Random) -> tuple[Solution, str]:
    """Swap one operator for another: the arithmetic stays right, the target is missed."""
    tree, target = meta["tree"], meta["target"]
    options = [(p, op) for p in _nodes(tree) for op in "+-*/"]
    rng.shuffle(options)
    for path, op in options:
        wrong = _with_op(tree, path, op)
        steps: list[Step] = []
        value = evaluate(wrong, steps)
        if value is not None and value != target:
            break
    else:  # unreachable in practice: a lone "+" node over two numbers always has a valid swap
        raise ValueError("no valid operator swap")
    expression = render(wrong)
    steps.append(
        Step(
            goal=f"Which expression reaches {target}?",
            work=f"Writing the operations as one expression gives {expression}.",
        )
    )
    return Solution(solution.principle, steps, expression), "wrong_intermediate"


TASK = Task(
    name="countdown",
    domain="logic",
    verifier="logic.countdown",
    description="Countdown numbers game: reach a target with + - * / using each number once",
    generate=generate,
    solve=solve,
    corrupt=corrupt,
)
