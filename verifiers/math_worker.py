"""The sympy side of math equivalence, run in a helper process (see math_pool).

Protocol: one JSON object per line on stdin, {"jobs": [...]}; one JSON line back,
{"results": [...]} with true / false / null (could not decide) per job. The first
line written is "ready" once sympy is imported. Jobs:

    ["expr", a, b]            two scalar ASTs (math_parse) are equal
    ["eq", [l1, r1], [l2, r2]] two equations are the same relation (l - r proportional)
    ["sleep", seconds]        tests only: a job that takes long

ASTs are rebuilt through a whitelist (no eval, no sympify of text). Equality of
constants is decided numerically at 60 significant digits (a difference below
1e-45 counts as zero), of expressions with symbols by evaluating both at several
fixed points (complex points included, so sqrt(x^2) and x differ), with
`simplify` only when evaluation cannot decide. The process limits its own address
space so a blow-up ends in MemoryError, not in the host swapping.
"""

from __future__ import annotations

import json
import sys
import time

_sp = None  # sympy, imported by main() / run_jobs()
_POINTS = (
    (0.5377, 1.8339, -2.2588, 0.8622, 0.3188),
    (-1.3077, -0.4336, 0.3426, 3.5784, 2.7694),
    (1.4090, 1.4172, 0.6715, -1.2075, 0.7172),
    (0.4889 + 0.3j, 1.0347 - 0.7j, 0.7269 + 0.1j, -0.3034 + 0.5j, 0.2939 - 0.2j),
)


def _sympy():
    global _sp
    if _sp is None:
        import sympy

        _sp = sympy
    return _sp


def _functions():
    sp = _sympy()
    return {
        "sin": sp.sin, "cos": sp.cos, "tan": sp.tan, "cot": sp.cot, "sec": sp.sec, "csc": sp.csc,
        "asin": sp.asin, "acos": sp.acos, "atan": sp.atan, "acot": sp.acot, "asec": sp.asec,
        "acsc": sp.acsc, "sinh": sp.sinh, "cosh": sp.cosh, "tanh": sp.tanh, "coth": sp.coth,
        "log": sp.log, "exp": sp.exp, "sqrt": sp.sqrt, "root": sp.root, "abs": sp.Abs,
        "floor": sp.floor, "ceiling": sp.ceiling, "binomial": sp.binomial,
        "sum": lambda body, k, lo, hi: sp.Sum(body, (k, lo, hi)).doit(),
        "prod": lambda body, k, lo, hi: sp.Product(body, (k, lo, hi)).doit(),
    }  # fmt: skip


def build(node):
    """A sympy expression from a math_parse AST (lists or tuples)."""
    sp = _sympy()
    tag = node[0]
    if tag == "n":
        return sp.Integer(node[1])
    if tag == "d":
        return sp.Rational(node[1])
    if tag == "s":
        return sp.Symbol(node[1])
    if tag == "c":
        return {"pi": sp.pi, "E": sp.E, "I": sp.I, "oo": sp.oo}[node[1]]
    if tag == "neg":
        return -build(node[1])
    if tag == "+":
        return sp.Add(build(node[1]), build(node[2]))
    if tag == "*":
        return sp.Mul(build(node[1]), build(node[2]))
    if tag == "/":
        return sp.Mul(build(node[1]), sp.Pow(build(node[2]), -1))
    if tag == "^":
        return sp.Pow(build(node[1]), build(node[2]))
    if tag == "!":
        return sp.factorial(build(node[1]))
    if tag == "f":
        return _functions()[node[1]](*[build(a) for a in node[2:]])
    raise ValueError(f"unknown node {tag!r}")


def _close(a, b) -> bool | None:
    """Whether two numbers agree (None: not comparable numbers)."""
    sp = _sympy()
    if not (a.is_number and b.is_number) or a.has(sp.nan, sp.zoo) or b.has(sp.nan, sp.zoo):
        return None
    if a.has(sp.oo, -sp.oo) or b.has(sp.oo, -sp.oo):
        return bool(a == b)
    diff = abs(complex((a - b).evalf(60)))
    scale = max(1.0, abs(complex(a.evalf(20))), abs(complex(b.evalf(20))))
    return diff <= 1e-45 * scale


