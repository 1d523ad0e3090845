"""Values of math_parse ASTs without sympy, and the guard that keeps sympy safe.

`analyse(ast)` is the guard: it walks the tree once, computes the exact rational
value where there is one (the fast path: Fraction) and an upper bound on the size
in bits of every numeric subtree, and raises GuardError before anything huge is
built (9^9^9, 10^100000, 1000000!, towers, exp(10^6), (x+1)^100000).

`precise(ast)` is the value of a real constant (radicals, pi, e, logs) to 80
digits with Decimal; `approx(ast, point)` a float value, with symbols at fixed
sample points, used only to tell that two expressions differ.
"""

from __future__ import annotations

import cmath
import math
import random
from decimal import Decimal, localcontext
from fractions import Fraction
from functools import lru_cache

from verifiers.math_parse import FUNCTIONS, MAX_TERMS, GuardError, ParseError

MAX_BITS = 20_000  # largest exact number we build (about 6000 digits)
MAX_SYMBOLIC_EXPONENT = 1000
MAX_FACTORIAL = 1000
MAX_POW_NESTING = 4


def analyse(node: tuple) -> Fraction | None:
    """The exact rational value of `node` when it has one, else None (irrational or
    symbolic). Raises GuardError when building it would be too expensive."""
    return _scan(node, 0)[0]


def _bits(q: Fraction) -> int:
    return max(abs(q.numerator).bit_length(), q.denominator.bit_length(), 1)


def _scan(node: tuple, pow_depth: int) -> tuple[Fraction | None, float | None]:
    """(exact value or None, size bound in bits or None when symbolic)."""
    tag = node[0]
    if tag in ("n", "d"):
        q = Fraction(node[1])
        size = _bits(q)
        if size > MAX_BITS:
            raise GuardError("number too large")
        return q, size
    if tag == "s":
        return None, None
    if tag == "c":
        return None, (None if node[1] == "oo" else 2)
    if tag == "neg":
        q, size = _scan(node[1], pow_depth)
        return (-q if q is not None else None), size
    if tag in ("+", "*", "/"):
        return _scan_arith(node, pow_depth)
    if tag == "^":
        return _scan_pow(node, pow_depth)
    if tag == "!":
        return _scan_factorial(node, pow_depth)
    if tag == "f":
        return _scan_function(node, pow_depth)
    raise ParseError(f"unknown node {tag!r}")


def _scan_arith(node: tuple, pow_depth: int):
    tag = node[0]
    qa, sa = _scan(node[1], pow_depth)
    qb, sb = _scan(node[2], pow_depth)
    size = None if sa is None or sb is None else sa + sb + 1
    if size is not None and size > MAX_BITS:
        raise GuardError("number too large")
    if qa is None or qb is None:
        return None, size
    if tag == "+":
        return qa + qb, size
    if tag == "*":
        return qa * qb, size
    return (qa / qb if qb else None), size


def _scan_pow(node: tuple, pow_depth: int):
    if pow_depth >= MAX_POW_NESTING:
        raise GuardError("tower of powers")
    qb, sb = _scan(node[1], pow_depth + 1)
    qe, se = _scan(node[2], pow_depth + 1)
    if qb is not None and qb in (0, 1) and qe is not None and qe >= 0:
        return (Fraction(1) if qe == 0 else qb), sb
    if qe is not None:
        if sb is None:  # symbolic base: (x+1)^1000 is the most we expand
            if abs(qe) > MAX_SYMBOLIC_EXPONENT:
                raise GuardError("exponent too large")
            return None, None
        size = abs(qe.numerator) * sb
        if size > MAX_BITS:
            raise GuardError("power too large")
        if qb is not None and qe.denominator == 1 and (qb or qe > 0):
            return qb ** int(qe), size
        return None, size
    if se is None or sb is None:
        return None, None  # symbolic base or exponent: kept unevaluated
    # an irrational exponent: bound the power by the exponent's value, not by the size of
    # its tree, so 2^{(1+\sqrt5)/2} is fine; where no float value is safe, by its size
    magnitude = _magnitude(node[2])
    if magnitude is None:
        if se > 14 or sb * 2.0**se > MAX_BITS:
            raise GuardError("power too large")
        return None, sb * 2.0**se
    if sb * max(1.0, magnitude) > MAX_BITS:
        raise GuardError("power too large")
    return None, sb * max(1.0, magnitude)


def _magnitude(node: tuple) -> float | None:
    """|value| of a constant expression as a float, or None (symbols, or too large to trust)."""
    value = approx(node)
    return None if value is None else abs(value) * (1 + 1e-9) + 1e-9


