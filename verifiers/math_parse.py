"""Scalar math expressions: LaTeX or plain text -> a small AST, without sympy.

One tokenizer reads both spellings ("\\frac{-9-\\sqrt{73}}{4}", "-9/4 - sqrt(73)/4",
"2\\cdot 3^{2}", "3+4i") and a recursive-descent parser builds tuples:

    ("n", "12")  integer            ("d", "12.75")  decimal (exact)
    ("s", "x")   symbol             ("c", "pi" | "E" | "I" | "oo")
    ("+", a, b)  ("*", a, b)  ("/", a, b)  ("^", a, b)  ("neg", a)  ("!", a)
    ("f", name, arg, ...)           name from FUNCTIONS

Nothing is ever evaluated with eval(): the sympy worker rebuilds an expression from
these tuples through a whitelist. "e" is Euler's number and "i" the imaginary unit,
as in competition answers. The parser refuses deep nesting (MAX_DEPTH) and large
trees (MAX_NODES), so recursion stays bounded; math_eval guards the values.
"""

from __future__ import annotations

import re
from fractions import Fraction

MAX_CHARS = 1000  # longest scalar we parse
MAX_NODES = 400
MAX_DEPTH = 60

FUNCTIONS = {
    "sin", "cos", "tan", "cot", "sec", "csc", "asin", "acos", "atan", "acot", "asec", "acsc",
    "sinh", "cosh", "tanh", "coth", "log", "exp", "sqrt", "root", "abs", "floor", "ceiling",
    "binomial", "sum", "prod",
}  # fmt: skip
MAX_TERMS = 10_000  # longest sum or product with numeric bounds that is added up exactly
_ALIASES = {"arcsin": "asin", "arccos": "acos", "arctan": "atan", "arccot": "acot", "arcsec": "asec",
            "arccsc": "acsc", "ln": "log", "lg": "log10", "ceil": "ceiling", "Abs": "abs"}  # fmt: skip
_PLAIN_NAMES = FUNCTIONS | set(_ALIASES) | {"pi", "oo", "inf", "infty", "infinity", "log10"}
_NAME_SPLIT = re.compile("|".join(sorted(_PLAIN_NAMES, key=len, reverse=True)) + "|[A-Za-z]")
_GREEK = {
    "alpha", "beta", "gamma", "delta", "epsilon", "varepsilon", "zeta", "eta", "theta", "vartheta",
    "iota", "kappa", "lambda", "mu", "nu", "xi", "rho", "sigma", "tau", "upsilon", "phi", "varphi",
    "chi", "psi", "omega", "Gamma", "Delta", "Theta", "Lambda", "Xi", "Sigma", "Phi", "Psi", "Omega",
}  # fmt: skip
_CONSTS = {"pi": "pi", "infty": "oo", "infinity": "oo", "inf": "oo", "oo": "oo", "imath": "I"}
_TIMES = {"cdot", "times", "ast", "*"}
_TOKEN = re.compile(
    r"(?P<ws>\s+)"
    r"|(?P<num>(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+(?![A-Za-z]))?)"
    r"|(?P<cmd>\\[A-Za-z]+|\\.)"
    r"|(?P<name>[A-Za-z]+)"
    r"|(?P<op>\*\*|[-+*/:^_!()\[\]{}|,=])"
)


class ParseError(ValueError):
    """The text is not an expression we read."""


class GuardError(ValueError):
    """The expression is too large or too deep to evaluate safely."""


def tokenize(text: str) -> list[tuple[str, str]]:
    if len(text) > MAX_CHARS:
        raise GuardError(f"expression longer than {MAX_CHARS} characters")
    tokens: list[tuple[str, str]] = []
    pos = 0
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m:
            raise ParseError(f"unexpected character {text[pos]!r}")
        pos = m.end()
        kind = m.lastgroup
        if kind == "ws":
            continue
        if kind == "name":
            tokens.extend(("name", part) for part in _NAME_SPLIT.findall(m.group()))
        elif kind == "cmd":
            tokens.append(("cmd", m.group()[1:]))
        else:
            tokens.append((kind, m.group()))
    return tokens


def parse(text: str) -> tuple:
    """The AST of a scalar expression; raises ParseError or GuardError."""
    parser = _Parser(tokenize(text))
    if not parser.tokens:
        raise ParseError("empty expression")
    node = parser.expr()
    if parser.pos != len(parser.tokens):
        raise ParseError(f"unexpected {parser.tokens[parser.pos][1]!r}")
    return node


