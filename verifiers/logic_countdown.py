"""The countdown checker's expression evaluator: exact, bounded and with no `eval`.

`evaluate(text, numbers)` parses the candidate with `ast` (expression mode) and walks
the tree itself. Only positive integer literals, + - * / and parentheses are allowed
(no unary minus, no powers, no names or calls); each literal must be one of the
given numbers, used at most as many times as it is given; every intermediate result
must be a positive whole number (the puzzle's rule), computed with Fractions. Long
inputs are refused before parsing, so nothing here can run away.
"""

from __future__ import annotations

import ast
import re
from collections import Counter
from fractions import Fraction

MAX_CHARS = 400  # six numbers and five operators with generous spacing and brackets
MAX_LITERAL_DIGITS = 6

_ALLOWED_CHARS = re.compile(r"[0-9+\-*/() \t\n.]*")
_SYMBOLS = {"×": "*", "·": "*", "⋅": "*", "∗": "*", "÷": "/", "−": "-", "–": "-"}
_LATEX = {r"\times": "*", r"\cdot": "*", r"\ast": "*", r"\div": "/", r"\left": "", r"\right": ""}


class Rejected(ValueError):
    """The candidate breaks a rule; the message says which."""


def normalise(text: str) -> str:
    """Spell operators the Python way: LaTeX and unicode symbols, `x` between numbers,
    `\\{ \\}` and `[ ]` as parentheses."""
    for latex, plain in _LATEX.items():
        text = text.replace(latex, plain)
    text = text.replace("{", "(").replace("}", ")").replace("[", "(").replace("]", ")")
    text = re.sub(r"(?<=[\d)])\s*[xX]\s*(?=[\d(])", "*", text)
    return "".join(_SYMBOLS.get(ch, ch) for ch in text)


def split_target(text: str, target: int) -> str:
    """`expr = target` (or `target = expr`) -> expr; a stated result must be the target."""
    if "=" not in text:
        return text
    parts = [p.strip() for p in text.split("=")]
    if len(parts) != 2:
        raise Rejected("more than one '=' in the expression")
    left, right = parts
    for expr, value in ((left, right), (right, left)):
        if re.fullmatch(r"\d+", value):
            if int(value) != target:
                raise Rejected(f"the expression is said to equal {value}, not the target {target}")
            return expr
    raise Rejected("an '=' with no target on either side")


def _value(node: ast.AST, used: list[int]) -> Fraction:
    if isinstance(node, ast.Constant):
        if type(node.value) is not int:  # bool is an int subclass; floats and strings are out
            raise Rejected(f"{node.value!r} is not a whole number")
        if node.value <= 0:
            raise Rejected(f"{node.value} is not one of the given numbers")
        used.append(node.value)
        return Fraction(node.value)
    if isinstance(node, ast.BinOp):
        a, b = _value(node.left, used), _value(node.right, used)
        if isinstance(node.op, ast.Add):
            out = a + b
        elif isinstance(node.op, ast.Sub):
            out = a - b
        elif isinstance(node.op, ast.Mult):
            out = a * b
        elif isinstance(node.op, ast.Div):
            if b == 0:
                raise Rejected("division by zero")
            out = a / b
        else:
            raise Rejected(f"operator {type(node.op).__name__} is not allowed (only + - * /)")
        if out.denominator != 1 or out <= 0:
            raise Rejected(f"intermediate result {out} is not a positive whole number")
        return out
    if isinstance(node, ast.UnaryOp):
        raise Rejected("signs in front of numbers are not allowed")
    raise Rejected(f"{type(node).__name__} is not allowed in the expression")


def evaluate(text: str, numbers: list[int]) -> Fraction:
    """The exact value of a candidate expression, or Rejected with the reason."""
    if len(text) > MAX_CHARS:
        raise Rejected(f"expression longer than {MAX_CHARS} characters")
    if not text.strip():
        raise Rejected("empty expression")
    if not _ALLOWED_CHARS.fullmatch(text):
        bad = sorted({ch for ch in text if not _ALLOWED_CHARS.fullmatch(ch)})[:5]
        raise Rejected(f"characters not allowed in the expression: {''.join(bad)!r}")
    if re.search(rf"\d{{{MAX_LITERAL_DIGITS + 1},}}", text):
        raise Rejected("a number far larger than any given one")
    if "**" in text or "//" in text:
        raise Rejected("only + - * / are allowed")
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except (SyntaxError, ValueError, RecursionError, MemoryError) as exc:
        raise Rejected(f"not an arithmetic expression ({type(exc).__name__})") from None
    leaves = sum(isinstance(n, ast.Constant) for n in ast.walk(tree))
    if leaves > len(numbers):
        raise Rejected(f"uses {leaves} numbers, only {len(numbers)} are given")
    used: list[int] = []
    value = _value(tree.body, used)
    extra = Counter(used) - Counter(numbers)
    if extra:
        n, _ = sorted(extra.items())[0]
        given = Counter(numbers)[n]
        raise Rejected(f"{n} is used more often than given ({given} time{'s' if given != 1 else ''})")
    return value


__all__ = ["Rejected", "evaluate", "normalise", "split_target", "MAX_CHARS"]