def _scan_factorial(node: tuple, pow_depth: int):
    q, size = _scan(node[1], pow_depth)
    if size is None:
        return None, None
    if q is None:
        if size > 10:
            raise GuardError("factorial too large")
        return None, size * 1024
    if q.denominator != 1 or q < 0 or q > MAX_FACTORIAL:
        if q.denominator == 1 and q > MAX_FACTORIAL:
            raise GuardError("factorial too large")
        return None, size
    n = int(q)
    return Fraction(math.factorial(n)), max(1, n * max(1, n.bit_length()))


def _scan_function(node: tuple, pow_depth: int):
    if node[1] in ("sum", "prod"):
        return _scan_big_operator(node, pow_depth)
    fname, args = node[1], [_scan(a, pow_depth) for a in node[2:]]
    if fname not in FUNCTIONS:
        raise ParseError(f"unknown function {fname!r}")
    (q, size), rest = args[0], args[1:]
    if fname == "binomial":
        qk, _ = rest[0]
        if q is not None and q > MAX_BITS:
            raise GuardError("binomial too large")
        if q is not None and qk is not None and q.denominator == qk.denominator == 1 and 0 <= qk <= q:
            return Fraction(math.comb(int(q), int(qk))), max(1, int(q))
        return None, (None if size is None else size * 64)
    if fname == "exp":
        if q is not None and abs(q) > 1 << 14 or (q is None and size is not None and size > 14):
            raise GuardError("exponential too large")
        return None, (None if size is None else 2.0 ** min(size, 14) * 1.5)
    if fname in ("abs", "floor", "ceiling") and q is not None:
        value = abs(q) if fname == "abs" else Fraction(math.floor(q) if fname == "floor" else math.ceil(q))
        return value, size
    if fname == "sqrt" and q is not None and q >= 0:
        num, den = math.isqrt(q.numerator), math.isqrt(q.denominator)
        if num * num == q.numerator and den * den == q.denominator:
            return Fraction(num, den), size
    return None, (None if size is None else size + 8)


def _scan_big_operator(node: tuple, pow_depth: int):
    """A sum or product with integer bounds at most MAX_TERMS apart is added up exactly
    (when its terms are rational); anything else is symbolic, for sympy."""
    _, fname, body, var, lo, hi = node
    qlo, _ = _scan(lo, pow_depth)
    qhi, _ = _scan(hi, pow_depth)
    _scan(body, pow_depth)  # the guards apply to the body too
    if qlo is not None and qhi is not None and qhi - qlo > MAX_TERMS:
        # too many terms to add up here: sympy gets only sums with a closed form it finds fast
        if fname == "prod" or not _polynomial_in(body, var[1]):
            raise GuardError(f"{fname} of more than {MAX_TERMS} terms")
        return None, None
    if qlo is None or qhi is None or qlo.denominator != 1 or qhi.denominator != 1:
        return None, None
    try:
        value = _exact(node, None, {})
    except (_NotRational, ZeroDivisionError):
        return None, None
    size = _bits(value)
    if size > MAX_BITS:
        raise GuardError("sum too large")
    return value, size


def _polynomial_in(node: tuple, index: str) -> bool:
    """`node` is a polynomial of low degree in the symbol `index` (other symbols are constants)."""
    tag = node[0]
    if tag in ("n", "d", "s", "c"):
        return True
    if tag == "neg":
        return _polynomial_in(node[1], index)
    if tag in ("+", "*"):
        return _polynomial_in(node[1], index) and _polynomial_in(node[2], index)
    if tag == "^":
        exponent = analyse(node[2])
        return (
            _polynomial_in(node[1], index)
            and exponent is not None
            and exponent.denominator == 1
            and 0 <= exponent <= 20
        )
    return not _mentions(node, index)


def _mentions(node: tuple, name: str) -> bool:
    return node == ("s", name) or any(isinstance(a, tuple) and _mentions(a, name) for a in node[1:])


_SAMPLES = (0.5377, 1.8339, -2.2588, 0.8622, 0.3188, -1.3077, 0.4889 + 0.3j, 1.0347 - 0.7j, 0.7269 + 0.1j)


def approx(node: tuple, point: int | None = None) -> complex | None:
    """A float value of the expression, or None when it has functions we do not
    mirror or intermediate values large enough to lose digits (so a difference in
    this value is a real difference). Symbols make it None, unless `point` is
    given: then each symbol takes a fixed sample value that depends on its name
    and the point, the same in every expression."""
    try:
        return _approx(node, point)
    except (ArithmeticError, ValueError, TypeError, OverflowError, _Unsafe):
        return None


