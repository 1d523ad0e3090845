"""Answer text -> a small structure the comparison walks (no sympy here).

`clean` rewrites the LaTeX that does not change a value: math delimiters, \\left /
\\right, spacing commands, \\text{} / \\mbox{} wrappers, \\dfrac, currency signs,
degree and percent signs (kept as one-character markers), set braces, relation
commands. `parse_answer` then reads the top level:

    matrix            \\begin{pmatrix} 1 & 2 \\\\ 3 & 4 \\end{pmatrix}
    Union             A \\cup B
    Seq("list")       a bare comma list "-2, 3"               (unordered: roots)
    Eq                x = 3,  y = 2x + 1,  (x, y) = (8, 2)
    Seq("tuple")      (8, 2), [-2, 7), (-\\infty, 3]           (ordered; brackets kept)
    Seq("set")        \\{1, 2\\}, \\emptyset                     (unordered)
    interval          from an inequality: -2 <= x < 7 -> [-2, 7)
    Text              a word answer: \\text{odd}, Sunday
    Leaf              one scalar, parsed by math_parse (units stripped, mixed numbers)

Integers with separators (1,000 / 1 000 / 1{,}000) are one number, not a list.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from fractions import Fraction
from functools import lru_cache

from verifiers.math_eval import analyse
from verifiers.math_parse import MAX_DEPTH, GuardError, ParseError, parse

# one-character markers that clean() leaves for the structure parser
SET_OPEN, SET_CLOSE = "\x01", "\x02"  # \{ \}
EMPTY, UNION, MEMBER, PM, DEG, APPROX = "\u2205", "\u222a", "\u2208", "\u00b1", "\u00b0", "\u2248"


@dataclass(frozen=True)
class Leaf:
    text: str
    ast: tuple | None = None
    value: Fraction | None = None  # exact rational value, when there is one
    error: str | None = None  # why there is no ast
    pct: bool = False


@dataclass(frozen=True)
class Seq:
    kind: str  # "list" | "tuple" | "set" | "matrix"
    items: tuple
    left: str = ""
    right: str = ""


@dataclass(frozen=True)
class Eq:
    sides: tuple


@dataclass(frozen=True)
class Union:
    items: tuple


@dataclass(frozen=True)
class Text:
    word: str


Node = Leaf | Seq | Eq | Union | Text

_UNICODE = str.maketrans({
    "\u2212": "-", "\u2013": "-", "\u00d7": r"\times ", "\u00b7": r"\cdot ", "\u22c5": r"\cdot ",
    "\u00f7": "/", "\u03c0": r"\pi ", "\u221e": r"\infty ", "\u2264": "<=", "\u2265": ">=",
    "\u2260": "!=", "\u222a": UNION, "\u221a": "sqrt", "\u2205": EMPTY, "\u2009": " ",
    "\u00a0": " ", "\u202f": " ", "\u00b0": DEG, "\u00b1": PM, "\u2208": MEMBER, "\u2248": APPROX,
})  # fmt: skip
_WRAPPERS = re.compile(
    r"\\(?:text|textbf|textit|textrm|textsf|textnormal|mathrm|mathbf|mathit|mathsf|mathtt|mbox|hbox"
    r"|operatorname|boxed|fbox|emph|bm|boldsymbol|displaystyle|textstyle)\b\s*\{?"
)
_B = ("\\",)
_SUBS = [  # (substrings of which one must occur, pattern, replacement)
    (("\\\\",), re.compile(r"\\\\(?=[A-Za-z])(?!hline)"), r"\\"),  # \\frac: LaTeX escaped twice (JSON)
    (_B, re.compile(r"(?<!\\)\\(?=\d)"), ""),  # "\\10": a stray backslash (no command starts with a digit)
    (("\\!",), re.compile(r"(?<=\d),\\!\s*(?=\d{3})"), ","),  # 32,\! 349: a thousands separator
    (_B, re.compile(r"\\(?:left|right|[bB]igg?[lr]?)\s*\."), ""),
    (_B, re.compile(r"\\(?:left|right|[bB]igg?[lr]?)(?![A-Za-z])\s*"), ""),
    (_B, re.compile(r"(?<!\\)\\!"), ""),
    (("\\", "~"), re.compile(r"(?<!\\)\\[,;: ]|\\q?quad|~"), " "),  # \quadx (a typo) too
    (("_{",), re.compile(r"_\{(\w+)\}"), r"_\1"),
    (("{",), re.compile(r"\s*\{\s*,\s*\}\s*"), ","),  # 14{,}916, 14 {, }916
    (("frac",), re.compile(r"\\[dtc]frac\b"), r"\\frac"),
    (_B, re.compile(r"\^\s*\{\s*\\circ\s*\}|\^\s*\\circ\b|\\circ\b|\\degree\b|\\textdegree\b"), DEG),
    (("degree",), re.compile(r"\bdegrees?\b"), DEG),
    (("%",), re.compile(r"\\?%"), "%"),
    (("percent",), re.compile(r"\bpercent\b"), "%"),
    (("$",), re.compile(r"\\\$|\$"), ""),
    (_B, re.compile(r"\\\{\s*\\\}|\\emptyset\b|\\varnothing\b"), EMPTY),
    (_B, re.compile(r"\\\{|\\lbrace\b"), SET_OPEN),
    (_B, re.compile(r"\\\}|\\rbrace\b"), SET_CLOSE),
    (_B, re.compile(r"\\langle\b"), "("),
    (_B, re.compile(r"\\rangle\b"), ")"),
    (_B, re.compile(r"\\(?:leq?|leqslant)(?![A-Za-z])"), "<="),
    (_B, re.compile(r"\\(?:geq?|geqslant)(?![A-Za-z])"), ">="),
    (_B, re.compile(r"\\lt(?![A-Za-z])"), "<"),
    (_B, re.compile(r"\\gt(?![A-Za-z])"), ">"),
    (_B, re.compile(r"\\neq?(?![A-Za-z])"), "!="),
    (_B, re.compile(r"\\(?:approx|simeq|thickapprox)(?![A-Za-z])"), APPROX),
    (_B, re.compile(r"\\cup\b"), UNION),
    (("U",), re.compile(r"(?<=[)\]])\s*U\s*(?=[(\[])"), UNION),
    (_B, re.compile(r"\\in\b"), MEMBER),
    (("\\pm", "+/-"), re.compile(r"\\pm\b|\+/-"), PM),
    (_B, re.compile(r"\\(?:dots|ldots|cdots)\b"), "..."),
    (
        ("\\R", "\\mathbb", "real"),
        re.compile(r"\\mathbb\s*\{?R\}?|\\R\b|\ball real numbers\b"),
        lambda m: "(-\\infty,\\infty)",
    ),
    (("or",), re.compile(r"(?<=[)\]])\s*or\s*(?=[(\[])"), ", "),  # (11,7)or(7,11)
    (("and", "or"), re.compile(r"\s+\b(?:and|or)\b\s+|^\s*(?:and|or)\s+"), ", "),
    ((",",), re.compile(r",(?:\s*,)+"), ","),  # "19, 46, and 82" -> "19, 46, , 82" -> "19, 46, 82"
]
_PLAIN = re.compile(r"-?\d+(?:\.\d+)?")
_THOUSANDS = re.compile(r"^[+-]?\d{1,3}(?:(?:,\d{3})+|(?: \d{3})+)(?:\.\d+)?$")
_DECIMAL_COMMA = re.compile(r"^[+-]?\d+,\d+$")
_MATRIX = re.compile(r"^\\begin\{([pbBvV]?matrix|array)\}(?:\{[^}]*\})?(.*)\\end\{\1\}$", re.S)
_MIXED = re.compile(r"^(-?)(\d+)\s*(?:\s(\d+)/(\d+)|\\frac\{(\d+)\}\{(\d+)\})$")
_REPEATING = re.compile(r"^(-?)(\d*)\.(\d*)\\overline\{(\d+)\}$")
_UNIT = r"[A-Za-z]+(?:\s*\^\s*\{?\d\}?)?"
_UNITS = re.compile(
    rf"^(?P<val>.*?(?:[\d)}}.\]]|\\pi))(?P<sep>\s*)(?P<unit>{_UNIT}(?:(?:\s*/\s*|\s+per\s+|\s+){_UNIT})*)\.?$"
)
_MATH_WORDS = {"sqrt", "pi", "sin", "cos", "tan", "cot", "sec", "csc", "log", "ln", "exp", "infty",
               "frac", "arcsin", "arccos", "arctan", "sinh", "cosh", "tanh", "oo", "abs", "inf",
               "infinity"}  # fmt: skip
_SINGLE_UNITS = {"m", "g", "s", "h", "l", "L", "K", "V", "W", "J", "N"}
_SHORT_UNITS = {"cm", "mm", "km", "kg", "mg", "ml", "mL", "ft", "mi", "lb", "lbs", "oz", "hr", "hrs", "yd",
                "min", "sec", "mph", "kmh", "sq", "units"}  # fmt: skip
_WORDS = {"yes", "no", "odd", "even", "none", "neither", "both", "true", "false", "always", "never"}


def _brace_pairs(text: str) -> dict[int, int]:
    """Index of each unescaped "{" -> index of its "}" (one linear pass)."""
    pairs, stack = {}, []
    for m in re.finditer(r"\\.|[{}]", text):
        if m.group() == "{":
            stack.append(m.start())
        elif m.group() == "}" and stack:
            pairs[stack.pop()] = m.start()
    return pairs


def _unwrap(text: str) -> str:
    """\\text{...} and friends -> " ... " (contents kept, nested braces matched)."""
    if "\\" not in text:
        return text
    pairs = _brace_pairs(text)
    cut: list[tuple[int, int]] = []
    for m in _WRAPPERS.finditer(text):
        cut.append((m.start(), m.end()))
        if m.group().endswith("{") and m.end() - 1 in pairs:
            close = pairs[m.end() - 1]
            cut.append((close, close + 1))
    if not cut:
        return text
    out, pos = [], 0
    for a, b in sorted(cut):
        out.append(text[pos:a])
        out.append(" ")
        pos = b
    out.append(text[pos:])
    return "".join(out)


def _strip_delimiters(s: str) -> str:
    while True:
        s = s.strip()
        for left, right in (("$$", "$$"), ("$", "$"), ("\\(", "\\)"), ("\\[", "\\]")):
            if len(s) > len(left) + len(right) and s.startswith(left) and s.endswith(right):
                s = s[len(left) : -len(right)]
                break
        else:
            return s


@lru_cache(maxsize=8192)
def clean(raw: str) -> str:
    s = _strip_delimiters(raw if raw.isascii() else raw.translate(_UNICODE))
    if _PLAIN.fullmatch(s):
        return s
    s = _unwrap(re.sub(r"\s+", " ", s))
    if "\\end{" in s and "\\begin{" not in s:  # a stray \end{b*} a model left behind
        s = re.sub(r"\\end\{[^{}]*\}", " ", s)
    for triggers, pattern, repl in _SUBS:
        for trigger in triggers:
            if trigger in s:
                s = pattern.sub(repl, s)
                break
    s = re.sub(r"\s+", " ", s).strip()
    while s and s[-1] in ".,;:" and not s.endswith("..."):
        s = s[:-1].rstrip()
    return s


def decimal_comma(ref_clean: str, cand_clean: str, reference: str, candidate: str) -> tuple[str, str]:
    """A convention: "2,74" is the decimal 2.74 when the other side is a decimal number
    (2.74) and the comma cannot be a thousands separator (not one group of three digits,
    or a leading 0: 0,111); otherwise "2,5" stays a list and 1,000 a thousand."""

    def comma(s: str) -> bool:
        return bool(_DECIMAL_COMMA.match(s)) and (s.lstrip("+-").startswith("0,") or not _THOUSANDS.match(s))

    def decimal(s: str) -> bool:
        return bool(re.fullmatch(r"[+-]?\d*\.\d+", s))

    if comma(ref_clean) and decimal(cand_clean):
        return ref_clean.replace(",", "."), candidate
    if comma(cand_clean) and decimal(ref_clean):
        return reference, cand_clean.replace(",", ".")
    return reference, candidate


def key(cleaned: str) -> str:
    """The cleaned text without the spaces that do not separate two digits."""
    return re.sub(r"(?<!\d) | (?!\d)", "", cleaned)


def _closing(s: str) -> list[int]:
    """depth after each character, counting ([{ and set braces as one kind of bracket."""
    depth, out = 0, []
    for ch in s:
        if ch in "([{" + SET_OPEN:
            depth += 1
        elif ch in ")]}" + SET_CLOSE:
            depth -= 1
        out.append(depth)
    return out


def split_top(s: str, sep: str) -> list[str]:
    if sep not in s:
        return [s]
    parts, start, depth = [], 0, 0
    for i, ch in enumerate(s):
        if ch in "([{" + SET_OPEN:
            depth += 1
        elif ch in ")]}" + SET_CLOSE:
            depth -= 1
        elif depth == 0 and s.startswith(sep, i):
            parts.append(s[start:i])
            start = i + len(sep)
    parts.append(s[start:])
    return parts


def _wrapped(s: str) -> bool:
    if len(s) < 2 or s[0] not in "([{" + SET_OPEN or s[-1] not in ")]}" + SET_CLOSE:
        return False
    depths = _closing(s)
    return all(d > 0 for d in depths[:-1]) and depths[-1] == 0


_RELATION = re.compile(r"<=|>=|!=|=|<|>")


def _relations(s: str) -> tuple[list[str], list[str]]:
    sides, ops, start = [], [], 0
    depths = _closing(s)
    for m in _RELATION.finditer(s):
        if depths[m.start()] == 0 and m.start() >= start:
            sides.append(s[start : m.start()])
            ops.append(m.group())
            start = m.end()
    sides.append(s[start:])
    return sides, ops


@lru_cache(maxsize=8192)
def parse_answer(raw: str, numeric_units: bool = False) -> Node:
    """The structure of an answer. With `numeric_units` (the reference is a plain
    number) any trailing words after a number are units ("5 m", "18eggs")."""
    text = clean(raw)
    depth = max(_closing(text), default=0)
    if depth > MAX_DEPTH:
        return Leaf(text, None, None, f"rejected: nested deeper than {MAX_DEPTH}")
    return node(text, numeric_units)


def node(s: str, units: bool = False) -> Node:
    s = s.strip()
    if s in (EMPTY, SET_OPEN + SET_CLOSE, "{}"):
        return Seq("set", ())
    m = _MATRIX.match(s)
    if m:
        return _matrix(m.group(2), units)
    if _THOUSANDS.match(s):
        return leaf(re.sub(r"[, ]", "", s), units)
    for sep, build in ((UNION, Union), (";", None), (",", None)):
        parts = split_top(s, sep)
        if len(parts) > 1 and all(p.strip() for p in parts):
            items = tuple(node(p, units) for p in parts)
            return build(items) if build else Seq("list", items)
    if APPROX in s:
        approx = split_top(s, APPROX)
        if len(approx) > 1 and all(p.strip() for p in approx):
            # "x = 1/3 \approx 0.33" states 1/3; "x \approx 11" states 11
            first = node(approx[0], units)
            return node(approx[1], units) if label_of(first) else first
    sides, ops = _relations(s)
    if ops and all(side.strip() for side in sides):
        return _relation([node(side, units) for side in sides], ops, s)
    member = split_top(s, MEMBER)
    if len(member) == 2:
        return node(member[1], units)
    if _wrapped(s):
        return _bracketed(s, units)
    if s.count(PM) == 1:  # 1 \pm \sqrt{2}, \frac{-3 \pm \sqrt{5}}{2}: two roots
        return Seq("list", (leaf(s.replace(PM, "+"), units), leaf(s.replace(PM, "-"), units)))
    return leaf(s, units)


def _bracketed(s: str, units: bool) -> Node:
    left, right, inner = s[0], s[-1], s[1:-1]
    items = split_top(inner, ",")
    if len(items) == 1:
        items = split_top(inner, ";")  # (0;0;0)
    if left == SET_OPEN or (left == "{" and len(items) > 1):
        if not inner.strip():
            return Seq("set", ())
        return Seq("set", tuple(node(p, units) for p in items))
    if len(items) == 1:
        if left + right in ("()", "[]", "{}"):
            return node(inner, units)
        return Text(s)
    return Seq("tuple", tuple(node(p, units) for p in items), left, right)


def _matrix(body: str, units: bool) -> Seq:
    rows = [r for r in re.split(r"\\\\", body) if r.strip() and not r.strip().startswith("\\hline")]
    cells = tuple(Seq("tuple", tuple(node(c, units) for c in r.split("&")), "[", "]") for r in rows)
    return Seq("matrix", cells)


def _relation(sides: list[Node], ops: list[str], text: str) -> Node:
    if all(op == "=" for op in ops):
        return Eq(tuple(sides))
    interval = _interval(sides, ops)
    return interval if interval is not None else Text(key(text))


def is_symbol(n: Node) -> bool:
    return isinstance(n, Leaf) and n.ast is not None and n.ast[0] == "s"


# f(x), g(2), f^{-1}(x), P_1(t): what an answer such as "f(x) = 2x + 1" names
_FUNCTION_LABEL = re.compile(r"^[A-Za-wA-Z](?:_\w+)?(?:\^\{?-1\}?)?\s*\(\s*[A-Za-z0-9]+\s*\)$")


def _symbols_only(ast: tuple) -> bool:
    """Symbols joined by products, quotients (ratios) or |..|: AB, |AB|, NO/BO, V_1:V_2."""
    if ast[0] == "s":
        return True
    if ast[0] in ("*", "/"):
        return _symbols_only(ast[1]) and _symbols_only(ast[2])
    return ast[0] == "f" and ast[1] == "abs" and _symbols_only(ast[2])


def label_of(n: Node) -> str | None:
    """The name an answer is given for: x in "x = 3", f(x) in "f(x) = 2x", |AB| in
    "|AB| = 1", V_1:V_2 in "V_1:V_2 = 11:21"; None when `n` is not a name."""
    if is_symbol(n):
        return n.ast[1]
    if isinstance(n, Leaf) and _FUNCTION_LABEL.match(n.text):
        return re.sub(r"\s+", "", n.text)
    if isinstance(n, Leaf) and n.ast is not None and _symbols_only(n.ast):
        return key(n.text)
    return None


def _negated(n: Node) -> Node | None:
    """-x -> x with the other side negated by the caller; None when n is not -(name)."""
    if isinstance(n, Leaf) and n.ast is not None and n.ast[0] == "neg" and n.ast[1][0] == "s":
        return Leaf(n.text.lstrip("- "), n.ast[1])
    return None


def _negate(n: Node) -> Node | None:
    if not isinstance(n, Leaf) or n.ast is None:
        return None
    return Leaf(f"-({n.text})", ("neg", n.ast), None if n.value is None else -n.value, None, n.pct)


def _interval(sides: list[Node], ops: list[str]) -> Seq | None:
    """x > 3 -> (3, oo); -2 <= x < 7 -> [-2, 7); None for anything else."""
    inf, ninf = leaf("\\infty"), leaf("-\\infty")
    flip = {"<": ">", "<=": ">=", ">": "<", ">=": "<="}
    if "!=" in ops or "=" in ops:
        return None
    if len(sides) == 2:
        if label_of(sides[1]) or _negated(sides[1]):
            sides, ops = sides[::-1], [flip[ops[0]]]
        name, value = _negated(sides[0]), _negate(sides[1])
        if name is not None and value is not None:  # -x > -1 is x < 1
            sides, ops = [name, value], [flip[ops[0]]]
        if not label_of(sides[0]):
            return None
        op, value = ops[0], sides[1]
        if op[0] == ">":
            return Seq("tuple", (value, inf), "[" if op == ">=" else "(", ")")
        return Seq("tuple", (ninf, value), "(", "]" if op == "<=" else ")")
    if len(sides) == 3 and label_of(sides[1]):
        if ops[0][0] == ">" and ops[1][0] == ">":
            sides, ops = sides[::-1], [flip[ops[1]], flip[ops[0]]]
        if ops[0][0] == "<" and ops[1][0] == "<":
            return Seq("tuple", (sides[0], sides[2]), "[" if ops[0] == "<=" else "(",
                       "]" if ops[1] == "<=" else ")")  # fmt: skip
    return None


def _strip_units(text: str, units: bool) -> str:
    """Trailing unit words after a number: "5 cm^2", "12 km/h", "18 dollars", "5cm".
    Without a space only known short units go (2xy stays a product) unless `units`
    (the reference is a plain number); single letters go only after a space and
    only when they are common units (5 m, 3 s), so "2 x" stays 2x."""
    m = _UNITS.match(text) if len(text) <= 200 else None
    if not m:
        return text
    words = re.findall(r"[A-Za-z]+", m.group("unit"))
    if any(w in _MATH_WORDS for w in words):
        return text
    if m.group("sep"):
        ok = all(len(w) >= 2 or w in _SINGLE_UNITS for w in words)
    else:
        ok = all(len(w) >= 2 for w in words) and (units or all(w in _SHORT_UNITS for w in words))
    return m.group("val").strip() if ok else text


def unit_of(text: str) -> str | None:
    """The trailing unit `_strip_units` would drop ("3 cm" -> "cm"), canonical enough
    to compare (case, spaces and a plural s ignored); None when there is none."""
    text = text.strip()
    stripped = _strip_units(text, True)
    if stripped == text:
        return None
    unit = re.sub(r"\s+", "", text[len(stripped) :]).strip(".").lower()
    unit = unit[:-1] if len(unit) > 2 and unit.endswith("s") else unit
    return _UNIT_NAMES.get(unit, unit)


_UNIT_NAMES = {  # spelled-out names -> the symbol (plural s already dropped)
    "meter": "m", "metre": "m", "centimeter": "cm", "centimetre": "cm", "millimeter": "mm",
    "kilometer": "km", "kilometre": "km", "gram": "g", "kilogram": "kg", "milligram": "mg",
    "second": "s", "sec": "s", "minute": "min", "hour": "h", "hr": "h", "foot": "ft", "feet": "ft",
    "inche": "in", "inch": "in", "mile": "mi", "pound": "lb", "ounce": "oz", "liter": "l", "litre": "l",
    "milliliter": "ml", "yard": "yd", "dollar": "$", "cent": "¢",
}  # fmt: skip


def _repeating(sign: str, whole: str, fixed: str, period: str) -> tuple:
    """0.1\\overline{6} -> 1/6, as a division the parser would have built."""
    value = Fraction(int(whole or 0)) + Fraction(int(fixed or 0), 10 ** len(fixed))
    value += Fraction(int(period), (10 ** len(period) - 1) * 10 ** len(fixed))
    ast = ("/", ("n", str(value.numerator)), ("n", str(value.denominator)))
    return ("neg", ast) if sign else ast


def _is_text(text: str) -> bool:
    """A word answer ("odd", "Devon", "well-defined"), not a product of variables
    (xy, "pi x") nor math names."""
    if not re.fullmatch(r"[A-Za-z]+(?:[ '-][A-Za-z]+)*", text):
        return False
    words = re.split(r"[ '-]", text.lower())
    if text.lower() in _WORDS:
        return True
    if any(len(w) < 2 or w in _MATH_WORDS for w in words):
        return False
    return len(words) > 1 and any(len(w) >= 3 for w in words) or len(words[0]) >= 4


def leaf(s: str, units: bool = False) -> Node:
    text = s.strip()
    pct = text.endswith("%")
    text = text.rstrip("%").replace(DEG, " ").strip()
    text = _strip_units(text, units)
    if _is_text(text):
        return Text(re.sub(r"[^a-z]", "", text.lower()))
    m = _MIXED.match(text)
    repeating = _REPEATING.match(text)
    try:
        if repeating:
            ast = _repeating(*repeating.groups())
        elif m:
            sign, whole = m.group(1), m.group(2)
            num, den = (m.group(3), m.group(4)) if m.group(3) else (m.group(5), m.group(6))
            ast = ("+", ("n", str(int(whole))), ("/", ("n", str(int(num))), ("n", str(int(den)))))
            ast = ("neg", ast) if sign else ast
        else:
            ast = parse(text)
        return Leaf(text, ast, analyse(ast), None, pct)
    except GuardError as exc:
        return Leaf(text, None, None, f"rejected: {exc}", pct)
    except (ParseError, ValueError, ZeroDivisionError, RecursionError) as exc:
        return Leaf(text, None, None, f"unreadable: {exc}", pct)