def _sample(expr, symbols, point):
    sp = _sympy()
    values = {s: sp.Float(v.real, 30) + sp.I * sp.Float(v.imag, 30) if isinstance(v, complex) else
              sp.Float(v, 30) for s, v in zip(symbols, point * (len(symbols) // len(point) + 1))}  # fmt: skip
    value = expr.xreplace(values).evalf(30)
    if not value.is_number or value.has(sp.nan, sp.zoo, sp.oo, -sp.oo):
        return None
    return complex(value)


def expr_equal(a, b) -> bool | None:
    sp = _sympy()
    if a == b:
        return True
    diff = a - b
    if diff == 0:
        return True
    symbols = sorted(diff.free_symbols | a.free_symbols | b.free_symbols, key=str)
    if not symbols:
        return _close(a, b)
    if sp.count_ops(diff) <= 60 and sp.expand(diff) == 0:  # polynomials: exact and quick
        return True
    agree = checked = 0
    for point in _POINTS:
        va, vb = _sample(a, symbols, point), _sample(b, symbols, point)
        if va is None or vb is None:
            continue
        checked += 1
        if abs(va - vb) > 1e-12 * max(1.0, abs(va), abs(vb)):
            return False
        agree += 1
    if checked >= 2 and agree == checked:
        return True
    return bool(sp.simplify(diff) == 0)


def eq_equal(left, right) -> bool | None:
    """Equations l1 = r1 and l2 = r2 are the same when l1 - r1 = k (l2 - r2), k != 0."""
    d1 = build(left[0]) - build(left[1])
    d2 = build(right[0]) - build(right[1])
    if d1 == 0 or d2 == 0:
        return bool(d1 == d2)
    symbols = sorted(d1.free_symbols | d2.free_symbols, key=str)
    if not symbols:
        return None
    ratios = []
    for point in _POINTS:
        v1, v2 = _sample(d1, symbols, point), _sample(d2, symbols, point)
        if v1 is None or v2 is None or abs(v2) < 1e-12:
            continue
        ratios.append(v1 / v2)
    if len(ratios) < 2:
        return bool(_sympy().simplify(d1 / d2).is_number)
    k = ratios[0]
    if abs(k) < 1e-12:
        return False
    return all(abs(r - k) <= 1e-9 * max(1.0, abs(k)) for r in ratios)


def run_job(job):
    kind = job[0]
    if kind == "expr":
        return expr_equal(build(job[1]), build(job[2]))
    if kind == "eq":
        return eq_equal(job[1], job[2])
    if kind == "sleep":
        time.sleep(float(job[1]))
        return True
    raise ValueError(f"unknown job {kind!r}")


def run_jobs(jobs) -> list:
    results = []
    for job in jobs:
        try:
            results.append(run_job(job))
        except Exception:  # noqa: BLE001 - a job that breaks sympy is "undecided"
            results.append(None)
    return results


def _limit_memory(limit_bytes: int = 3 << 30) -> None:
    try:
        import resource

        soft, hard = resource.getrlimit(resource.RLIMIT_AS)
        if hard == resource.RLIM_INFINITY or hard > limit_bytes:
            resource.setrlimit(resource.RLIMIT_AS, (limit_bytes, hard))
    except (ImportError, ValueError, OSError):
        pass


def main() -> None:
    sys.setrecursionlimit(5000)
    _limit_memory()
    _sympy()
    out = sys.stdout
    out.write("ready\n")
    out.flush()
    for line in sys.stdin:
        try:
            results = run_jobs(json.loads(line)["jobs"])
        except (ValueError, KeyError, TypeError):
            results = None
        out.write(json.dumps({"results": results}) + "\n")
        out.flush()


if __name__ == "__main__":
    main()