class _Unsafe(Exception):
    pass


_CFUNCS = {"sin": cmath.sin, "cos": cmath.cos, "tan": cmath.tan, "sqrt": cmath.sqrt, "exp": cmath.exp,
           "log": cmath.log, "asin": cmath.asin, "acos": cmath.acos, "atan": cmath.atan,
           "sinh": cmath.sinh, "cosh": cmath.cosh, "tanh": cmath.tanh, "abs": abs}  # fmt: skip
_CCONST = {"pi": math.pi, "E": math.e, "I": 1j}


def _approx(node: tuple, point: int | None) -> complex:
    tag = node[0]
    if tag in ("n", "d"):
        value = complex(float(Fraction(node[1])))
    elif tag == "c" and node[1] in _CCONST:
        value = complex(_CCONST[node[1]])
    elif tag == "s" and point is not None:
        value = complex(_SAMPLES[(sum(map(ord, node[1])) * 7 + point * 3) % len(_SAMPLES)])
    elif tag == "neg":
        value = -_approx(node[1], point)
    elif tag in ("+", "*", "/"):
        a, b = _approx(node[1], point), _approx(node[2], point)
        value = a + b if tag == "+" else a * b if tag == "*" else a / b
    elif tag == "^":
        a, b = _approx(node[1], point), _approx(node[2], point)
        if b.imag == 0 and b.real == int(b.real) and abs(b.real) <= 1000:
            value = a ** int(b.real)
        else:
            value = _off_cut(a) ** b
    elif tag == "f" and node[1] in _CFUNCS and len(node) == 3:
        arg = _approx(node[2], point)
        if node[1] in ("sqrt", "log"):
            _off_cut(arg)
        value = complex(_CFUNCS[node[1]](arg))
    elif tag == "f" and node[1] == "log" and len(node) == 4:
        value = cmath.log(_off_cut(_approx(node[2], point))) / cmath.log(_off_cut(_approx(node[3], point)))
    else:
        raise _Unsafe
    if abs(value) > 1e6 or value != value:
        raise _Unsafe
    return complex(value.real + 0.0, value.imag + 0.0)  # no negative zeros


def _off_cut(z: complex) -> complex:
    """Refuse arguments on or near the branch cut of sqrt / log / powers (the
    negative real axis), where a rounding error flips the sign of the result."""
    if z.real <= 0 and abs(z.imag) <= 1e-9 * max(1.0, abs(z)):
        raise _Unsafe
    return z


# -- a precise value for real constants (radicals, pi, e, logs) --------------------

PRECISION = 80  # significant digits of precise()
_PI = Decimal(
    "3.14159265358979323846264338327950288419716939937510582097494459230781640628620899862803482534211706798"
)
_LARGEST = Decimal(10) ** 20  # beyond this, cancellation could eat the digits we compare


def precise(node: tuple) -> Decimal | None:
    """The value of a real constant expression to PRECISION digits (Decimal), or
    None: symbols, complex values, functions Decimal lacks (trig), or intermediate
    values above 1e20. Two such values that agree to 1e-50 are taken as equal,
    as sympy's evalf at 60 digits would; this keeps radicals and pi off sympy."""
    with localcontext() as ctx:
        ctx.prec = PRECISION
        try:
            return _dec(node)
        except (ArithmeticError, ValueError, TypeError, _Unsafe):
            return None


def _dec(node: tuple) -> Decimal:
    tag = node[0]
    if tag in ("n", "d"):
        value = +Decimal(node[1])
    elif tag == "c" and node[1] in ("pi", "E"):
        value = +_PI if node[1] == "pi" else Decimal(1).exp()
    elif tag == "neg":
        value = -_dec(node[1])
    elif tag in ("+", "*", "/"):
        a, b = _dec(node[1]), _dec(node[2])
        value = a + b if tag == "+" else a * b if tag == "*" else a / b
    elif tag == "^":
        value = _dec_pow(_dec(node[1]), _dec(node[2]))
    elif tag == "f":
        value = _dec_function(node[1], [_dec(a) for a in node[2:]])
    else:
        raise _Unsafe
    if abs(value) > _LARGEST or not value.is_finite():
        raise _Unsafe
    return value


def _dec_pow(base: Decimal, exponent: Decimal) -> Decimal:
    if exponent == exponent.to_integral_value():
        if base == 0 and exponent <= 0:
            raise _Unsafe
        return base ** int(exponent)
    if base <= 0:
        raise _Unsafe
    return base**exponent