class _Parser:
    def __init__(self, tokens: list[tuple[str, str]]):
        self.tokens = tokens
        self.pos = 0
        self.depth = 0
        self.nodes = 0
        self.indices: set[str] = set()

    # -- token helpers -------------------------------------------------------
    def peek(self) -> tuple[str, str] | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def take(self) -> tuple[str, str]:
        tok = self.peek()
        if tok is None:
            raise ParseError("unexpected end")
        self.pos += 1
        return tok

    def at(self, *values: str) -> bool:
        tok = self.peek()
        return tok is not None and tok[0] in ("op", "cmd") and tok[1] in values

    def expect(self, value: str) -> None:
        tok = self.take()
        if tok[1] != value:
            raise ParseError(f"expected {value!r}, got {tok[1]!r}")

    def node(self, *parts) -> tuple:
        self.nodes += 1
        if self.nodes > MAX_NODES:
            raise GuardError(f"expression has more than {MAX_NODES} nodes")
        return parts

    def enter(self) -> None:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise GuardError(f"expression nested deeper than {MAX_DEPTH}")

    # -- grammar ---------------------------------------------------------------
    def expr(self) -> tuple:
        self.enter()
        node = self.term()
        while self.at("+", "-"):
            op = self.take()[1]
            rhs = self.term()
            node = self.node("+", node, rhs if op == "+" else self.node("neg", rhs))
        self.depth -= 1
        return node

    def term(self) -> tuple:
        node = self.unary()
        while True:
            tok = self.peek()
            if tok is None:
                return node
            if tok[1] in _TIMES or tok[1] in ("/", "div", ":"):
                self.take()
                op = "/" if tok[1] in ("/", "div", ":") else "*"  # a ratio 11:21 is 11/21
                node = self.node(op, node, self.unary())
            elif self._starts_atom(tok):
                if tok[0] == "num" and node[0] in ("n", "d"):
                    raise ParseError("two numbers side by side")
                node = self.node("*", node, self.power())
            else:
                return node

    def _starts_atom(self, tok: tuple[str, str]) -> bool:
        kind, value = tok
        if kind in ("num", "name"):
            return True
        if kind == "op":
            return value in ("(", "[", "{")
        return value not in _TIMES and value not in ("div", "rfloor", "rceil", "right", "pm", "mp")

    def unary(self) -> tuple:
        if self.at("-", "+"):
            self.enter()
            op = self.take()[1]
            inner = self.unary()
            self.depth -= 1
            return self.node("neg", inner) if op == "-" else inner
        return self.power()

    def power(self) -> tuple:
        base = self.postfix()
        if self.at("^", "**"):
            self.take()
            self.enter()
            exponent = self.group() if self.at("{") else self.unary()
            self.depth -= 1
            return self.postfix_bang(self.node("^", base, exponent))
        return base

    def postfix(self) -> tuple:
        return self.postfix_bang(self.atom())

    def postfix_bang(self, node: tuple) -> tuple:
        while self.at("!"):
            self.take()
            node = self.node("!", node)
        return node

    def group(self) -> tuple:
        opener = self.take()[1]
        closer = {"(": ")", "[": "]", "{": "}", "|": "|"}[opener]
        inner = self.expr()
        self.expect(closer)
        return self.node("f", "abs", inner) if opener == "|" else inner

    def atom(self) -> tuple:
        tok = self.peek()
        if tok is None:
            raise ParseError("unexpected end")
        kind, value = tok
        if kind == "num":
            self.take()
            return self.number(value)
        if kind == "name":
            self.take()
            return self.name(value)
        if kind == "op" and value in ("(", "[", "{", "|"):
            return self.group()
        if kind == "cmd":
            self.take()
            return self.command(value)
        raise ParseError(f"unexpected {value!r}")

    def number(self, text: str) -> tuple:
        if re.fullmatch(r"\d+", text):
            return self.node("n", str(int(text)))
        mantissa, _, exponent = text.lower().partition("e")
        if exponent and abs(int(exponent)) > 1000:
            raise GuardError("number too large")
        try:
            Fraction(text)
        except (ValueError, ZeroDivisionError):
            raise ParseError(f"bad number {text!r}") from None
        return self.node("d", text)

    def name(self, word: str) -> tuple:
        if word in self.indices:
            return self.node("s", word + self.subscript())
        word = _ALIASES.get(word, word)
        if word in _CONSTS:
            return self.node("c", _CONSTS[word])
        if word == "log10":
            return self.function("log", base=self.node("n", "10"))
        if word in FUNCTIONS:
            return self.function(word)
        if word == "e":
            return self.node("c", "E")
        if word == "i":
            return self.node("c", "I")
        return self.node("s", word + self.subscript())

    def subscript(self) -> str:
        if not self.at("_"):
            return ""
        self.take()
        if self.at("{"):
            self.take()
            parts = []
            while not self.at("}"):
                parts.append(self.take()[1])
                if len(parts) > 20:
                    raise ParseError("subscript too long")
            self.take()
            text = "".join(parts)
        else:
            text = self.take()[1]
        if re.fullmatch(r"[A-Za-z0-9]+", text):
            return "_" + text
        if re.fullmatch(r"[A-Za-z0-9+-]+", text):
            return "_{" + text + "}"  # an indexed name: F_{n-k-1}
        raise ParseError("bad subscript")

    def command(self, cmd: str) -> tuple:
        if cmd in _CONSTS:
            return self.node("c", _CONSTS[cmd])
        if cmd in _GREEK:
            return self.node("s", cmd + self.subscript())
        if cmd in ("frac", "dfrac", "tfrac", "cfrac"):
            return self.node("/", self.argument(), self.argument())
        if cmd in ("sum", "prod"):
            return self.big_operator(cmd)
        if cmd in ("binom", "dbinom", "tbinom"):
            return self.node("f", "binomial", self.argument(), self.argument())
        if cmd == "sqrt":
            if self.at("["):
                self.take()
                index = self.expr()
                self.expect("]")
                return self.node("f", "root", self.argument(), index)
            return self.node("f", "sqrt", self.argument())
        if cmd in ("lfloor", "lceil"):
            inner = self.expr()
            self.expect("r" + cmd[1:])
            return self.node("f", "floor" if cmd == "lfloor" else "ceiling", inner)
        if cmd in ("lvert", "vert", "|"):
            inner = self.expr()
            if not self.at("rvert", "vert", "|"):
                raise ParseError("unclosed |")
            self.take()
            return self.node("f", "abs", inner)
        word = _ALIASES.get(cmd, cmd)
        if word == "log10":
            return self.function("log", base=self.node("n", "10"))
        if word in FUNCTIONS and word not in ("root", "binomial"):
            return self.function(word)
        raise ParseError(f"unsupported command \\{cmd}")

    def big_operator(self, cmd: str) -> tuple:
        """\\sum_{k=1}^{n} body -> ("f", "sum", body, ("s", "k"), lo, hi); the body is the
        product that follows, as in \\sum_{k=1}^{n} k^2 + 1 = (sum of k^2) + 1."""
        self.expect("_")
        braced = self.at("{")
        if braced:
            self.take()
        tok = self.take()
        if tok[0] != "name" or tok[1] in _CONSTS:
            raise ParseError(f"\\{cmd} needs an index: \\{cmd}_{{k=1}}^{{n}}")
        var = self.node("s", tok[1] + self.subscript())
        outer = self.indices
        self.indices = outer | {tok[1]}  # \\prod_{i=1}^{5} i: i is the index here, not the imaginary unit
        self.expect("=")
        lo = self.expr() if braced else self.power()
        if braced:
            self.expect("}")
        self.expect("^")
        hi = self.argument()
        self.enter()
        body = self.term()
        self.depth -= 1
        self.indices = outer  # after the body, i is the imaginary unit again
        return self.node("f", cmd, body, var, lo, hi)

    def argument(self) -> tuple:
        """A braced group, or one character / command (\\frac12, \\sqrt2, \\frac\\pi4)."""
        tok = self.peek()
        if tok is None:
            raise ParseError("missing argument")
        if tok[1] == "{":
            return self.group()
        if tok[0] == "num" and len(tok[1]) > 1:
            self.tokens[self.pos] = ("num", tok[1][1:])
            return self.number(tok[1][0])
        return self.atom()

    def function(self, fname: str, base: tuple | None = None) -> tuple:
        power = None
        if fname == "log" and base is None and self.at("_"):
            self.take()
            tok = self.peek()  # log_{10} arrives as log_10 from clean(): the whole number
            base = self.number(self.take()[1]) if tok and tok[0] == "num" else self.argument()
        if self.at("^"):
            self.take()
            power = self.argument()
        if self.at("(", "{", "["):
            arg = self.group()
        else:
            arg = self.power()
        node = self.node("f", fname, arg) if base is None else self.node("f", "log", arg, base)
        return self.node("^", node, power) if power is not None else node
