"""Multi-step integer arithmetic: evaluate an expression with + - * and parentheses.

Difficulty sets the number of operations (2..6) and the size of the operands.
The solver evaluates innermost operations first, one claim `a op b = c` per step.
"""

from __future__ import annotations

import random

from datagen.tasks.base import Generated, Solution, Step, Task

_OPS = ["+", "-", "*"]


def _build(rng: random.Random, n_ops: int, hi: int) -> list:
    """A random binary expression tree as nested lists [left, op, right]."""
    node: list | int = rng.randint(1, hi)
    for _ in range(n_ops):
        op = rng.choice(_OPS)
        # keep products small enough to do by hand
        operand = rng.randint(2, 12) if op == "*" else rng.randint(1, hi)
        node = [node, op, operand] if rng.random() < 0.5 else [operand, op, node]
    return node


def _render(node) -> str:
    if isinstance(node, int):
        return str(node)
    left, op, right = node
    return f"({_render(left)} {op} {_render(right)})"


def _strip_outer(text: str) -> str:
    return text[1:-1] if text.startswith("(") and text.endswith(")") else text


def _apply(a: int, op: str, b: int) -> int:
    return a + b if op == "+" else a - b if op == "-" else a * b


def generate(rng: random.Random, difficulty: int) -> Generated:
    n_ops = difficulty + 1
    hi = [10, 20, 50, 100, 500][difficulty - 1]
    tree = _build(rng, n_ops, hi)
    expr = _strip_outer(_render(tree))
    meta = {"tree": tree, "expression": expr}
    return Generated(
        prompt=f"Evaluate the expression {expr}.",
        answer=str(_evaluate(tree, [])),
        meta=meta,
    )


def _evaluate(node, steps: list[Step]) -> int:
    if isinstance(node, int):
        return node
    left, op, right = node
    a = _evaluate(left, steps)
    b = _evaluate(right, steps)
    value = _apply(a, op, b)
    a_txt = f"({a})" if a < 0 else str(a)
    b_txt = f"({b})" if b < 0 else str(b)
    steps.append(
        Step(
            goal=f"What is {_strip_outer(_render(node))}?",
            work=f"{a_txt} {op} {b_txt} = {value}.",
        )
    )
    return value


def solve(meta: dict) -> Solution:
    steps: list[Step] = []
    value = _evaluate(meta["tree"], steps)
    return Solution(
        principle="Evaluate the innermost parentheses first, one operation at a time, "
        "and carry each result outwards.",
        steps=steps,
        answer=str(value),
    )


TASK = Task(
    name="arithmetic",
    domain="math",
    verifier="math",
    description="Multi-step integer arithmetic with parentheses",
    generate=generate,
    solve=solve,
)