def _dec_function(fname: str, args: list[Decimal]) -> Decimal:
    x = args[0]
    if fname == "sqrt" and x >= 0:
        return x.sqrt()
    if fname == "root" and x > 0 and args[1] != 0:
        return x ** (1 / args[1])
    if fname == "exp":
        return x.exp()
    if fname == "log" and x > 0:
        return x.ln() if len(args) == 1 else x.ln() / _positive(args[1]).ln()
    if fname == "abs":
        return abs(x)
    raise _Unsafe


def _positive(x: Decimal) -> Decimal:
    if x <= 0 or x == 1:
        raise _Unsafe
    return x


# -- exact values at random integer points (rational functions of symbols) ---------

MAX_POINT_BITS = 100_000  # largest intermediate number exact_at builds
_POINT_RANGE = 1 << 31


class _NotRational(Exception):
    """The expression is not a rational function of its symbols (or is too large)."""


@lru_cache(maxsize=4096)
def point_value(name: str, point: int) -> int:
    """The value symbol `name` takes at sample point `point`: a pseudo-random integer below
    2^31 in size, the same in every process (seeded by the name, not by hash())."""
    return random.Random(f"{name}/{point}").randrange(-_POINT_RANGE, _POINT_RANGE) or 1


def exact_at(node: tuple, point: int) -> Fraction | None:
    """The exact value of a rational function of symbols (numbers, symbols, + - * /, integer
    powers) with every symbol at its `point_value`; None when the expression is anything
    else (constants such as pi, functions, fractional powers, factorials), when a number
    grows past MAX_POINT_BITS, or when it divides by zero at this point.

    Why: two rational functions that agree at a random point are equal except with
    probability degree / 2^32 (Schwartz-Zippel), so agreement at three independent points
    decides equality without sympy, and any disagreement proves them different."""
    try:
        return _exact(node, point, {})
    except (_NotRational, ZeroDivisionError):
        return None


def _exact(
    node: tuple, point: int | None, bound: dict[str, Fraction], budget: list[int] | None = None
) -> Fraction:
    """`bound`: the indices of the sums and products around `node`, at their current values;
    `point` None: any other symbol makes it not a number. `budget`: terms of sums and
    products left to add up in this whole evaluation (nested ones multiply)."""
    budget = [MAX_TERMS] if budget is None else budget
    tag = node[0]
    if tag in ("n", "d"):
        return Fraction(node[1])
    if tag == "s":
        if node[1] in bound:
            return bound[node[1]]
        if point is None:
            raise _NotRational
        return Fraction(point_value(node[1], point))
    if tag == "neg":
        return -_exact(node[1], point, bound, budget)
    if tag in ("+", "*", "/"):
        a, b = _exact(node[1], point, bound, budget), _exact(node[2], point, bound, budget)
        value = a + b if tag == "+" else a * b if tag == "*" else a / b
    elif tag == "^":
        base, exponent = _exact(node[1], point, bound, budget), _exact_exponent(node[2])
        if _bits(base) * abs(exponent) > MAX_POINT_BITS:
            raise _NotRational
        value = base**exponent
    elif tag == "f" and node[1] in ("sum", "prod"):
        _, fname, body, var, lo, hi = node
        # bounds must be numbers (or outer indices): a sum up to n is not a rational function of n
        lo, hi = _exact(lo, None, bound, budget), _exact(hi, None, bound, budget)
        if lo.denominator != 1 or hi.denominator != 1:
            raise _NotRational
        budget[0] -= max(0, int(hi - lo) + 1)
        if budget[0] < 0:  # more than MAX_TERMS terms in all
            raise _NotRational
        value = Fraction(0 if fname == "sum" else 1)
        for k in range(int(lo), int(hi) + 1):
            term = _exact(body, point, {**bound, var[1]: Fraction(k)}, budget)
            value = value + term if fname == "sum" else value * term
            if _bits(value) > MAX_POINT_BITS:
                raise _NotRational
    else:
        raise _NotRational
    if _bits(value) > MAX_POINT_BITS:
        raise _NotRational
    return value


def _exact_exponent(node: tuple) -> int:
    """A power's exponent must be a constant integer (x^{-2}, x^{2+1}): x^y and x^{1/2} are
    not rational functions."""
    try:
        value = analyse(node)
    except GuardError:
        raise _NotRational from None
    if value is None or value.denominator != 1 or abs(value) > MAX_SYMBOLIC_EXPONENT:
        raise _NotRational
    return int(value)
