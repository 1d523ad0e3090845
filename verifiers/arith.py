"""Exact arithmetic over text: tokenize a run of numbers and operators as people
write them (LaTeX, unicode, `$`, thousand separators, percentages) and evaluate it
with Fractions. Used by the step checker (`verifiers/steps.py`).

Refuses what could hang or blow up (long numbers, big exponents, deep nesting,
huge intermediate values) by raising `_Invalid`; nothing is eval'd.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from fractions import Fraction
from math import isqrt

MAX_RUN_TOKENS = 400  # an arithmetic run longer than this is not checked
MAX_DIGITS = 60  # per number literal
MAX_EXPONENT = 256
MAX_BITS = 8_192  # numerator or denominator of any intermediate value
MAX_DEPTH = 30  # parenthesis nesting

# ---------------------------------------------------------------- tokens

_LATEX_SUBS = [
    (re.compile(r"\\(?:left|right|big|Big|bigg|Bigg)(?![A-Za-z])"), ""),
    (re.compile(r"\\(?:times|cdot|ast)(?![A-Za-z])"), " * "),
    (re.compile(r"\\div(?![A-Za-z])"), " / "),
    (re.compile(r"\\(?:approx|neq|ne|leq|geq|le|ge|lt|gt|sim|simeq|equiv|pm|mp)(?![A-Za-z])"), " ≈ "),
    (re.compile(r"\\(?:text|textbf|textit|mathrm|mathbf|mbox|operatorname)\s*\{([^{}]*)\}"), r" \1 "),
    (re.compile(r"\\sqrt(?![A-Za-z])"), " sqrt"),
    (re.compile(r"\\(?:boxed|fbox)\s*(?=\{)"), " "),
    (re.compile(r"\\(?:,|;|:|!| |quad|qquad)"), " "),
    (re.compile(r"\\\\|&"), " "),
    (re.compile(r"\\%"), "%"),
    (re.compile(r"\\\$"), "$"),
    (re.compile(r"\{,\}"), ","),
]
_FRAC = re.compile(r"\\[dt]?frac\s*\{([^{}]*)\}\s*\{([^{}]*)\}")
_FRAC_DIGITS = re.compile(r"\\[dt]?frac\s*(\d)\s*(\d)")
_UNICODE = str.maketrans(
    {
        "−": "-",
        "–": "-",  # an en dash between numbers in a claim is a minus sign ("22 – 7 = 15")
        "×": "*",
        "·": "*",
        "⋅": "*",
        "∗": "*",
        "÷": "/",
        "＝": "=",
        "√": " sqrt ",
        "\u00a0": " ",
        "\u202f": " ",
        "$": " ",
        "{": "(",
        "}": ")",
        "[": "(",
        "]": ")",
    }
)
_POWER_STARS = re.compile(r"(?<=[\d)])[ \t]*\*\*[ \t]*(?=[\d(-])")
_PERCENT_OF = re.compile(r"%\s*of(?=\s*[\d(.])", re.IGNORECASE)
_PERCENT_WORD = re.compile(r"(?<=\d)\s*(?:percent|per\s+cent)\b", re.IGNORECASE)


_VULGAR = {"¼": "1/4", "½": "1/2", "¾": "3/4", "⅓": "1/3", "⅔": "2/3", "⅕": "1/5", "⅖": "2/5", "⅗": "3/5",
           "⅘": "4/5", "⅙": "1/6", "⅚": "5/6", "⅛": "1/8", "⅜": "3/8", "⅝": "5/8", "⅞": "7/8"}  # fmt: skip
_MIXED_VULGAR = re.compile(r"(\d+)\s*([" + "".join(_VULGAR) + "])")
_LONE_VULGAR = re.compile("[" + "".join(_VULGAR) + "]")


def _prepare(text: str) -> str:
    for _ in range(8):  # nested \frac, innermost first
        new = _FRAC.sub(r"((\1)/(\2))", text)
        if new == text:
            break
        text = new
    text = _FRAC_DIGITS.sub(r"(\1/\2)", text)
    for pattern, repl in _LATEX_SUBS:
        text = pattern.sub(repl, text)
    text = _POWER_STARS.sub("^", text)  # 2 ** 10; any other ** is markdown bold
    text = text.replace("**", " ").replace("__", " ")
    text = text.replace("²", "^2").replace("³", "^3")
    if any(ch in text for ch in _VULGAR):  # 1½ = 1 + 1/2, ¾ = 3/4
        text = _MIXED_VULGAR.sub(lambda m: f"({m.group(1)} + {_VULGAR[m.group(2)]})", text)
        text = _LONE_VULGAR.sub(lambda m: f"({_VULGAR[m.group()]})", text)
    text = _PERCENT_WORD.sub("%", text)
    text = _PERCENT_OF.sub("% *", text)
    return text.translate(_UNICODE)


_TOKEN = re.compile(
    r"""
    (?P<times>(?<=[\d)])[ \t]*[xX×][ \t]*(?=[\d(]|\.\d))         # 3 x 4, (2)x(3): multiplication
  | (?P<ws>\s+)
  | (?P<num>(?:\d{1,3}(?:,\d{3})+(?!\d)|\d+)(?:\.\d+)?|\.\d+)
  | (?P<op>\*\*|[-+*/^])
  | (?P<cmp>[<>!]=|=>|==|[<>≈≠≤≥~])
  | (?P<eq>=)
  | (?P<lp>\()
  | (?P<rp>\))
  | (?P<pct>%)
  | (?P<word>[^\W\d][\w']*)
  | (?P<other>.)
    """,
    re.VERBOSE,
)

# words that make the number after them part of a larger phrase ("twice 15 = 30",
# "15 pages x 1/3 = 5"); after the soft ones only a lone number is taken that way
# ("the sum of 3 and 4 = 7", but "3 * 2 = 6 and 7 * 5 = 35")
_WORD_OPS_BEFORE = {
    "times", "x", "plus", "minus", "over", "per", "half", "twice", "double", "triple", "thrice",
    "third", "thirds", "quarter", "quarters", "fourth", "fourths", "fifth", "fifths", "sixth",
    "sixths", "tenth", "tenths", "percent", "root", "sqrt", "divided", "multiplied", "less",
    "squared", "cubed",
}  # fmt: skip
_SOFT_WORD_OPS_BEFORE = {"of", "and", "to", "from", "than", "into", "by", "with"}
_WORD_OPS_AFTER = {"times", "squared", "cubed", "plus", "minus", "divided", "multiplied", "over"}
_VARIABLE = re.compile(r"[^\W\d_]'*")  # x, u, v'
_SAFE_BEFORE = set(':;,"(')  # may touch the first number of a claim
_SAFE_AFTER = set(':;,."!?)')  # may touch the last number of a claim


@dataclass
class Tok:
    kind: str
    text: str
    start: int
    end: int
    spaced: bool  # whitespace before it


def tokenize(text: str) -> list[Tok]:
    toks: list[Tok] = []
    spaced = True
    for m in _TOKEN.finditer(text):
        kind = m.lastgroup
        if kind == "ws":
            spaced = True
            continue
        if kind == "times":
            kind, tok_text = "op", "*"
        elif kind == "word" and m.group().lower() == "sqrt":
            kind, tok_text = "func", "sqrt"
        else:
            tok_text = m.group()
        toks.append(Tok(kind, tok_text, m.start(), m.end(), spaced))
        spaced = False
    return toks


# ---------------------------------------------------------------- exact evaluation


class _Invalid(Exception):
    """Not a numeric expression (or one we refuse to evaluate)."""


class _Ambiguous(Exception):
    """A percentage mixed with plain numbers: no single reading."""


@dataclass(frozen=True)
class Val:
    x: Fraction
    pct: bool = False  # written as a percentage (and already divided by 100)


def _bounded(x: Fraction) -> Fraction:
    if x.numerator.bit_length() > MAX_BITS or x.denominator.bit_length() > MAX_BITS:
        raise _Invalid("value too large")
    return x


def _literal(text: str) -> Fraction:
    digits = text.replace(",", "")
    if sum(ch.isdigit() for ch in digits) > MAX_DIGITS:
        raise _Invalid("number too long")
    return Fraction(digits)


class _Parser:
    """Recursive descent over the tokens of one side of a claim."""

    def __init__(self, toks: list[Tok]):
        self.toks = toks
        self.i = 0

    def peek(self) -> Tok | None:
        return self.toks[self.i] if self.i < len(self.toks) else None

    def take(self) -> Tok:
        tok = self.peek()
        if tok is None:
            raise _Invalid("unexpected end")
        self.i += 1
        return tok

    def parse(self) -> Val:
        if not self.toks:
            raise _Invalid("empty")
        value = self.expr()
        if self.i != len(self.toks):
            raise _Invalid("trailing tokens")
        return value

    def expr(self) -> Val:
        value = self.term()
        while (tok := self.peek()) is not None and tok.kind == "op" and tok.text in "+-":
            self.take()
            right = self.term()
            if value.pct != right.pct:
                raise _Ambiguous("percentage added to a plain number")
            x = value.x + right.x if tok.text == "+" else value.x - right.x
            value = Val(_bounded(x), value.pct)
        return value

    def term(self) -> Val:
        value = self.unary()
        while (tok := self.peek()) is not None:
            if tok.kind == "op" and tok.text in ("*", "/"):
                self.take()
                right = self.unary()
            elif tok.kind in ("lp", "func"):  # implicit multiplication: 3(4 + 5)
                right = self.unary()
            else:
                break
            if tok.text == "/":
                if right.x == 0:
                    raise _Invalid("division by zero")
                value = Val(_bounded(value.x / right.x))
            else:
                value = Val(_bounded(value.x * right.x))
        return value

    def unary(self) -> Val:
        tok = self.peek()
        if tok is not None and tok.kind == "op" and tok.text in "+-":
            self.take()
            inner = self.unary()
            return Val(-inner.x, inner.pct) if tok.text == "-" else inner
        return self.power()

    def power(self) -> Val:
        base = self.postfix()
        tok = self.peek()
        if tok is None or tok.kind != "op" or tok.text not in ("^", "**"):
            return base
        self.take()
        exp = self.unary()
        if exp.pct or base.pct or exp.x.denominator != 1 or abs(exp.x) > MAX_EXPONENT:
            raise _Invalid("exponent refused")
        e = int(exp.x)
        b = base.x
        if b == 0 and e < 0:
            raise _Invalid("division by zero")
        if max(b.numerator.bit_length(), b.denominator.bit_length()) * abs(e) > MAX_BITS:
            raise _Invalid("power too large")
        return Val(b**e)

    def postfix(self) -> Val:
        value = self.primary()
        tok = self.peek()
        if tok is not None and tok.kind == "pct":
            self.take()
            if value.pct:
                raise _Invalid("double percent")
            return Val(value.x / 100, True)
        return value

    def primary(self) -> Val:
        tok = self.take()
        if tok.kind == "num":
            return Val(_literal(tok.text))
        if tok.kind == "lp":
            value = self.expr()
            close = self.take()
            if close.kind != "rp":
                raise _Invalid("unbalanced parentheses")
            return value
        if tok.kind == "func":  # sqrt: exact for perfect squares only
            arg = self.primary()
            x = arg.x
            if x < 0:
                raise _Invalid("sqrt of a negative number")
            root_n, root_d = _isqrt(x.numerator), _isqrt(x.denominator)
            if root_n is None or root_d is None:
                raise _Invalid("irrational square root")
            return Val(Fraction(root_n, root_d))
        raise _Invalid(f"unexpected {tok.text!r}")


def _isqrt(n: int) -> int | None:
    r = isqrt(n)
    return r if r * r == n else None


def evaluate(toks: list[Tok]) -> Val:
    depth = 0
    for tok in toks:
        depth += tok.kind == "lp"
        depth -= tok.kind == "rp"
        if depth > MAX_DEPTH:
            raise _Invalid("too deeply nested")
    return _Parser(toks).parse()
